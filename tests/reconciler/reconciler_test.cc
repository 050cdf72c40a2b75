#include "reconciler/reconciler.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "reconciler/token_id.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

TokenSpec Spec(const std::string& registry, const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.registry = registry;
  spec.scopes = {Scope{"app/*", "repository", {"pull", "push"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = registry + "-" + name + ".json";
  spec.source.file = "/specs/" + name + ".yaml";
  spec.source.line = 3;
  spec.source.column = 9;
  return spec;
}

std::string FileKey(const TokenSpec& spec) { return spec.secret.ToString(); }

class ReconcilerTest : public ::testing::Test {
 protected:
  ReconcilerTest() {
    acme_ = api_.AddRegistry("acme", "acme.cr.de-fra.ionos.com");
    beta_ = api_.AddRegistry("beta", "beta.cr.de-txl.ionos.com");
  }

  std::unique_ptr<Reconciler> Make(PlanPolicy policy = {}, bool dry_run = false) {
    ReconcilerConfig config;
    config.policy = policy;
    config.dry_run = dry_run;
    return std::make_unique<Reconciler>(api_, sink_, clock_, &metrics_, config);
  }

  // The secret holds exactly the password the registry issued for the token, and records it.
  void ExpectSecretMatches(const TokenSpec& spec, const std::string& registry_id,
                           const std::string& hostname) {
    auto token = api_.Find(registry_id, spec.name);
    ASSERT_TRUE(token.has_value()) << spec.name;
    auto secret = sink_.Get(FileKey(spec));
    ASSERT_TRUE(secret.has_value()) << spec.name;
    EXPECT_EQ(secret->password.Reveal(), token->password) << spec.name;
    EXPECT_EQ(secret->hostname, hostname);
    EXPECT_EQ(secret->username, spec.name);
    EXPECT_EQ(secret->record, (SecretRecord{"crtoken", registry_id, spec.name, token->token.id}));
  }

  // The generation the id of the live token `name` carries; -1 when it is not this owner's.
  int Generation(const std::string& registry_id, const std::string& name) {
    auto token = api_.Find(registry_id, name);
    if (!token) return -1;
    const TokenIdInfo id = ClassifyTokenId("crtoken", registry_id, name, token->token.id);
    return id.cls == TokenIdClass::kMine ? id.generation : -1;
  }

  // True when some secret of the owner records a token of (registry_id, name).
  bool AnySecretRecords(const std::string& registry_id, const std::string& name) {
    auto listed = sink_.List("crtoken");
    EXPECT_TRUE(listed.ok());
    for (const auto& s : listed.value()) {
      if (s.record.registry_id == registry_id && s.record.token_name == name) return true;
    }
    return false;
  }

  std::string Scrape() {
    return prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  Metrics metrics_;
  std::string acme_, beta_;
};

TEST_F(ReconcilerTest, CreatesTokensAcrossRegistriesThenASecondPassWritesNothing) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "puller"), Spec("beta", "deployer")};
  auto r = Make();
  PassResult first = r->Reconcile(desired);
  EXPECT_TRUE(first.converged) << ::testing::PrintToString(first.errors);
  EXPECT_EQ(first.write_requests, 3);
  EXPECT_EQ(api_.puts, 3);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
  ExpectSecretMatches(desired.specs[1], acme_, "acme.cr.de-fra.ionos.com");
  ExpectSecretMatches(desired.specs[2], beta_, "beta.cr.de-txl.ionos.com");
  // Every token carries this owner's id of generation 0 for its key.
  EXPECT_EQ(api_.Find(acme_, "ci-push")->token.id, OwnedTokenId("crtoken", acme_, "ci-push", 0));
  EXPECT_EQ(Generation(beta_, "deployer"), 0);
  // One sync makes the whole batch of secrets durable: not one per secret.
  EXPECT_EQ(sink_.flushes, 1);

  const int writes_before = api_.Writes();
  PassResult second = r->Reconcile(desired);
  EXPECT_TRUE(second.converged);
  EXPECT_TRUE(second.plan.empty());
  EXPECT_EQ(second.write_requests, 0);
  EXPECT_EQ(api_.Writes(), writes_before);
  EXPECT_EQ(second.plan.counts.in_sync, 3);

  const std::string text = Scrape();
  EXPECT_NE(text.find("crtoken_token_operations_total{operation=\"create\",result=\"success\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("crtoken_secret_writes_total{result=\"success\",sink=\"file\"} 3"),
            std::string::npos);
  EXPECT_NE(text.find("crtoken_tokens{state=\"in_sync\"} 3"), std::string::npos);
  EXPECT_NE(text.find("crtoken_reconcile_total{result=\"success\"} 2"), std::string::npos);
}

TEST_F(ReconcilerTest, AStatusChangeIsOnePatchOfOnlyThatField) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string password = api_.Find(acme_, "ci-push")->password;
  desired.specs[0].status = TokenStatus::kDisabled;
  // Reordering scopes or actions alone changes nothing.
  desired.specs[0].scopes[0].actions = {"push", "pull"};
  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged);
  EXPECT_EQ(pass.write_requests, 1);
  ASSERT_EQ(api_.patch_log.size(), 1u);
  EXPECT_TRUE(api_.patch_log[0].status.has_value());
  EXPECT_FALSE(api_.patch_log[0].scopes.has_value());
  EXPECT_FALSE(api_.patch_log[0].expiry.has_value());
  EXPECT_EQ(api_.Find(acme_, "ci-push")->token.status, TokenStatus::kDisabled);
  EXPECT_EQ(api_.Find(acme_, "ci-push")->password, password);  // not re-issued
  EXPECT_EQ(r->Reconcile(desired).write_requests, 0);
}

