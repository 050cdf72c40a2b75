// The state of each declared token after a pass (PassResult::tokens) and its metrics, over the
// in-memory fakes.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "reconciler/reconciler.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using std::chrono::hours;
using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

TokenSpec Spec(const std::string& registry, const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.registry = registry;
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.file = registry + "-" + name + ".json";
  spec.source = SourceLocation{"/specs/" + name + ".yaml", 3, 9};
  return spec;
}

class ReconcilerTokenStateTest : public ::testing::Test {
 protected:
  ReconcilerTokenStateTest() { acme_ = api_.AddRegistry("acme", "acme.cr.de-fra.ionos.com"); }

  std::unique_ptr<Reconciler> Make(bool dry_run = false) {
    ReconcilerConfig config;
    config.dry_run = dry_run;
    return std::make_unique<Reconciler>(api_, sink_, clock_, &metrics_, config);
  }
  std::string Scrape() {
    return prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
  }
  bool Has(const std::string& line) { return Scrape().find(line + "\n") != std::string::npos; }
  static std::string State(const std::string& token, const std::string& state) {
    return "crtoken_token_state{registry=\"acme\",state=\"" + state + "\",token=\"" + token +
           "\"} 1";
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  Metrics metrics_;
  std::string acme_;
};

TEST_F(ReconcilerTokenStateTest, AFailedCreateIsAnErrorUntilAPassSucceeds) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("acme", "puller")};
  api_.FailNext("PUT", Error{ErrorKind::kUnauthorized, "403 Forbidden"});
  auto r = Make();
  PassResult first = r->Reconcile(desired);
  ASSERT_EQ(first.tokens.size(), 2u);
  int errors = 0;
  for (const auto& t : first.tokens) {
    if (t.state != TokenState::kError) continue;
    ++errors;
    EXPECT_NE(t.detail.find("PUT failed"), std::string::npos) << t.detail;
    EXPECT_NE(t.detail.find("403 Forbidden"), std::string::npos) << t.detail;
    EXPECT_TRUE(Has(State(t.token, "error"))) << Scrape();
  }
  EXPECT_EQ(errors, 1);
  PassResult second = r->Reconcile(desired);
  ASSERT_TRUE(second.converged) << ::testing::PrintToString(second.errors);
  for (const auto& t : second.tokens) EXPECT_EQ(t.state, TokenState::kInSync) << t.token;
  EXPECT_TRUE(Has(State("ci-push", "in_sync"))) << Scrape();
  EXPECT_TRUE(Has(State("puller", "in_sync"))) << Scrape();
  EXPECT_EQ(Scrape().find("state=\"error\",token="), std::string::npos) << Scrape();
}

TEST_F(ReconcilerTokenStateTest, APasswordWaitingForItsHostnameIsPending) {
  api_.SetHostname(acme_, "");
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  auto r = Make();
  PassResult pass = r->Reconcile(desired);
  ASSERT_EQ(pass.tokens.size(), 1u);
  EXPECT_EQ(pass.tokens[0].state, TokenState::kPending);
  EXPECT_TRUE(Has(State("ci-push", "pending"))) << Scrape();
  api_.SetHostname(acme_, "acme.cr.de-fra.ionos.com");
  EXPECT_TRUE(r->Reconcile(desired).converged);
  EXPECT_TRUE(Has(State("ci-push", "in_sync"))) << Scrape();
}

TEST_F(ReconcilerTokenStateTest, ALifetimeTokenExportsItsRenewalAndLosesItsSeriesWhenPruned) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push")};
  desired.specs[0].lifetime = hours(48);
  desired.specs[0].renew_before = hours(16);
  auto r = Make();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  const auto issued = std::chrono::time_point_cast<std::chrono::seconds>(clock_.Now());
  const auto unix = [](Instant t) { return std::to_string(t.time_since_epoch().count()); };
  EXPECT_TRUE(Has("crtoken_token_renewal_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} " +
                  unix(issued + hours(32))))
      << Scrape();
  // After the renewal, the series moves on with the new token.
  clock_.Advance(hours(32));
  ASSERT_TRUE(r->Reconcile(desired).converged);
  EXPECT_TRUE(Has("crtoken_token_renewal_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} " +
                  unix(issued + hours(32 + 32))))
      << Scrape();
  EXPECT_TRUE(Has("crtoken_token_expiry_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} " +
                  unix(issued + hours(32 + 48))))
      << Scrape();
  desired.specs.clear();
  ASSERT_TRUE(r->Reconcile(desired).converged);
  EXPECT_EQ(Scrape().find("token=\"ci-push\""), std::string::npos) << Scrape();
}

TEST_F(ReconcilerTokenStateTest, ADryRunReportsPlannedWorkAsPendingAndExportsNothing) {
  DesiredState desired;
  desired.specs = {Spec("acme", "ci-push"), Spec("gamma", "lost")};  // gamma does not exist
  PassResult plan = Make(/*dry_run=*/true)->Reconcile(desired);
  ASSERT_EQ(plan.tokens.size(), 2u);
  EXPECT_EQ(plan.tokens[0].token, "ci-push");
  EXPECT_EQ(plan.tokens[0].state, TokenState::kPending);
  EXPECT_EQ(plan.tokens[0].detail.rfind("create acme/ci-push", 0), 0u) << plan.tokens[0].detail;
  EXPECT_EQ(plan.tokens[1].registry, "gamma");
  EXPECT_EQ(plan.tokens[1].state, TokenState::kError);
  EXPECT_NE(plan.tokens[1].detail.find("gamma"), std::string::npos) << plan.tokens[1].detail;
  EXPECT_EQ(Scrape().find("crtoken_token_state{"), std::string::npos) << Scrape();
}

}  // namespace
}  // namespace crtoken
