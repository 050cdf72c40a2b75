// The reconcile pass never forgets what it has not confirmed, and never creates what it cannot
// deliver: a token a secret records, missing from a token list, is looked up by id before its
// secrets or held password are dropped; a secret place that is not crtoken's to write stops the
// token before any create. Against the in-memory fakes; end states, not call sequences.
#include <gtest/gtest.h>

#include "reconciler/reconciler.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

constexpr char kAcmeHost[] = "acme.cr.de-fra.ionos.com";

TokenSpec Spec(const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.registry = "acme";
  spec.scopes = {Scope{"app/*", "repository", {"pull", "push"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = name + ".json";
  spec.source = SourceLocation{"/specs/" + name + ".yaml", 4, 9};
  return spec;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

class ReconcilerSafetyTest : public ::testing::Test {
 protected:
  ReconcilerSafetyTest() : acme_(api_.AddRegistry("acme", kAcmeHost)) {}

  std::unique_ptr<Reconciler> Make(PlanPolicy policy = {}) {
    ReconcilerConfig config;
    config.policy = policy;
    return std::make_unique<Reconciler>(api_, sink_, clock_, nullptr, config);
  }

  std::string IdOf(const std::string& name) { return api_.Find(acme_, name)->token.id; }

  // The secret holds exactly the password the registry issued for the token.
  void ExpectSecretMatches(const std::string& name) {
    auto token = api_.Find(acme_, name);
    ASSERT_TRUE(token.has_value()) << name;
    auto secret = sink_.Get("file:" + name + ".json");
    ASSERT_TRUE(secret.has_value()) << name;
    EXPECT_EQ(secret->password.Reveal(), token->password) << name;
    EXPECT_EQ(secret->hostname, kAcmeHost);
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  std::string acme_;
};

// --- An owned token the list missed ------------------------------------------------------------

TEST_F(ReconcilerSafetyTest, AnUndeclaredOwnedTokenMissingFromTheListIsDeletedNotOrphaned) {
  DesiredState desired;
  desired.specs = {Spec("keep"), Spec("drop")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  desired.specs.pop_back();
  api_.hide_from_list.insert(IdOf("drop"));  // a paging gap: live, but not listed

  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << Joined(pass.errors);
  EXPECT_FALSE(api_.Find(acme_, "drop").has_value()) << "the token was orphaned";
  EXPECT_FALSE(sink_.Get("file:drop.json").has_value());
  ExpectSecretMatches("keep");
}

TEST_F(ReconcilerSafetyTest, ATokenThatIsReallyGoneLosesItsSecret) {
  DesiredState desired;
  desired.specs = {Spec("keep"), Spec("drop")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  desired.specs.pop_back();
  api_.DeleteByHand(acme_, "drop");
  const int deletes_before = api_.deletes;

  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << Joined(pass.errors);
  EXPECT_FALSE(sink_.Get("file:drop.json").has_value());
  EXPECT_EQ(api_.deletes, deletes_before);  // nothing left to DELETE
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  EXPECT_EQ(api_.gets, 1);  // its absence confirmed once; the steady state looks nothing up
  EXPECT_TRUE(r->Reconcile(desired).converged);
  EXPECT_EQ(api_.gets, 1);
}

TEST_F(ReconcilerSafetyTest, UnderPruneNoneNothingIsLookedUpAndNothingDropped) {
  DesiredState desired;
  desired.specs = {Spec("keep"), Spec("drop")};
  PlanPolicy none;
  none.prune = PruneMode::kNone;
  auto r = Make(none);
  ASSERT_TRUE(r->Reconcile(desired).converged);
  desired.specs.pop_back();
  api_.DeleteByHand(acme_, "drop");
  for (int pass = 0; pass < 2; ++pass) EXPECT_TRUE(r->Reconcile(desired).converged);
  EXPECT_EQ(api_.gets, 0);
  EXPECT_TRUE(sink_.Get("file:drop.json").has_value());
}

TEST_F(ReconcilerSafetyTest, AFailedLookupKeepsTheSecretAndFailsThePass) {
  DesiredState desired;
  desired.specs = {Spec("keep"), Spec("drop")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string password = api_.Find(acme_, "drop")->password;
  desired.specs.pop_back();
  api_.hide_from_list.insert(IdOf("drop"));
  api_.FailNext("GET_TOKEN", Error{ErrorKind::kUnavailable, "503 from GET /tokens/..."});

  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  ASSERT_TRUE(pass.requeue_after.has_value());  // transient: soon again
  EXPECT_NE(Joined(pass.errors)
                .find("acme/drop: token " + IdOf("drop") +
                      " is missing from the token list and looking it up failed"),
            std::string::npos)
      << Joined(pass.errors);
  EXPECT_TRUE(api_.Find(acme_, "drop").has_value());
  ASSERT_TRUE(sink_.Get("file:drop.json").has_value());
  EXPECT_EQ(sink_.Get("file:drop.json")->password.Reveal(), password);

  // The next pass can look it up: the token is deleted with its secret.
  PassResult next = r->Reconcile(desired);
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_FALSE(api_.Find(acme_, "drop").has_value());
  EXPECT_FALSE(sink_.Get("file:drop.json").has_value());
}

TEST_F(ReconcilerSafetyTest, ASecretWhoseNameAnotherIdHoldsIsCheckedByItsOwnId) {
  // The list shows a hand-made token under the owned token's name but not the owned token itself
  // (the API forbids two tokens of one name, but a list read across a change can show both
  // states). The owned token lives: it is deleted, the hand-made one is left alone.
  DesiredState desired;
  desired.specs = {Spec("keep"), Spec("old")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string owned_id = IdOf("old");
  desired.specs.pop_back();
  api_.hide_from_list.insert(owned_id);
  const std::string foreign_id = api_.AddForeignToken(acme_, "old");

  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << Joined(pass.errors);
  auto left = api_.Find(acme_, "old");
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->token.id, foreign_id);  // only the owned one was deleted
  EXPECT_EQ(api_.TokenCount(acme_), 2u);  // keep + the hand-made one
  EXPECT_FALSE(sink_.Get("file:old.json").has_value());
}

TEST_F(ReconcilerSafetyTest, AHeldPasswordIsKeptWhenTheListMissesItsToken) {
  const std::string fresh = api_.AddRegistry("fresh", "", "WaitingForStorage");
  DesiredState desired;
  TokenSpec spec = Spec("early");
  spec.registry = "fresh";
  desired.specs = {spec};
  auto r = Make();
  EXPECT_FALSE(r->Reconcile(desired).converged);
  ASSERT_EQ(r->HeldPasswords(), 1);
  api_.SetHostname(fresh, "fresh.cr.de-fra.ionos.com");
  api_.hide_from_list.insert(api_.Find(fresh, "early")->token.id);

  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << Joined(pass.errors);
  EXPECT_EQ(r->HeldPasswords(), 0);
  EXPECT_EQ(api_.puts, 1);  // never re-issued
  auto secret = sink_.Get("file:early.json");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->password.Reveal(), api_.Find(fresh, "early")->password);
  EXPECT_EQ(secret->record.token_id, api_.Find(fresh, "early")->token.id);
}

TEST_F(ReconcilerSafetyTest, AHeldPasswordWhoseLookupFailsIsKept) {
  const std::string fresh = api_.AddRegistry("fresh", "", "WaitingForStorage");
  DesiredState desired;
  TokenSpec spec = Spec("early");
  spec.registry = "fresh";
  desired.specs = {spec};
  auto r = Make();
  EXPECT_FALSE(r->Reconcile(desired).converged);
  api_.SetHostname(fresh, "fresh.cr.de-fra.ionos.com");
  api_.hide_from_list.insert(api_.Find(fresh, "early")->token.id);
  api_.FailNext("GET_TOKEN", Error{ErrorKind::kUnavailable, "timeout"});

  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(r->HeldPasswords(), 1);
  EXPECT_EQ(pass.write_requests, 0);  // no create, no re-issue

  PassResult next = r->Reconcile(desired);
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_EQ(api_.puts, 1);
  auto secret = sink_.Get("file:early.json");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->password.Reveal(), api_.Find(fresh, "early")->password);
}

TEST_F(ReconcilerSafetyTest, ADeclaredTokenMissingFromTheListIsNeverDuplicated) {
  // No lookup for a declared token: its create goes to the id of the next generation, the name is
  // taken, and the PUT is refused. The live token and its secret are untouched.
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string id = IdOf("ci-push");
  const std::string password = api_.Find(acme_, "ci-push")->password;
  api_.hide_from_list.insert(id);

  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  EXPECT_EQ(api_.Find(acme_, "ci-push")->password, password);
  EXPECT_EQ(sink_.Get("file:ci-push.json")->password.Reveal(), password);
  EXPECT_EQ(sink_.Get("file:ci-push.json")->record.token_id, id);

  EXPECT_EQ(api_.gets, 0);  // a declared token is not looked up: the create is safe

  api_.hide_from_list.clear();
  PassResult next = r->Reconcile(desired);
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_TRUE(next.plan.empty());
}

// --- A secret place that is not crtoken's ------------------------------------------------------

TEST_F(ReconcilerSafetyTest, AForeignSecretStopsTheCreateUntilItIsFreed) {
  DesiredState desired;
  desired.specs = {Spec("ci-push"), Spec("other")};
  sink_.SetForeign("file:ci-push.json", "Secret team-a/pull exists and is not managed by crtoken");
  auto r = Make();
  for (int pass_no = 0; pass_no < 2; ++pass_no) {
    SCOPED_TRACE(pass_no);
    PassResult pass = r->Reconcile(desired);
    EXPECT_FALSE(pass.converged);
    EXPECT_NE(Joined(pass.errors)
                  .find("/specs/ci-push.yaml:4:9: token ci-push: secret file:ci-push.json cannot "
                        "be written: Secret team-a/pull exists and is not managed by crtoken"),
              std::string::npos)
        << Joined(pass.errors);
    EXPECT_FALSE(api_.Find(acme_, "ci-push").has_value());
    EXPECT_EQ(r->HeldPasswords(), 0);
    ExpectSecretMatches("other");  // the rest of the pass goes on
  }
  EXPECT_EQ(api_.puts, 1);  // "other" only

  sink_.SetForeign("file:ci-push.json", "");
  PassResult freed = r->Reconcile(desired);
  EXPECT_TRUE(freed.converged) << Joined(freed.errors);
  ExpectSecretMatches("ci-push");
}

TEST_F(ReconcilerSafetyTest, AnOwnedTokenWhoseSecretBecameForeignIsLeftAsItIs) {
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string id = IdOf("ci-push");
  const std::string password = api_.Find(acme_, "ci-push")->password;
  // Someone replaced the secret with one crtoken must not touch, and the spec changed.
  sink_.SetForeign("file:ci-push.json", "taken by hand");
  desired.specs[0].status = TokenStatus::kDisabled;
  const int writes_before = api_.Writes();

  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(api_.Writes(), writes_before);  // no re-issue, no update, no delete
  EXPECT_EQ(api_.Find(acme_, "ci-push")->token.id, id);
  EXPECT_EQ(api_.Find(acme_, "ci-push")->password, password);
  EXPECT_EQ(api_.Find(acme_, "ci-push")->token.status, TokenStatus::kEnabled);
}

// --- One registry, declared by name in one spec and by id in another ---------------------------

// The daemon runs one pass per registry ref as written in the specs, so a registry declared by
// name in one file and by id in another gets two passes. Each must see every spec of the registry,
// or it takes the other spec's token for an owned, undeclared one and deletes it.
TEST_F(ReconcilerSafetyTest, APassByOneRefSeesTheSpecsOfTheSameRegistryByTheOther) {
  DesiredState desired;
  TokenSpec by_id = Spec("by-id");
  by_id.registry.clear();
  by_id.registry_id = acme_;
  desired.specs = {Spec("by-name"), by_id};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string name_id = IdOf("by-name");
  const std::string id_id = IdOf("by-id");

  for (const std::string& ref : {std::string("acme"), acme_}) {
    PassResult pass = r->Reconcile(desired, {ref});
    EXPECT_TRUE(pass.converged) << ref << "\n" << Joined(pass.errors);
    EXPECT_TRUE(pass.plan.actions.empty()) << ref << ": " << pass.plan.actions.size();
    ASSERT_TRUE(api_.Find(acme_, "by-name").has_value()) << "deleted by the pass for " << ref;
    ASSERT_TRUE(api_.Find(acme_, "by-id").has_value()) << "deleted by the pass for " << ref;
    EXPECT_EQ(IdOf("by-name"), name_id);
    EXPECT_EQ(IdOf("by-id"), id_id);
  }
  ExpectSecretMatches("by-name");
  ExpectSecretMatches("by-id");
}

}  // namespace
}  // namespace crtoken
