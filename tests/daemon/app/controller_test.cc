// The Controller's policy, driven like a worker would drive it (take a ready key, Pass, Done) on
// the real WorkQueue and Reconciler, with a fake clock, the in-memory registry and sink, and a spec
// source the test sets. Assertions are on end states: what the queue holds and
// when each key is due, readiness, the tokens in the fake registry.
#include "daemon/app/controller.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

TokenSpec Spec(const std::string& registry, const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.registry = registry;
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = registry + "-" + name + ".json";
  spec.source.file = "/specs/" + registry + ".yaml";
  return spec;
}

SpecSnapshot Snapshot(std::vector<TokenSpec> specs) {
  SpecSnapshot snap;
  snap.desired.specs = std::move(specs);
  snap.files = 1;
  return snap;
}

// The spec watcher's view, set by the test.
class FakeActivity : public SpecActivity {
 public:
  std::chrono::steady_clock::time_point last{};
  std::vector<std::string> open;
  std::chrono::steady_clock::time_point LastActivity() const override { return last; }
  std::vector<std::string> FilesBeingWritten(milliseconds) const override { return open; }
};

class ControllerTest : public ::testing::Test {
 protected:
  ControllerTest() {
    acme_ = api_.AddRegistry("acme", "acme.cr.de-fra.ionos.com");
    beta_ = api_.AddRegistry("beta", "beta.cr.de-txl.ionos.com");
  }

  void Make(ControllerOptions options = Options()) {
    ReconcilerConfig config;
    config.dry_run = options.dry_run;
    reconciler_ = std::make_unique<Reconciler>(api_, sink_, clock_, &metrics_, config);
    controller_ = std::make_unique<Controller>(
        options, [this] { return specs_; }, *reconciler_, metrics_, clock_);
    controller_->set_on_ready([this] { ++ready_calls_; });
  }

  static ControllerOptions Options() {
    ControllerOptions options;
    options.resync = seconds(60);
    options.prune_settle = seconds(3);
    options.backoff.jitter = 0;  // exact backoff delays
    return options;
  }

  WorkQueue& queue() { return controller_->queue(); }

  // Runs every key that is ready now, one at a time, as a worker does; returns them in order.
  std::vector<std::string> Drain() {
    std::vector<std::string> ran;
    for (int i = 0; i < 100; ++i) {
      auto key = queue().TryGet();
      if (!key) return ran;
      ran.push_back(*key);
      queue().Done(*key, controller_->Pass(*key));
    }
    ADD_FAILURE() << "the queue never ran dry";
    return ran;
  }

  void Advance(milliseconds d) { clock_.Advance(d); }

  // How long until the key is due; nullopt when it is not scheduled.
  std::optional<milliseconds> DueIn(const std::string& key) {
    auto at = queue().DueAt(key);
    if (!at) return std::nullopt;
    return std::chrono::duration_cast<milliseconds>(*at - clock_.Monotonic());
  }

