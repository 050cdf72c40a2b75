// Registry lookups have one cache: the reconcile pass's own, which lives for one pass. Within a
// pass each registry is resolved once, whichever way (name or id) the specs and records name it;
// the next pass asks again, so it sees the registry as it is now.
#include <gtest/gtest.h>

#include "reconciler/reconciler.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;
using test::MemoryStateStore;

TokenSpec Spec(const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = name + ".json";
  spec.source.file = "/specs/" + name + ".yaml";
  return spec;
}

class RegistryLookupTest : public ::testing::Test {
 protected:
  RegistryLookupTest() : acme_(api_.AddRegistry("acme", "")) {}
  Reconciler Make() { return Reconciler(api_, sink_, state_, clock_, nullptr, ReconcilerConfig{}); }
  FakeRegistryApi api_;
  MemorySecretSink sink_;
  MemoryStateStore state_;
  FakeClock clock_;
  std::string acme_;
};

TEST_F(RegistryLookupTest, OneLookupPerRegistryPerPassWhetherNamedOrById) {
  DesiredState desired;
  TokenSpec by_name = Spec("by-name");
  by_name.registry = "acme";
  TokenSpec by_id = Spec("by-id");
  by_id.registry_id = acme_;
  desired.specs = {by_name, by_id, Spec("other")};
  desired.specs[2].registry = "acme";
  Reconciler r = Make();
  r.Reconcile(desired);
  EXPECT_EQ(api_.lookups, 1);
  EXPECT_EQ(api_.TokenCount(acme_), 3u);
  // The other order: the id first, then the name.
  std::swap(desired.specs[0], desired.specs[1]);
  api_.lookups = 0;
  r.Reconcile(desired);
  EXPECT_EQ(api_.lookups, 1);
}

TEST_F(RegistryLookupTest, EachPassSeesTheRegistryAsItIsNow) {
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  desired.specs[0].registry = "acme";
  Reconciler r = Make();
  PassResult first = r.Reconcile(desired);  // no hostname yet: the password is held
  EXPECT_EQ(first.secrets_waiting, 1);
  EXPECT_FALSE(sink_.Get(desired.specs[0].secret.ToString()).has_value());
  api_.SetHostname(acme_, "acme.cr.de-fra.ionos.com");
  PassResult second = r.Reconcile(desired);
  EXPECT_EQ(api_.lookups, 2);  // one per pass
  EXPECT_EQ(second.secrets_waiting, 0);
  auto secret = sink_.Get(desired.specs[0].secret.ToString());
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->hostname, "acme.cr.de-fra.ionos.com");
}

// The name lookup of a spec's registry fails, but an ownership record resolves the same registry by
// id: the token the spec declares is not pruned (the pass plans once, over everything it read).
TEST_F(RegistryLookupTest, AFailedNameLookupPrunesNothingThatTheSpecDeclares) {
  api_.SetHostname(acme_, "acme.cr.de-fra.ionos.com");
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  desired.specs[0].registry = "acme";
  Reconciler r = Make();
  ASSERT_TRUE(r.Reconcile(desired).converged);
  ASSERT_TRUE(api_.Find(acme_, "ci-push").has_value());
  ASSERT_TRUE(state_.Get(TokenKey{acme_, "ci-push"}).has_value());

  api_.FailNext("FIND", Error{ErrorKind::kUnavailable, "HTTP 503"});
  PassResult pass = r.Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(api_.deletes, 0);
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_TRUE(state_.Get(TokenKey{acme_, "ci-push"}).has_value());
  EXPECT_TRUE(sink_.Get(desired.specs[0].secret.ToString()).has_value());
}

}  // namespace
}  // namespace crtoken