TEST_F(ReconcilerTest, RemovingASpecDeletesTheOwnedTokenAndItsSecretButNeverAForeignOne) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "puller")};
  api_.AddForeignToken(acme_, "hand-made");
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  desired.specs.pop_back();
  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << ::testing::PrintToString(pass.errors);
  EXPECT_FALSE(api_.Find(acme_, "puller").has_value());
  EXPECT_FALSE(sink_.Get("file:acme-puller.json").has_value());
  EXPECT_FALSE(AnySecretRecords(acme_, "puller"));
  EXPECT_TRUE(api_.Find(acme_, "hand-made").has_value());
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_EQ(pass.plan.counts.unmanaged, 1);
}

TEST_F(ReconcilerTest, PruneNoneDeletesNothing) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  ASSERT_TRUE(Make()->Reconcile(desired).converged);
  desired.specs.clear();
  PlanPolicy none;
  none.prune = PruneMode::kNone;
  PassResult pass = Make(none)->Reconcile(desired);
  EXPECT_EQ(pass.write_requests, 0);
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_TRUE(sink_.Get("file:acme-ci-push.json").has_value());
}

TEST_F(ReconcilerTest, AHandDeletedSecretIsRepairedByReissue) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const auto old = *api_.Find(acme_, "ci-push");
  sink_.EraseByHand("file:acme-ci-push.json");
  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << ::testing::PrintToString(pass.errors);
  ASSERT_EQ(pass.plan.actions.size(), 1u);
  EXPECT_EQ(pass.plan.actions[0].type, ActionType::kReissue);
  auto now = api_.Find(acme_, "ci-push");
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->token.id, old.token.id);
  EXPECT_NE(now->password, old.password);
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
  EXPECT_EQ(Generation(acme_, "ci-push"), 1);
}

TEST_F(ReconcilerTest, AHandDeletedTokenIsRecreatedAndItsSecretRewritten) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const std::string old_password = api_.Find(acme_, "ci-push")->password;
  api_.DeleteByHand(acme_, "ci-push");
  PassResult pass = r->Reconcile(desired);
  EXPECT_TRUE(pass.converged);
  EXPECT_NE(api_.Find(acme_, "ci-push")->password, old_password);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
}