  bool HasToken(const std::string& registry_id, const std::string& name) {
    return api_.Find(registry_id, name).has_value();
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  Metrics metrics_;
  SpecSnapshot specs_;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<Controller> controller_;
  int ready_calls_ = 0;
  std::string acme_, beta_;
};

TEST_F(ControllerTest, AConvergedPassThatWroteIsVerifiedSoonThenRequeuedAtTheResync) {
  specs_ = Snapshot({Spec("acme", "ci-push")});
  Make();
  controller_->Reload("start", true);
  EXPECT_EQ(Drain(), std::vector<std::string>{"acme"});
  EXPECT_TRUE(HasToken(acme_, "ci-push"));
  // The pass wrote: a verifying pass comes after 2s, not after the 60s resync.
  EXPECT_EQ(DueIn("acme"), milliseconds(2000));

  Advance(seconds(2));
  EXPECT_EQ(Drain(), std::vector<std::string>{"acme"});
  EXPECT_EQ(api_.puts, 1);  // the verifying pass found nothing to do
  EXPECT_EQ(DueIn("acme"), seconds(60));
}

TEST_F(ControllerTest, DryRunTakesAPendingPlanAsConvergedAndDoesNotVerify) {
  specs_ = Snapshot({Spec("acme", "ci-push")});
  ControllerOptions options = Options();
  options.dry_run = true;
  Make(options);
  controller_->Reload("start", true);
  EXPECT_EQ(Drain(), std::vector<std::string>{"acme"});
  EXPECT_FALSE(HasToken(acme_, "ci-push"));
  EXPECT_EQ(queue().Failures("acme"), 0);
  EXPECT_EQ(DueIn("acme"), seconds(60));
  EXPECT_TRUE(controller_->ready());
}

TEST_F(ControllerTest, ResyncMakesEveryKnownKeyReadyWhateverItsScheduleOrBackoff) {
  specs_ = Snapshot({Spec("acme", "ci-push"), Spec("beta", "puller")});
  Make();
  controller_->Reload("start", true);
  api_.fail_list[beta_] = Error{ErrorKind::kUnavailable, "list failed"};
  Drain();
  EXPECT_EQ(DueIn("acme"), milliseconds(2000));
  EXPECT_EQ(queue().Failures("beta"), 1);
  ASSERT_TRUE(DueIn("beta").has_value());
  EXPECT_EQ(queue().ReadyCount(), 0u);

  controller_->Resync();
  EXPECT_EQ(queue().ReadyCount(), 2u);
  EXPECT_EQ(DueIn("acme"), std::nullopt);
  EXPECT_EQ(DueIn("beta"), std::nullopt);
  api_.fail_list.clear();
  auto ran = Drain();
  std::sort(ran.begin(), ran.end());
  EXPECT_EQ(ran, (std::vector<std::string>{"acme", "beta"}));
  EXPECT_TRUE(HasToken(beta_, "puller"));
  EXPECT_EQ(queue().Failures("beta"), 0);
}

TEST_F(ControllerTest, ExpiryWakeUpComesJustAfterTheNearestExpiry) {
  TokenSpec spec = Spec("acme", "short-lived");
  spec.expiry = std::chrono::time_point_cast<seconds>(clock_.Now()) + seconds(30);
  specs_ = Snapshot({spec, Spec("acme", "forever")});
  Make();
  controller_->Reload("start", true);
  Drain();
  Advance(seconds(2));  // the verifying pass
  Drain();
  // 28s to the expiry, plus 1s: the service has deleted the token by then.
  EXPECT_EQ(DueIn("acme"), seconds(29));
}

TEST_F(ControllerTest, RenewalWakeUpComesAtTheRenewalTime) {
  TokenSpec spec = Spec("acme", "rotated");
  spec.lifetime = std::chrono::hours(1);
  spec.renew_before = std::chrono::minutes(10);
  specs_ = Snapshot({spec});
  ControllerOptions options = Options();
  options.resync = std::chrono::hours(2);
  Make(options);
  controller_->Reload("start", true);
  Drain();
  const std::string first_password = api_.Find(acme_, "rotated")->password;
  Advance(seconds(2));
  Drain();
  // Issued at t=0 for 1h, renewed 10m before: due at t=50m (+1s), not at the 2h resync.
  EXPECT_EQ(DueIn("acme"), std::chrono::minutes(50) - seconds(2) + seconds(1));

  Advance(*DueIn("acme"));
  Drain();
  ASSERT_TRUE(HasToken(acme_, "rotated"));
  EXPECT_NE(api_.Find(acme_, "rotated")->password, first_password);  // re-issued
}

TEST_F(ControllerTest, AFailingPassBacksOffPerKeyAndASuccessResetsIt) {
  specs_ = Snapshot({Spec("acme", "ci-push"), Spec("beta", "puller")});
  Make();
  controller_->Reload("start", true);
  api_.fail_list[beta_] = Error{ErrorKind::kUnavailable, "503 Service Unavailable"};
  Drain();
  EXPECT_EQ(queue().Failures("beta"), 1);
  // The pass asks to come back after its retry_soon (5s), longer than the first backoff (1s).
  EXPECT_EQ(DueIn("beta"), seconds(5));
  EXPECT_EQ(queue().Failures("acme"), 0);
  EXPECT_EQ(DueIn("acme"), seconds(2));

  // Backoff 1s, 2s, 4s (5s, the pass's wish, wins), then 8s: beta alone; acme keeps its schedule.
  for (int i = 0; i < 3; ++i) {
    Advance(seconds(5));
    Drain();
  }
  EXPECT_EQ(queue().Failures("beta"), 4);
  EXPECT_EQ(DueIn("beta"), seconds(8));
  EXPECT_EQ(queue().Failures("acme"), 0);
  EXPECT_EQ(DueIn("acme"), seconds(60 - 10));  // its verifying pass ran at t=5s

  api_.fail_list.clear();
  Advance(seconds(8));
  Drain();
  EXPECT_TRUE(HasToken(beta_, "puller"));
  EXPECT_EQ(queue().Failures("beta"), 0);
  EXPECT_EQ(DueIn("beta"), seconds(2));  // converged, wrote: verified soon
}

TEST_F(ControllerTest, AFailureThatRetryingWillNotFixWaitsAtLeastForTheResync) {
  specs_ = Snapshot({Spec("beta", "puller")});
  Make();
  controller_->Reload("start", true);
  api_.fail_list[beta_] = Error{ErrorKind::kUnauthorized, "403 Forbidden"};
  Drain();
  EXPECT_EQ(queue().Failures("beta"), 1);
  EXPECT_EQ(DueIn("beta"), seconds(60));
  EXPECT_TRUE(controller_->ready());
}

TEST_F(ControllerTest, AKeyNoLongerDeclaredIsForgottenWithItsBackoff) {
  specs_ = Snapshot({Spec("acme", "ci-push"), Spec("beta", "puller")});
  Make();
  controller_->Reload("start", true);
  api_.fail_list[beta_] = Error{ErrorKind::kUnavailable, "list failed"};
  Drain();
  ASSERT_EQ(queue().Failures("beta"), 1);
  ASSERT_TRUE(DueIn("beta").has_value());

  // beta's spec goes away; beta holds no token crtoken owns (its create never happened).
  specs_ = Snapshot({Spec("acme", "ci-push")});
  const int lists = api_.lists;
  controller_->Reload("files changed", true);
  EXPECT_EQ(Drain(), std::vector<std::string>{"beta"});
  EXPECT_EQ(api_.lists, lists) << "beta was dropped without a pass";
  EXPECT_EQ(queue().Failures("beta"), 0);
  EXPECT_EQ(DueIn("beta"), std::nullopt);

  // Nor does a resync bring it back.
  controller_->Resync();
  EXPECT_EQ(Drain(), std::vector<std::string>{"acme"});
}

TEST_F(ControllerTest, ARegistryWhoseOwnedTokensAreAllPrunedIsNotRequeued) {
  specs_ = Snapshot({Spec("acme", "ci-push"), Spec("beta", "puller")});
  Make();
  controller_->Reload("start", true);
  Drain();
  ASSERT_TRUE(HasToken(beta_, "puller"));
  Advance(seconds(3));
  Drain();  // verifying passes and the settle check

  specs_ = Snapshot({Spec("acme", "ci-push")});
  controller_->Reload("files changed", true);
  Drain();
  EXPECT_TRUE(HasToken(beta_, "puller"));  // the delete waits for the settle
  Advance(seconds(3));
  Drain();
  EXPECT_FALSE(HasToken(beta_, "puller"));
  EXPECT_EQ(DueIn(beta_), std::nullopt);
  EXPECT_EQ(DueIn("beta"), std::nullopt);
  EXPECT_EQ(queue().Failures(beta_), 0);
}

TEST_F(ControllerTest, ReadyOnceEveryKeyOfTheFirstLoadFinishedAPassEvenAFailedOne) {
  specs_ = Snapshot({Spec("acme", "ci-push"), Spec("beta", "puller")});
  Make();
  api_.fail_list[beta_] = Error{ErrorKind::kUnavailable, "list failed"};
  controller_->Reload("start", true);
  EXPECT_FALSE(controller_->ready());

  auto key = queue().TryGet();
  ASSERT_TRUE(key.has_value());
  queue().Done(*key, controller_->Pass(*key));
  EXPECT_FALSE(controller_->ready()) << "only " << *key << " has passed";

  Drain();
  EXPECT_TRUE(controller_->ready());
  EXPECT_EQ(queue().Failures("beta"), 1);
  // Later passes and reloads change nothing: the callback ran once.
  controller_->Reload("SIGHUP", false);
  controller_->Resync();
  Drain();
  EXPECT_TRUE(controller_->ready());
  EXPECT_EQ(ready_calls_, 1);
}

TEST_F(ControllerTest, ReadyAtOnceWhenTheFirstLoadHasNothingToDo) {
  specs_ = Snapshot({});
  Make();
  controller_->Reload("start", true);
  EXPECT_TRUE(controller_->ready());
  EXPECT_EQ(ready_calls_, 1);
  EXPECT_EQ(queue().ReadyCount(), 0u);
}

TEST_F(ControllerTest, PruneWaitsForTheSettleTimeThenRunsWithoutAResync) {
  specs_ = Snapshot({Spec("acme", "keep"), Spec("acme", "drop")});
  Make();
  controller_->Reload("start", true);
  Drain();
  Advance(seconds(3));
  Drain();  // the verifying pass, then the settle check of the start
  ASSERT_TRUE(HasToken(acme_, "drop"));

  specs_ = Snapshot({Spec("acme", "keep")});
  controller_->Reload("files changed", true);
  EXPECT_EQ(Drain(), std::vector<std::string>{"acme"});
  EXPECT_TRUE(HasToken(acme_, "drop"));
  EXPECT_EQ(DueIn(Controller::kSettleKey), seconds(3));

  Advance(milliseconds(2999));
  EXPECT_EQ(Drain(), std::vector<std::string>{});
  EXPECT_TRUE(HasToken(acme_, "drop"));

  // Settled: the settle check re-reads the same declarations and queues the waiting key at once.
  Advance(milliseconds(1));
  EXPECT_EQ(Drain(), (std::vector<std::string>{Controller::kSettleKey, "acme"}));
  EXPECT_FALSE(HasToken(acme_, "drop"));
  EXPECT_TRUE(HasToken(acme_, "keep"));
  EXPECT_EQ(DueIn("acme"), seconds(2));  // the delete wrote: verified soon
}

TEST_F(ControllerTest, ASettleCheckThatReadsOtherDeclarationsPutsThemInForceAndWaitsAgain) {
  specs_ = Snapshot({Spec("acme", "keep"), Spec("acme", "drop")});
  Make();
  controller_->Reload("start", true);
  Drain();
  Advance(seconds(3));
  Drain();

  specs_ = Snapshot({Spec("acme", "keep")});
  controller_->Reload("files changed", true);
  Drain();
  // The files change again and nobody reports it: the settle check's read sees it.
  specs_ = Snapshot({Spec("acme", "keep"), Spec("acme", "new")});
  Advance(seconds(3));
  Drain();
  EXPECT_TRUE(HasToken(acme_, "new"));   // created at once
  EXPECT_TRUE(HasToken(acme_, "drop"));  // the settle starts over
  EXPECT_EQ(DueIn(Controller::kSettleKey), seconds(3));

  Advance(seconds(3));
  Drain();
  EXPECT_FALSE(HasToken(acme_, "drop"));
}

TEST_F(ControllerTest, PruneAlsoWaitsForTheWatchersActivityAndOpenFiles) {
  specs_ = Snapshot({Spec("acme", "keep"), Spec("acme", "drop")});
  FakeActivity activity;
  Make();
  controller_->set_activity(&activity);
  controller_->Reload("start", true);
  Drain();
  Advance(seconds(3));
  Drain();

  specs_ = Snapshot({Spec("acme", "keep")});
  controller_->Reload("files changed", true);
  Drain();
  Advance(seconds(2));
  activity.last = clock_.Monotonic();  // an event the reload has not seen
  Advance(seconds(1));
  Drain();
  EXPECT_TRUE(HasToken(acme_, "drop"));
  EXPECT_EQ(DueIn(Controller::kSettleKey), seconds(2));  // 3s of quiet after the event

  activity.open = {"/specs/acme.yaml"};
  Advance(seconds(2));
  Drain();
  EXPECT_TRUE(HasToken(acme_, "drop"));
  EXPECT_EQ(DueIn(Controller::kSettleKey), seconds(3));

  activity.open.clear();
  Advance(seconds(3));
  Drain();
  EXPECT_FALSE(HasToken(acme_, "drop"));
}

TEST_F(ControllerTest, StatusIsEachKeysLastPassAndADroppedKeyLeavesIt) {
  specs_ = Snapshot({Spec("acme", "ci-push"), Spec("beta", "puller")});
  Make();
  EXPECT_FALSE(controller_->Status().ready);
  EXPECT_TRUE(controller_->Status().rows.empty());
  controller_->Reload("start", true);
  api_.fail_list[beta_] = Error{ErrorKind::kUnavailable, "list failed"};
  Drain();
  StatusView view = controller_->Status();
  EXPECT_TRUE(view.from_daemon);
  EXPECT_TRUE(view.ready);
  ASSERT_EQ(view.rows.size(), 2u);
  EXPECT_EQ(view.rows[0].token, "ci-push");
  EXPECT_EQ(view.rows[0].state, "in_sync");
  EXPECT_EQ(view.rows[1].token, "puller");
  EXPECT_EQ(view.rows[1].state, "error");
  ASSERT_FALSE(view.errors.empty());
  EXPECT_NE(view.errors[0].find("list failed"), std::string::npos) << view.errors[0];
  EXPECT_FALSE(view.AllInSync());

  // beta's spec goes: its key is dropped, and with it its rows and errors.
  specs_ = Snapshot({Spec("acme", "ci-push")});
  controller_->Reload("files changed", true);
  Drain();
  view = controller_->Status();
  ASSERT_EQ(view.rows.size(), 1u);
  EXPECT_EQ(view.rows[0].token, "ci-push");
  EXPECT_TRUE(view.errors.empty());
  EXPECT_TRUE(view.AllInSync());
}

}  // namespace
}  // namespace crtoken
