// The fence of --leader-elect: reads pass, writes are refused while the guard says no, and what
// the ports hold afterwards shows that nothing was sent (the fakes' own state, not call counts of
// the decorator).
#include "daemon/app/fenced_ports.h"

#include <gtest/gtest.h>

#include <atomic>

#include "reconciler/reconciler.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

constexpr char kTokenId[] = "0a1b2c3d-0000-8c72-8000-000000000001";

struct Fixture {
  Fixture() {
    auto inner = std::make_unique<test::FakeRegistryApi>();
    fake = inner.get();
    registry_id = fake->AddRegistry("acme", "acme.cr.de-fra.ionos.com");
    api = std::make_unique<FencedRegistryApi>(std::move(inner), [this] { return Guard(); });
    sink = std::make_unique<FencedSecretSink>(memory, [this] { return Guard(); });
  }
  Status Guard() const {
    if (allowed) return Status::Ok();
    return Error{ErrorKind::kUnavailable,
                 "not the leader (standby: Lease crtoken/crtoken is held by pod-b_1)"};
  }
  TokenFields Fields() const {
    TokenFields f;
    f.name = "ci-push";
    return f;
  }
  DockerCredential Credential() const {
    DockerCredential c;
    c.hostname = "acme.cr.de-fra.ionos.com";
    c.username = "ci-push";
    c.password = Password("pw-1");
    c.record = SecretRecord{"crtoken", registry_id, "ci-push", kTokenId};
    return c;
  }

  std::atomic<bool> allowed{false};
  test::FakeRegistryApi* fake = nullptr;
  std::string registry_id;
  test::MemorySecretSink memory;
  std::unique_ptr<FencedRegistryApi> api;
  std::unique_ptr<FencedSecretSink> sink;
};

SecretRef Ref() {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "team-a";
  ref.k8s_name = "ci-push";
  return ref;
}

void ExpectRefused(const Error& e, const std::string& what) {
  EXPECT_EQ(e.kind, ErrorKind::kUnavailable);
  EXPECT_EQ(e.message, "not sent (" + what +
                           "): not the leader (standby: Lease crtoken/crtoken is held by pod-b_1)");
}

TEST(FencedPortsTest, AStandbyReadsEverythingAndWritesNothing) {
  Fixture f;
  EXPECT_TRUE(f.api->ListRegistries().ok());
  EXPECT_TRUE(f.api->GetRegistry(f.registry_id).ok());
  ASSERT_TRUE(f.api->ListTokens(f.registry_id).ok());
  EXPECT_EQ(f.api->GetToken(f.registry_id, kTokenId).error().kind, ErrorKind::kNotFound);

  auto created = f.api->CreateToken(f.registry_id, kTokenId, f.Fields());
  ASSERT_FALSE(created.ok());
  ExpectRefused(created.error(), "create token ci-push in registry " + f.registry_id);
  EXPECT_EQ(f.fake->TokenCount(f.registry_id), 0u);

  auto patched = f.api->PatchToken(f.registry_id, kTokenId, TokenPatch{});
  ASSERT_FALSE(patched.ok());
  ExpectRefused(patched.error(),
                std::string("update token ") + kTokenId + " in registry " + f.registry_id);
  Status deleted = f.api->DeleteToken(f.registry_id, kTokenId);
  ASSERT_FALSE(deleted.ok());
  ExpectRefused(deleted.error(),
                std::string("delete token ") + kTokenId + " in registry " + f.registry_id);
  EXPECT_EQ(f.fake->Writes(), 0);

  Status written = f.sink->Write(Ref(), f.Credential());
  ASSERT_FALSE(written.ok());
  ExpectRefused(written.error(), "write secret " + Ref().ToString());
  auto inspected = f.sink->Inspect(Ref());
  ASSERT_TRUE(inspected.ok());
  EXPECT_FALSE(inspected.value().exists);
  Status stamped = f.sink->Stamp(Ref(), f.Credential().record);
  ASSERT_FALSE(stamped.ok());
  ExpectRefused(stamped.error(), "stamp secret " + Ref().ToString());
  Status removed = f.sink->Delete(Ref());
  ASSERT_FALSE(removed.ok());
  ExpectRefused(removed.error(), "delete secret " + Ref().ToString());
  auto listed = f.sink->List("crtoken");
  ASSERT_TRUE(listed.ok());
  EXPECT_TRUE(listed.value().empty());
  EXPECT_TRUE(f.sink->Flush().ok());
}

