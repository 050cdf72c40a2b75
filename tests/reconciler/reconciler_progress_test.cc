// ReconcilerConfig::on_progress: how far the actions of a pass have come, over the in-memory fakes.
#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "reconciler/reconciler.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

TokenSpec Spec(const std::string& name, const std::string& scope = "app/*") {
  TokenSpec spec;
  spec.name = name;
  spec.registry = "acme";
  spec.scopes = {Scope{scope, "repository", {"pull"}}};
  spec.secret.file = "acme-" + name + ".json";
  spec.source = SourceLocation{"/specs/" + name + ".yaml", 3, 9};
  return spec;
}

class ReconcilerProgressTest : public ::testing::Test {
 protected:
  ReconcilerProgressTest() {
    api_.AddRegistry("acme", "acme.cr.de-fra.ionos.com");
    ReconcilerConfig config;
    config.policy.owner = "crtoken";
    config.on_progress = [this](const PassProgress& p) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(p);
    };
    reconciler_ = std::make_unique<Reconciler>(api_, sink_, clock_, nullptr, config);
  }
  std::vector<PassProgress> Seen() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<PassProgress> out;
    out.swap(seen_);
    return out;
  }
  // done = 0, 1, ..., total, each once, in order, all with the same total.
  static void ExpectCountsUpTo(const std::vector<PassProgress>& seen, int total) {
    ASSERT_EQ(seen.size(), static_cast<size_t>(total + 1));
    for (int i = 0; i <= total; ++i) {
      EXPECT_EQ(seen[i].done, i);
      EXPECT_EQ(seen[i].total, total);
    }
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  std::mutex mu_;
  std::vector<PassProgress> seen_;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(ReconcilerProgressTest, EveryActionCountsOnceFailedOrNot) {
  DesiredState desired;
  for (int i = 0; i < 12; ++i) desired.specs.push_back(Spec("token-" + std::to_string(i)));
  api_.FailNext("PUT", Error{ErrorKind::kUnauthorized, "403 Forbidden"});
  PassResult result = reconciler_->Reconcile(desired);
  EXPECT_EQ(result.actions_failed, 1);
  ExpectCountsUpTo(Seen(), 12);
}

TEST_F(ReconcilerProgressTest, CountsUpdatesDeletesAndReissuesToo) {
  DesiredState desired;
  desired.specs = {Spec("keep"), Spec("change"), Spec("drop"), Spec("lost")};
  ASSERT_TRUE(reconciler_->Reconcile(desired).converged);
  Seen();
  desired.specs = {Spec("keep"), Spec("change", "other/*"), Spec("lost"), Spec("new")};
  sink_.EraseByHand(Spec("lost").secret.ToString());  // its password is lost: re-issued
  api_.FailNext("DELETE", Error{ErrorKind::kUnavailable, "503"});
  PassResult result = reconciler_->Reconcile(desired);
  ASSERT_EQ(result.plan.actions.size(), 4u) << ::testing::PrintToString(result.errors);
  EXPECT_EQ(result.actions_failed, 1);  // the first DELETE: the re-issue's or the prune's
  ExpectCountsUpTo(Seen(), 4);
}

TEST_F(ReconcilerProgressTest, NothingToDoOrADryRunReportsNothing) {
  DesiredState desired;
  desired.specs = {Spec("keep")};
  ASSERT_TRUE(reconciler_->Reconcile(desired).converged);
  Seen();
  EXPECT_TRUE(reconciler_->Reconcile(desired).converged);
  EXPECT_TRUE(Seen().empty());

  ReconcilerConfig config;
  config.policy.owner = "crtoken";
  config.dry_run = true;
  config.on_progress = [this](const PassProgress& p) {
    std::lock_guard<std::mutex> lock(mu_);
    seen_.push_back(p);
  };
  Reconciler dry(api_, sink_, clock_, nullptr, config);
  desired.specs.push_back(Spec("new"));
  EXPECT_EQ(dry.Reconcile(desired).plan.actions.size(), 1u);
  EXPECT_TRUE(Seen().empty());
}

}  // namespace
}  // namespace crtoken