TEST_F(ReconcilerTest, APasswordWaitsForTheRegistryHostnameAndIsWrittenLater) {
  const std::string fresh = api_.AddRegistry("fresh", "", "WaitingForStorage");
  DesiredState desired;
  desired.specs = {Spec("fresh", "early")};
  auto r = Make();
  PassResult first = r->Reconcile(desired);
  EXPECT_FALSE(first.converged);
  ASSERT_TRUE(first.requeue_after.has_value());
  EXPECT_EQ(first.secrets_waiting, 1);
  EXPECT_EQ(r->HeldPasswords(), 1);
  EXPECT_TRUE(api_.Find(fresh, "early").has_value());
  EXPECT_FALSE(sink_.Get("file:fresh-early.json").has_value());
  EXPECT_NE(Scrape().find("crtoken_secrets_waiting 1"), std::string::npos) << Scrape();

  // Still provisioning: no re-issue, nothing written, still held.
  PassResult second = r->Reconcile(desired);
  EXPECT_EQ(second.write_requests, 0);
  EXPECT_EQ(r->HeldPasswords(), 1);

  api_.SetHostname(fresh, "fresh.cr.de-fra.ionos.com");
  PassResult third = r->Reconcile(desired);
  EXPECT_TRUE(third.converged) << ::testing::PrintToString(third.errors);
  EXPECT_EQ(third.write_requests, 0);
  EXPECT_EQ(r->HeldPasswords(), 0);
  EXPECT_EQ(api_.puts, 1);
  ExpectSecretMatches(desired.specs[0], fresh, "fresh.cr.de-fra.ionos.com");
  sink_.PowerLoss();  // written and synced
  ExpectSecretMatches(desired.specs[0], fresh, "fresh.cr.de-fra.ionos.com");
  EXPECT_NE(Scrape().find("crtoken_secrets_waiting 0"), std::string::npos);
}

TEST_F(ReconcilerTest, AFailingSinkKeepsThePasswordAndRetriesIt) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  sink_.fail_writes = true;
  PassResult first = r->Reconcile(desired);
  EXPECT_FALSE(first.converged);
  EXPECT_TRUE(first.requeue_after.has_value());
  EXPECT_EQ(r->HeldPasswords(), 1);
  PassResult second = r->Reconcile(desired);  // still failing: retried, not re-issued
  EXPECT_FALSE(second.converged);
  EXPECT_EQ(second.write_requests, 0);
  sink_.fail_writes = false;
  PassResult third = r->Reconcile(desired);
  EXPECT_TRUE(third.converged) << ::testing::PrintToString(third.errors);
  EXPECT_EQ(api_.puts, 1);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
  EXPECT_NE(Scrape().find("crtoken_secret_writes_total{result=\"error\",sink=\"file\"} 2"),
            std::string::npos);
}

TEST_F(ReconcilerTest, OneSyncMakesAWholeBatchOfSecretsDurable) {
  DesiredState desired;
  for (int i = 0; i < 20; ++i) desired.specs.push_back(Spec("acme", "t" + std::to_string(i)));
  PassResult pass = Make()->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << ::testing::PrintToString(pass.errors);
  EXPECT_EQ(sink_.flushes, 1);
  sink_.PowerLoss();  // nothing written before the sync is lost
  for (const auto& spec : desired.specs)
    ExpectSecretMatches(spec, acme_, "acme.cr.de-fra.ionos.com");
}

TEST_F(ReconcilerTest, AFailedSyncHoldsThePasswordsUntilASyncSucceeds) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "deployer")};
  auto r = Make();
  sink_.fail_flush = true;
  PassResult first = r->Reconcile(desired);
  EXPECT_FALSE(first.converged);
  EXPECT_TRUE(first.requeue_after.has_value());
  ASSERT_FALSE(first.errors.empty());
  EXPECT_NE(first.errors[0].find("syncing secrets"), std::string::npos) << first.errors[0];
  EXPECT_EQ(r->HeldPasswords(), 2);
  sink_.PowerLoss();  // the unsynced secrets are gone; the process still holds the passwords
  EXPECT_EQ(sink_.size(), 0u);
  sink_.fail_flush = false;
  PassResult second = r->Reconcile(desired);  // the held passwords are written and synced
  EXPECT_TRUE(second.converged) << ::testing::PrintToString(second.errors);
  EXPECT_EQ(api_.puts, 2);  // no re-issue
  EXPECT_EQ(r->HeldPasswords(), 0);
  sink_.PowerLoss();
  for (const auto& spec : desired.specs)
    ExpectSecretMatches(spec, acme_, "acme.cr.de-fra.ionos.com");
  EXPECT_TRUE(r->Reconcile(desired).plan.empty());
}