TEST(FencedPortsTest, TheLeaderWritesAndTheGuardIsAskedAtEachWrite) {
  Fixture f;
  f.allowed = true;
  auto created = f.api->CreateToken(f.registry_id, kTokenId, f.Fields());
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  ASSERT_TRUE(f.sink->Write(Ref(), f.Credential()).ok());
  EXPECT_TRUE(f.fake->Find(f.registry_id, "ci-push").has_value());
  auto state = f.memory.Inspect(Ref());
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state.value().has_password);

  // Leadership lost between two writes: the next one is not sent, the first one stays.
  f.allowed = false;
  ExpectRefused(f.api->DeleteToken(f.registry_id, kTokenId).error(),
                std::string("delete token ") + kTokenId + " in registry " + f.registry_id);
  ExpectRefused(f.sink->Delete(Ref()).error(), "delete secret " + Ref().ToString());
  EXPECT_TRUE(f.fake->Find(f.registry_id, "ci-push").has_value());
  EXPECT_TRUE(f.memory.Inspect(Ref()).value().exists);
}

// Leadership lost between a token's create and the write of its Secret, in a real reconcile pass:
// the refused write is an ordinary failed action, the password is held, and once this replica
// may write again the Secret gets exactly the password the registry issued (nothing re-issued).
TEST(FencedPortsTest, AWriteRefusedMidPassLosesNothing) {
  auto inner = std::make_unique<test::FakeRegistryApi>();
  test::FakeRegistryApi& fake = *inner;
  const std::string registry_id = fake.AddRegistry("acme", "acme.cr.de-fra.ionos.com");
  test::MemorySecretSink memory;
  std::atomic<int> writes_allowed{1};  // the token's create, then the fence closes
  WriteGuard guard = [&]() -> Status {
    if (writes_allowed-- > 0) return Status::Ok();
    return Error{ErrorKind::kUnavailable,
                 "not the leader any more: Lease crtoken/crtoken was "
                 "last renewed 10.2s ago, past the renew deadline of 10s"};
  };
  FencedRegistryApi api(std::move(inner), guard);
  FencedSecretSink sink(memory, guard);
  test::FakeClock clock;
  Reconciler reconciler(api, sink, clock, nullptr, ReconcilerConfig{});

  TokenSpec spec;
  spec.name = "ci-push";
  spec.registry = "acme";
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = "ci-push.json";
  spec.source = SourceLocation{"/specs/ci.yaml", 4, 9};
  DesiredState desired;
  desired.specs = {spec};

  PassResult refused = reconciler.Reconcile(desired);
  EXPECT_FALSE(refused.converged);
  EXPECT_EQ(refused.secrets_waiting, 1);
  EXPECT_EQ(reconciler.HeldPasswords(), 1);
  bool named = false;
  for (const std::string& e : refused.errors) named |= e.find("not sent (write secret") != e.npos;
  EXPECT_TRUE(named) << ::testing::PrintToString(refused.errors);
  ASSERT_TRUE(fake.Find(registry_id, "ci-push").has_value());
  EXPECT_FALSE(memory.Get(spec.secret.ToString()).has_value());

  writes_allowed = 1000;  // leading again
  PassResult written = reconciler.Reconcile(desired);
  EXPECT_TRUE(written.converged) << ::testing::PrintToString(written.errors);
  EXPECT_EQ(fake.puts, 1);  // the one create: the token was not issued again
  auto secret = memory.Get(spec.secret.ToString());
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->password.Reveal(), fake.Find(registry_id, "ci-push")->password);
  EXPECT_EQ(reconciler.HeldPasswords(), 0);
}

}  // namespace
}  // namespace crtoken
