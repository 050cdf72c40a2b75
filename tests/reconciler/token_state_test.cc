#include "reconciler/token_state.h"

#include <gtest/gtest.h>

namespace crtoken {
namespace {

using std::chrono::hours;

const Instant kNow{std::chrono::seconds{1800000000}};

TokenSpec Spec(const std::string& registry_id, const std::string& name, int line) {
  TokenSpec spec;
  spec.name = name;
  spec.registry = "acme";
  spec.registry_id = registry_id;
  spec.secret.file = name + ".json";
  spec.source = SourceLocation{"/specs/tokens.yaml", line, 9};
  return spec;
}

Action ActionFor(ActionType type, const TokenSpec& spec) {
  Action a;
  a.type = type;
  a.key = TokenKey{spec.registry_id, spec.name};
  a.registry_name = "acme";
  a.spec = spec;
  a.reason = "not in the registry";
  return a;
}

class TokenStateTest : public ::testing::Test {
 protected:
  TokenStateTest() {
    ObservedRegistry acme;
    acme.info = RegistryInfo{"rid-acme", "acme", "acme.cr.de-fra.ionos.com", "Running"};
    observed_["rid-acme"] = acme;
    facts_.registry_names["rid-acme"] = "acme";
    facts_.observed = &observed_;
    facts_.plan = &plan_;
  }

  const DeclaredTokenState& Only() {
    states_ = DeclaredTokenStates(facts_);
    EXPECT_EQ(states_.size(), 1u);
    return states_.at(0);
  }