TEST_F(ReconcilerTest, APowerLossBeforeTheSyncEndsInAReissueNotAWrongPassword) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  sink_.fail_flush = true;
  EXPECT_FALSE(Make()->Reconcile(desired).converged);
  sink_.PowerLoss();  // the unsynced secret is gone, and so is the process that held the password
  sink_.fail_flush = false;
  PassResult after = Make()->Reconcile(desired);
  EXPECT_TRUE(after.converged) << ::testing::PrintToString(after.errors);
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
}

TEST_F(ReconcilerTest, ASecretDeleteThatAPowerLossUndoesIsDoneAgain) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const TokenSpec removed = desired.specs[0];
  desired.specs.clear();
  sink_.fail_flush = true;
  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);  // the delete of the secret may not survive a crash
  EXPECT_FALSE(api_.Find(acme_, "ci-push").has_value());
  sink_.fail_flush = false;
  sink_.PowerLoss();  // the secret file is back, recording a token that is gone
  EXPECT_TRUE(sink_.Get(FileKey(removed)).has_value());
  PassResult again = Make()->Reconcile(desired);
  EXPECT_TRUE(again.converged) << ::testing::PrintToString(again.errors);
  sink_.PowerLoss();
  EXPECT_FALSE(sink_.Get(FileKey(removed)).has_value());
  EXPECT_EQ(api_.TokenCount(acme_), 0u);
}

TEST_F(ReconcilerTest, TokenGaugesOfARegistryThatResolvesLaterAreNotLeftStale) {
  DesiredState desired;
  desired.specs = {Spec("gamma", "tok-a"), Spec("gamma", "tok-b")};
  auto r = Make();
  EXPECT_FALSE(r->Reconcile(desired, {"gamma"}).converged);  // no such registry yet
  EXPECT_NE(Scrape().find("crtoken_tokens{state=\"error\"} 2"), std::string::npos) << Scrape();
  api_.AddRegistry("gamma", "gamma.cr.de-fra.ionos.com");
  EXPECT_TRUE(r->Reconcile(desired, {"gamma"}).converged);
  EXPECT_TRUE(r->Reconcile(desired, {"gamma"}).converged);
  EXPECT_NE(Scrape().find("crtoken_tokens{state=\"error\"} 0"), std::string::npos) << Scrape();
  EXPECT_NE(Scrape().find("crtoken_tokens{state=\"in_sync\"} 2"), std::string::npos) << Scrape();
  desired.specs.clear();  // no longer declared: the tokens go, and so do their counts
  EXPECT_TRUE(r->Reconcile(desired, {"gamma"}).converged);
  EXPECT_TRUE(r->Reconcile(desired, {"gamma"}).converged);
  EXPECT_NE(Scrape().find("crtoken_tokens{state=\"in_sync\"} 0"), std::string::npos) << Scrape();
  EXPECT_NE(Scrape().find("crtoken_tokens{state=\"pending\"} 0"), std::string::npos) << Scrape();
}

TEST_F(ReconcilerTest, ALifetimeTokenIsIssuedWithNowPlusLifetimeAndRenewedInTime) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  desired.specs[0].lifetime = std::chrono::hours(48);
  desired.specs[0].renew_before = std::chrono::hours(16);
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const auto issued = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  auto first = api_.Find(acme_, "ci-push");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->token.expiry, issued + std::chrono::hours(48));
  const std::string gauge =
      "crtoken_token_expiry_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} " +
      std::to_string((issued + std::chrono::hours(48)).time_since_epoch().count());
  EXPECT_NE(Scrape().find(gauge), std::string::npos) << Scrape();
  // The next pass is due at the renewal, 32 hours on; then the token is replaced.
  PassResult quiet = r->Reconcile(desired);
  EXPECT_EQ(quiet.write_requests, 0);
  EXPECT_EQ(quiet.next_expiry, issued + std::chrono::hours(32));
  clock_.Advance(std::chrono::hours(32));
  PassResult renewal = r->Reconcile(desired);
  EXPECT_TRUE(renewal.converged) << ::testing::PrintToString(renewal.errors);
  auto second = api_.Find(acme_, "ci-push");
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(second->token.id, first->token.id);
  EXPECT_EQ(second->token.expiry, issued + std::chrono::hours(32 + 48));
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
}

