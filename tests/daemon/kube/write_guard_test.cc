// KubeClientOptions::before_write, the per-request half of the --leader-elect fence: a write the
// guard refuses never leaves, even in the middle of an operation that already sent its read (the
// Secret sink's GET before its POST or DELETE); a GET never asks. End states from the emulator.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>

#include "daemon/kube/kube_client.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "tests/daemon/kube/emulated_cluster.h"

namespace crtoken {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

Status Refuse() {
  return Error{ErrorKind::kUnavailable,
               "not the leader (standby: Lease crtoken/crtoken is held by b)"};
}

TEST(KubeWriteGuardTest, ARefusedRequestIsNotSentAndAGetIsNeverAsked) {
  test::EmulatedCluster cluster;
  std::atomic<int> asked{0};
  KubeClientOptions options;
  options.before_write = [&asked] {
    ++asked;
    return Refuse();
  };
  auto client = KubeClient::Create(cluster.Config(), options);
  ASSERT_TRUE(client.ok()) << client.error().ToString();
  auto got = client.value()->Call("GET", "/api/v1/namespaces/team-a/secrets");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got.value().status, 200);
  EXPECT_EQ(asked, 0);

  const json lease = {{"metadata", {{"name", "x"}}}, {"spec", json::object()}};
  auto posted =
      client.value()->Call("POST", "/apis/coordination.k8s.io/v1/namespaces/crtoken/leases",
                           lease.dump(), "application/json");
  ASSERT_FALSE(posted.ok());
  EXPECT_EQ(posted.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(posted.error().message,
            "kubernetes POST /apis/coordination.k8s.io/v1/namespaces/crtoken/leases: not sent: "
            "not the leader (standby: Lease crtoken/crtoken is held by b)");
  EXPECT_EQ(asked, 1);
  EXPECT_EQ(cluster.CountRequests("POST", "/leases"), 0);
}

DockerCredential Credential() {
  DockerCredential c;
  c.hostname = "acme.cr.de-fra.ionos.com";
  c.username = "ci-push";
  c.password = Password("pw-guarded-1");
  c.record = SecretRecord{"crtoken", "reg-1", "ci-push", "tok-1"};
  return c;
}

SecretRef Ref() {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "team-a";
  ref.k8s_name = "ci-push";
  return ref;
}

TEST(KubeWriteGuardTest, TheSecretSinkSendsNoWriteAfterTheFenceClosedMidOperation) {
  test::EmulatedCluster cluster;
  std::atomic<bool> allowed{true};
  KubernetesSinkOptions options;
  options.backoff = 1ms;
  options.env = [](const std::string&) { return std::optional<std::string>(); };
  options.before_write = [&allowed]() -> Status { return allowed ? Status::Ok() : Refuse(); };
  auto sink = KubernetesSecretSink::Create(cluster.Config(), options);
  ASSERT_TRUE(sink.ok()) << sink.error().ToString();
  ASSERT_TRUE(sink.value()->Write(Ref(), Credential()).ok());
  int status = 0;
  const json before =
      cluster.Api("GET", "/api/v1/namespaces/team-a/secrets/ci-push", nullptr, &status);
  ASSERT_EQ(status, 200);

  // The fence closes while a write is under way: its GET still goes, its PUT does not.
  allowed = false;
  cluster.ClearRequests();
  DockerCredential changed = Credential();
  changed.password = Password("pw-guarded-2");
  changed.record.token_id = "tok-2";
  Status written = sink.value()->Write(Ref(), changed);
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(written.error().message.find(": not sent: not the leader"), std::string::npos)
      << written.error().message;
  Status deleted = sink.value()->Delete(Ref());
  ASSERT_FALSE(deleted.ok());
  EXPECT_NE(deleted.error().message.find(": not sent: not the leader"), std::string::npos);
  EXPECT_GE(cluster.CountRequests("GET", "/secrets/ci-push"), 1);
  EXPECT_EQ(cluster.CountRequests("PUT", "/secrets"), 0);
  EXPECT_EQ(cluster.CountRequests("POST", "/secrets"), 0);
  EXPECT_EQ(cluster.CountRequests("DELETE", "/secrets"), 0);
  const json after = cluster.Api("GET", "/api/v1/namespaces/team-a/secrets/ci-push");
  EXPECT_EQ(after, before);  // the Secret as the leader last wrote it
  // Its reads still work on a standby.
  auto inspected = sink.value()->Inspect(Ref());
  ASSERT_TRUE(inspected.ok());
  EXPECT_EQ(inspected.value().record.token_id, "tok-1");
}

}  // namespace
}  // namespace crtoken