  std::map<std::string, ObservedRegistry> observed_;
  Plan plan_;
  PassFacts facts_;
  std::vector<DeclaredTokenState> states_;
};

TEST_F(TokenStateTest, NothingPlannedIsInSyncWithTheDeclaredExpiryAndNoRenewal) {
  TokenSpec spec = Spec("rid-acme", "ci-push", 3);
  spec.expiry = kNow + hours(48);
  facts_.specs = {spec};
  const DeclaredTokenState& s = Only();
  EXPECT_EQ(s.state, TokenState::kInSync);
  EXPECT_STREQ(TokenStateName(s.state), "in_sync");
  EXPECT_EQ(s.registry, "acme");
  EXPECT_EQ(s.registry_id, "rid-acme");
  EXPECT_EQ(s.token, "ci-push");
  EXPECT_TRUE(s.registry_read);
  EXPECT_EQ(s.expiry, kNow + hours(48));
  EXPECT_FALSE(s.renewal.has_value());
  EXPECT_EQ(s.detail, "");
  EXPECT_EQ(s.secret.ToString(), "file:ci-push.json");
}

TEST_F(TokenStateTest, APlannedActionIsPendingInADryRunAndDoneInAPassThatActed) {
  TokenSpec spec = Spec("rid-acme", "ci-push", 3);
  facts_.specs = {spec};
  plan_.actions = {ActionFor(ActionType::kCreate, spec)};
  facts_.acted = false;
  EXPECT_EQ(Only().state, TokenState::kPending);
  EXPECT_EQ(Only().detail,
            "create acme/ci-push (enabled, no expiry, 0 scopes) -> file:ci-push.json");
  facts_.acted = true;
  EXPECT_EQ(Only().state, TokenState::kInSync);
  EXPECT_EQ(Only().detail, "");
}

TEST_F(TokenStateTest, AFailedActionIsAnErrorSayingWhat) {
  TokenSpec spec = Spec("rid-acme", "ci-push", 3);
  facts_.specs = {spec};
  plan_.actions = {ActionFor(ActionType::kCreate, spec)};
  facts_.acted = true;
  facts_.failures[TokenKey{"rid-acme", "ci-push"}] = "PUT failed: 503 Service Unavailable";
  EXPECT_EQ(Only().state, TokenState::kError);
  EXPECT_EQ(Only().detail, "PUT failed: 503 Service Unavailable");
}

TEST_F(TokenStateTest, AProblemIsAnErrorOfTheSpecItNamesOnly) {
  // The same name declared twice: each declaration gets its own problem; a third spec is fine.
  TokenSpec first = Spec("rid-acme", "ci-push", 3);
  TokenSpec other = Spec("rid-acme", "puller", 20);
  facts_.specs = {first, other};
  plan_.problems = {
      Problem{TokenKey{"rid-acme", "ci-push"}, first.source, "token ci-push: a conflict"},
      Problem{TokenKey{"rid-acme", "puller"}, SourceLocation{"/specs/elsewhere.yaml", 3, 9},
              "token puller: declared elsewhere"}};
  states_ = DeclaredTokenStates(facts_);
  ASSERT_EQ(states_.size(), 2u);
  EXPECT_EQ(states_[0].state, TokenState::kError);
  EXPECT_EQ(states_[0].detail, "token ci-push: a conflict");
  EXPECT_EQ(states_[1].state, TokenState::kInSync);  // the problem is another declaration's
}

TEST_F(TokenStateTest, AHeldPasswordIsPendingNamingTheSecret) {
  TokenSpec spec = Spec("rid-acme", "ci-push", 3);
  facts_.specs = {spec};
  plan_.actions = {ActionFor(ActionType::kCreate, spec)};
  facts_.acted = true;
  facts_.held.insert(TokenKey{"rid-acme", "ci-push"});
  EXPECT_EQ(Only().state, TokenState::kPending);
  EXPECT_NE(Only().detail.find("held in memory"), std::string::npos) << Only().detail;
  EXPECT_NE(Only().detail.find("file:ci-push.json"), std::string::npos) << Only().detail;
}

TEST_F(TokenStateTest, ALifetimeTokenHasTheLiveTokensExpiryAndItsRenewal) {
  TokenSpec spec = Spec("rid-acme", "ci-push", 3);
  spec.lifetime = hours(90 * 24);
  spec.renew_before = hours(30 * 24);
  facts_.specs = {spec};
  ObservedToken live;
  live.id = "id-1";
  live.name = "ci-push";
  live.expiry = kNow + hours(60 * 24);
  observed_["rid-acme"].tokens.push_back(live);
  EXPECT_EQ(Only().expiry, kNow + hours(60 * 24));
  EXPECT_EQ(Only().renewal, kNow + hours(30 * 24));
  // Issued in this pass: the new token's expiry wins over the listed one.
  facts_.issued_expiry[TokenKey{"rid-acme", "ci-push"}] = kNow + hours(90 * 24);
  EXPECT_EQ(Only().expiry, kNow + hours(90 * 24));
  EXPECT_EQ(Only().renewal, kNow + hours(60 * 24));
}

TEST_F(TokenStateTest, AnUnreadRegistryLeavesALifetimeExpiryUnknown) {
  TokenSpec spec = Spec("rid-beta", "ci-push", 3);
  spec.registry = "";  // declared by id
  spec.lifetime = hours(24);
  spec.renew_before = hours(8);
  facts_.specs = {spec};
  facts_.registry_names["rid-beta"] = "beta";  // resolved, but its list failed
  const DeclaredTokenState& s = Only();
  EXPECT_FALSE(s.registry_read);
  EXPECT_EQ(s.registry, "beta");
  EXPECT_FALSE(s.expiry.has_value());
  EXPECT_FALSE(s.renewal.has_value());
}

TEST_F(TokenStateTest, AnUnresolvedRegistryIsNamedAsDeclared) {
  TokenSpec spec = Spec("", "ci-push", 3);
  spec.registry = "gamma";
  facts_.specs = {spec};
  plan_.problems = {Problem{TokenKey{"", "ci-push"}, spec.source,
                            "token ci-push: registry gamma could not be resolved"}};
  const DeclaredTokenState& s = Only();
  EXPECT_EQ(s.registry, "gamma");
  EXPECT_EQ(s.registry_id, "");
  EXPECT_FALSE(s.registry_read);
  EXPECT_EQ(s.state, TokenState::kError);
  EXPECT_EQ(s.detail, "token ci-push: registry gamma could not be resolved");
}

}  // namespace
}  // namespace crtoken
