// Registry lookups have one cache: the reconcile pass's own, which lives for one pass. One
// ListRegistries() per pass resolves every registry, whichever way (name or id) the specs and the
// secrets name it; the next pass asks again, so it sees the registries as they are now.
#include <gtest/gtest.h>

#include "reconciler/reconciler.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

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
  Reconciler Make() { return Reconciler(api_, sink_, clock_, nullptr, ReconcilerConfig{}); }
  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  std::string acme_;
};

TEST_F(RegistryLookupTest, OneRegistryListPerPassWhetherNamedOrById) {
  DesiredState desired;
  TokenSpec by_name = Spec("by-name");
  by_name.registry = "acme";
  TokenSpec by_id = Spec("by-id");
  by_id.registry_id = acme_;
  desired.specs = {by_name, by_id, Spec("other")};
  desired.specs[2].registry = "acme";
  Reconciler r = Make();
  r.Reconcile(desired);
  EXPECT_EQ(api_.registry_lists, 1);
  EXPECT_EQ(api_.lookups, 0);
  EXPECT_EQ(api_.TokenCount(acme_), 3u);
  // The other order: the id first, then the name.
  std::swap(desired.specs[0], desired.specs[1]);
  r.Reconcile(desired);
  EXPECT_EQ(api_.registry_lists, 2);
  EXPECT_EQ(api_.lookups, 0);
}

TEST_F(RegistryLookupTest, AnIdMissingFromTheListIsNotFoundAndTwoRegistriesWithOneNameAreAnError) {
  api_.SetHostname(acme_, "acme.cr.de-fra.ionos.com");
  api_.AddRegistry("twin", "twin-1.example");
  api_.AddRegistry("twin", "twin-2.example");
  DesiredState desired;
  TokenSpec by_id = Spec("by-id");
  by_id.registry_id = "00000000-0000-4000-8000-0000000000ff";
  TokenSpec twin = Spec("twin-token");
  twin.registry = "twin";
  TokenSpec fine = Spec("fine");
  fine.registry = "acme";
  desired.specs = {by_id, twin, fine};
  PassResult pass = Make().Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  std::string errors;
  for (const auto& e : pass.errors) errors += e + "\n";
  EXPECT_NE(errors.find("registry 00000000-0000-4000-8000-0000000000ff: lookup failed: not found: "
                        "no registry with id 00000000-0000-4000-8000-0000000000ff"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("registry twin: lookup failed: invalid: 2 registries are named 'twin' ("),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("); declare spec.registryId instead"), std::string::npos) << errors;
  EXPECT_FALSE(pass.requeue_after.has_value());  // retrying will not help
  EXPECT_EQ(api_.lookups, 0);  // the complete list is believed: no lookup by id or name
  EXPECT_EQ(api_.puts, 1);     // "fine" only
  EXPECT_TRUE(api_.Find(acme_, "fine").has_value());
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
  EXPECT_EQ(api_.registry_lists, 2);  // one per pass
  EXPECT_EQ(second.secrets_waiting, 0);
  auto secret = sink_.Get(desired.specs[0].secret.ToString());
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->hostname, "acme.cr.de-fra.ionos.com");
}

// The registry list fails: nothing is resolved, neither the spec's registry nor the one its secret
// records, and nothing is pruned.
TEST_F(RegistryLookupTest, AFailedRegistryListPrunesNothing) {
  api_.SetHostname(acme_, "acme.cr.de-fra.ionos.com");
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  desired.specs[0].registry = "acme";
  Reconciler r = Make();
  ASSERT_TRUE(r.Reconcile(desired).converged);
  ASSERT_TRUE(api_.Find(acme_, "ci-push").has_value());

  api_.FailNext("LIST_REGISTRIES", Error{ErrorKind::kUnavailable, "HTTP 503"});
  PassResult pass = r.Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_TRUE(pass.requeue_after.has_value());
  EXPECT_EQ(pass.errors.front(), "listing registries failed: unavailable: HTTP 503");
  EXPECT_EQ(api_.deletes, 0);
  EXPECT_EQ(api_.lists, 1);  // the first pass's only: nothing is listed without its registry
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_TRUE(sink_.Get(desired.specs[0].secret.ToString()).has_value());

  // Without the spec, a failed list still prunes nothing of what its secret records.
  api_.FailNext("LIST_REGISTRIES", Error{ErrorKind::kUnavailable, "HTTP 503"});
  EXPECT_FALSE(r.Reconcile(DesiredState{}).converged);
  EXPECT_EQ(api_.deletes, 0);
  EXPECT_TRUE(sink_.Get(desired.specs[0].secret.ToString()).has_value());
}

}  // namespace
}  // namespace crtoken
