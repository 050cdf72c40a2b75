// The runtime's secret sinks as the commands get them: List goes through the composite to the file
// sink, and to the Kubernetes sink only where a cluster is configured (a file-only setup must not
// need one; a configured cluster that cannot be used fails the list rather than leaving it short).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "daemon/app/runtime.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::FileRef;
using test::TempDir;
using test::WriteFile;

Options OptionsIn(const TempDir& dir) {
  WriteFile(dir / "credentials", "IONOS_TOKEN=runtime-test-token\n");
  Options o;
  o.api_url = "http://127.0.0.1:9/containerregistries";  // never called here
  o.credentials_file = (dir / "credentials").string();
  o.secret_dir = (dir / "secrets").string();
  return o;
}

TEST(RuntimeSecretListTest, WithoutAClusterTheListIsTheFileSinksAlone) {
  if (std::getenv("KUBERNETES_SERVICE_HOST") != nullptr) {
    GTEST_SKIP() << "running inside a cluster: a Kubernetes sink is configured";
  }
  TempDir dir;
  auto rt = MakeRuntime(OptionsIn(dir));
  ASSERT_TRUE(rt.ok()) << rt.error().ToString();
  DockerCredential credential = test::SampleCredential("pw");
  credential.record = SecretRecord{"team-a", "reg-1", "ci-push", "id-1"};
  ASSERT_TRUE(rt.value()->sink->Write(FileRef("team/ci-push.json"), credential).ok());

  auto listed = rt.value()->sink->List("team-a");
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].ref, FileRef("team/ci-push.json"));
  EXPECT_EQ(listed.value()[0].record, credential.record);
}

TEST(RuntimeSecretListTest, AConfiguredClusterThatCannotBeUsedFailsTheList) {
  TempDir dir;
  Options options = OptionsIn(dir);
  options.kubeconfig = (dir / "no-such-kubeconfig").string();
  auto rt = MakeRuntime(options);
  ASSERT_TRUE(rt.ok()) << rt.error().ToString();
  auto listed = rt.value()->sink->List("team-a");
  ASSERT_FALSE(listed.ok()) << "a list without the cluster's secrets was returned";
  EXPECT_EQ(listed.error().message,
            "kubernetes sink not configured: Kubernetes secrets: kubeconfig \"" +
                options.kubeconfig + "\" does not exist");
}

}  // namespace
}  // namespace crtoken