TEST_F(ReconcilerTest, ANameTakenByAForeignTokenIsReportedAndLeftAlone) {
  const std::string foreign = api_.AddForeignToken(acme_, "ci-push");
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  PassResult pass = Make()->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_FALSE(pass.errors.empty());
  EXPECT_EQ(pass.write_requests, 0);
  EXPECT_EQ(api_.Find(acme_, "ci-push")->token.id, foreign);
}

TEST_F(ReconcilerTest, AdoptionReissuesTheForeignToken) {
  const std::string foreign = api_.AddForeignToken(acme_, "ci-push");
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  desired.specs[0].adopt = true;
  PassResult pass = Make()->Reconcile(desired);
  EXPECT_TRUE(pass.converged) << ::testing::PrintToString(pass.errors);
  EXPECT_NE(api_.Find(acme_, "ci-push")->token.id, foreign);
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
}

TEST_F(ReconcilerTest, AConflictOnCreateIsReportedAndWritesNoSecret) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "other")};
  api_.FailNext("PUT", Error{ErrorKind::kConflict, "name ci-push is taken"});
  PassResult pass = Make()->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  ASSERT_EQ(pass.actions_failed, 1);
  bool named = false;
  for (const auto& e : pass.errors) named = named || e.find("taken") != std::string::npos;
  EXPECT_TRUE(named) << ::testing::PrintToString(pass.errors);
  // The other create is unaffected by the failure.
  ExpectSecretMatches(desired.specs[1], acme_, "acme.cr.de-fra.ionos.com");
  EXPECT_FALSE(sink_.Get("file:acme-ci-push.json").has_value());
}

TEST_F(ReconcilerTest, AFailedListNeverDeletesAndNeverCreates) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  api_.fail_list[acme_] = Error{ErrorKind::kUnavailable, "503 from the API"};
  DesiredState empty;
  PassResult pass = r->Reconcile(empty);
  EXPECT_FALSE(pass.converged);
  EXPECT_TRUE(pass.requeue_after.has_value());
  EXPECT_EQ(pass.write_requests, 0);
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_TRUE(sink_.Get("file:acme-ci-push.json").has_value());

  // A new spec in the unreadable registry is not created either.
  DesiredState more;
  more.specs = {Spec("acme", "ci-push"), Spec("acme", "new-one")};
  EXPECT_EQ(r->Reconcile(more).write_requests, 0);
}

TEST_F(ReconcilerTest, ATokenOfAFailedSpecFileIsNeverDeleted) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  DesiredState broken;
  broken.failed_files = {"/specs/ci-push.yaml"};
  PassResult pass = r->Reconcile(broken);
  EXPECT_EQ(pass.write_requests, 0);
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_TRUE(sink_.Get("file:acme-ci-push.json").has_value());
}

TEST_F(ReconcilerTest, DryRunPlansButWritesNothing) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("beta", "deployer")};
  PassResult pass = Make({}, /*dry_run=*/true)->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(pass.plan.actions.size(), 2u);
  EXPECT_EQ(pass.write_requests, 0);
  EXPECT_EQ(api_.Writes(), 0);
  EXPECT_EQ(sink_.writes, 0);
  EXPECT_EQ(sink_.flushes, 0);
}

TEST_F(ReconcilerTest, ALostPutResponseIsRepairedByReissueWithNoOrphan) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  api_.put_then_fail = 1;  // the token is created, but the answer never arrives
  PassResult first = r->Reconcile(desired);
  EXPECT_FALSE(first.converged);
  EXPECT_TRUE(first.requeue_after.has_value());
  EXPECT_TRUE(api_.Find(acme_, "ci-push").has_value());  // created, its password lost
  EXPECT_FALSE(sink_.Get("file:acme-ci-push.json").has_value());
  PassResult second = Make()->Reconcile(desired);  // a new process: nothing held
  EXPECT_TRUE(second.converged) << ::testing::PrintToString(second.errors);
  EXPECT_EQ(api_.TokenCount(acme_), 1u);
  ExpectSecretMatches(desired.specs[0], acme_, "acme.cr.de-fra.ionos.com");
}

