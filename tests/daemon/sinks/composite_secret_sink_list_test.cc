// CompositeSecretSink::List and Stamp: the file sink (real, in a temp dir) and a Kubernetes sink
// (the memory fake holding kubernetes refs) behind one sink, as the reconciler holds them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/sinks/composite_secret_sink.h"
#include "daemon/sinks/file_secret_sink.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::FileRef;
using test::MemorySecretSink;
using test::SampleCredential;
using test::TempDir;

SecretRef KubeRef(const std::string& ns, const std::string& name) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = ns;
  ref.k8s_name = name;
  return ref;
}

DockerCredential Recorded(const std::string& owner, const std::string& token_id) {
  DockerCredential c = SampleCredential("pw-" + token_id);
  c.record = SecretRecord{owner, "reg-1", "ci-push", token_id};
  return c;
}

std::vector<std::string> Refs(const Result<std::vector<ListedSecret>>& listed) {
  if (!listed.ok()) return {"error: " + listed.error().ToString()};
  std::vector<std::string> out;
  for (const ListedSecret& s : listed.value()) out.push_back(s.ref.ToString());
  return out;
}

TEST(CompositeSecretSinkListTest, ListsBothSinksInRefOrder) {
  TempDir dir;
  FileSecretSink file(dir.path());
  MemorySecretSink kubernetes;
  CompositeSecretSink sink(&file, &kubernetes);
  ASSERT_TRUE(sink.Write(KubeRef("team-a", "pull"), Recorded("team-a", "id-1")).ok());
  ASSERT_TRUE(sink.Write(FileRef("z.json"), Recorded("team-a", "id-2")).ok());
  ASSERT_TRUE(sink.Write(FileRef("a.json"), Recorded("team-a", "id-3")).ok());
  ASSERT_TRUE(sink.Write(FileRef("other.json"), Recorded("team-b", "id-4")).ok());
  EXPECT_EQ(Refs(sink.List("team-a")),
            (std::vector<std::string>{"file:a.json", "file:z.json", "kubernetes:team-a/pull"}));
}

TEST(CompositeSecretSinkListTest, ASinkNotConfiguredContributesNothing) {
  TempDir dir;
  FileSecretSink file(dir.path());
  ASSERT_TRUE(file.Write(FileRef("a.json"), Recorded("team-a", "id-1")).ok());
  CompositeSecretSink file_only(&file, nullptr);
  EXPECT_EQ(Refs(file_only.List("team-a")), std::vector<std::string>{"file:a.json"});

  MemorySecretSink kubernetes;
  ASSERT_TRUE(kubernetes.Write(KubeRef("ns", "pull"), Recorded("team-a", "id-2")).ok());
  CompositeSecretSink kubernetes_only(nullptr, &kubernetes);
  EXPECT_EQ(Refs(kubernetes_only.List("team-a")), std::vector<std::string>{"kubernetes:ns/pull"});
}

TEST(CompositeSecretSinkListTest, EitherSinkFailingFailsTheWholeList) {
  TempDir dir;
  FileSecretSink file(dir.path());
  MemorySecretSink kubernetes;
  CompositeSecretSink sink(&file, &kubernetes);
  ASSERT_TRUE(sink.Write(FileRef("a.json"), Recorded("team-a", "id-1")).ok());
  kubernetes.fail_list = true;
  auto listed = sink.List("team-a");
  ASSERT_FALSE(listed.ok()) << "a list without the Kubernetes secrets was returned";
  EXPECT_EQ(listed.error().message, "cannot list the secrets: permission denied");
}

TEST(CompositeSecretSinkListTest, StampGoesToTheSinkOfTheRefsKind) {
  TempDir dir;
  FileSecretSink file(dir.path());
  MemorySecretSink kubernetes;
  CompositeSecretSink sink(&file, &kubernetes);
  ASSERT_TRUE(sink.Write(FileRef("a.json"), SampleCredential("pw-a")).ok());
  ASSERT_TRUE(sink.Write(KubeRef("ns", "pull"), SampleCredential("pw-k")).ok());
  const SecretRecord record{"team-a", "reg-1", "ci-push", "id-9"};
  ASSERT_TRUE(sink.Stamp(FileRef("a.json"), record).ok());
  ASSERT_TRUE(sink.Stamp(KubeRef("ns", "pull"), record).ok());
  EXPECT_EQ(file.Inspect(FileRef("a.json")).value().record, record);
  EXPECT_EQ(kubernetes.Get("kubernetes:ns/pull")->record, record);
  EXPECT_EQ(kubernetes.Get("kubernetes:ns/pull")->password.Reveal(), "pw-k");

  CompositeSecretSink file_only(&file, nullptr);
  Status stamped = file_only.Stamp(KubeRef("ns", "pull"), record);
  ASSERT_FALSE(stamped.ok());
  EXPECT_EQ(stamped.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(stamped.error().message, "kubernetes sink not configured (secret kubernetes:ns/pull)");
}

}  // namespace
}  // namespace crtoken