TEST_F(ReconcilerTest, AFailedSecretListingHoldsEveryDeleteBackButCreatesGoOn) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "old")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "new-one")};
  sink_.fail_list = true;
  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_TRUE(pass.requeue_after.has_value());  // an I/O error: soon again
  EXPECT_EQ(pass.plan.deletes_held, 1);
  std::string errors;
  for (const auto& e : pass.errors) errors += e + "\n";
  EXPECT_NE(errors.find("listing the secrets of owner crtoken failed (nothing is deleted until "
                        "they can be listed): i/o: cannot list the secrets: permission denied"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("registry acme: nothing pruned, 1 delete held back while the secrets of "
                        "owner \"crtoken\" cannot be listed"),
            std::string::npos)
      << errors;
  EXPECT_TRUE(api_.Find(acme_, "old").has_value());
  EXPECT_TRUE(sink_.Get("file:acme-old.json").has_value());
  ExpectSecretMatches(desired.specs[1], acme_, "acme.cr.de-fra.ionos.com");

  sink_.fail_list = false;
  EXPECT_TRUE(r->Reconcile(desired).converged);
  EXPECT_FALSE(api_.Find(acme_, "old").has_value());
  EXPECT_FALSE(sink_.Get("file:acme-old.json").has_value());
}

TEST_F(ReconcilerTest, RegistryRefsLimitThePass) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("beta", "deployer")};
  auto r = Make();
  PassResult pass = r->Reconcile(desired, {"beta"});
  EXPECT_TRUE(pass.converged);
  EXPECT_FALSE(api_.Find(acme_, "ci-push").has_value());
  EXPECT_TRUE(api_.Find(beta_, "deployer").has_value());
  EXPECT_EQ(pass.registry_ids, std::vector<std::string>{beta_});
  // By id works too, and records of a registry no spec names any more are found by id.
  desired.specs.pop_back();
  auto refs = r->RegistryRefs(desired);
  ASSERT_TRUE(refs.ok());
  EXPECT_EQ(refs.value(), (std::vector<std::string>{"acme", beta_}));
  PassResult by_id = r->Reconcile(desired, {beta_});
  EXPECT_TRUE(by_id.converged);
  EXPECT_FALSE(api_.Find(beta_, "deployer").has_value());
  EXPECT_FALSE(api_.Find(acme_, "ci-push").has_value());
}

TEST_F(ReconcilerTest, TransientUpdateFailuresDoNotStopOtherActionsAndRequeueSoon) {
  DesiredState desired;
  desired.specs = {Spec("acme", "a1"), Spec("acme", "a2")};
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  desired.specs[0].status = TokenStatus::kDisabled;
  desired.specs[1].status = TokenStatus::kDisabled;
  api_.FailNext("PATCH", Error{ErrorKind::kUnavailable, "502"});
  PassResult pass = r->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(pass.actions_failed, 1);
  EXPECT_TRUE(pass.requeue_after.has_value());
  EXPECT_EQ(api_.patches, 2);
  PassResult again = r->Reconcile(desired);
  EXPECT_TRUE(again.converged);
  EXPECT_EQ(api_.Find(acme_, "a1")->token.status, TokenStatus::kDisabled);
  EXPECT_EQ(api_.Find(acme_, "a2")->token.status, TokenStatus::kDisabled);
}

TEST_F(ReconcilerTest, AnUnknownRegistryIsAnErrorNotAnAction) {
  DesiredState desired;
  desired.specs = {Spec("nope", "ci-push"), Spec("acme", "fine")};
  PassResult pass = Make()->Reconcile(desired);
  EXPECT_FALSE(pass.converged);
  EXPECT_EQ(api_.puts, 1);
  EXPECT_TRUE(api_.Find(acme_, "fine").has_value());
}

}  // namespace
}  // namespace crtoken
