// crtoken_token_state, crtoken_token_expiry_timestamp_seconds and
// crtoken_token_renewal_timestamp_seconds as Metrics::SetTokenStates keeps them.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "reconciler/metrics.h"

namespace crtoken {
namespace {

using std::chrono::seconds;

std::string Scrape(const Metrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

bool Has(const Metrics& m, const std::string& line) {
  return Scrape(m).find(line + "\n") != std::string::npos;
}

DeclaredTokenState Token(const std::string& registry, const std::string& token, TokenState state,
                         std::optional<Instant> expiry = std::nullopt,
                         std::optional<Instant> renewal = std::nullopt) {
  DeclaredTokenState t;
  t.registry = registry;
  t.registry_id = "rid-" + registry;
  t.token = token;
  t.state = state;
  t.registry_read = true;
  t.expiry = expiry;
  t.renewal = renewal;
  return t;
}

TEST(MetricsTokenState, OneSeriesPerTokenWithItsStateExpiryAndRenewal) {
  Metrics m;
  m.SetTokenStates("acme", {Token("acme", "ci-push", TokenState::kInSync, Instant{seconds{2000}},
                                  Instant{seconds{1500}}),
                            Token("acme", "puller", TokenState::kError)});
  EXPECT_TRUE(
      Has(m, "crtoken_token_state{registry=\"acme\",state=\"in_sync\",token=\"ci-push\"} 1"))
      << Scrape(m);
  EXPECT_TRUE(Has(m, "crtoken_token_state{registry=\"acme\",state=\"error\",token=\"puller\"} 1"));
  EXPECT_TRUE(
      Has(m, "crtoken_token_expiry_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} 2000"));
  EXPECT_TRUE(
      Has(m, "crtoken_token_renewal_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} 1500"));
  // No expiry, no lifetime: no expiry or renewal series.
  EXPECT_EQ(Scrape(m).find("_timestamp_seconds{registry=\"acme\",token=\"puller\"}"),
            std::string::npos);
}

TEST(MetricsTokenState, AChangedStateReplacesTheSeries) {
  Metrics m;
  m.SetTokenStates("acme", {Token("acme", "ci-push", TokenState::kError)});
  m.SetTokenStates("acme", {Token("acme", "ci-push", TokenState::kInSync)});
  const std::string text = Scrape(m);
  EXPECT_NE(
      text.find("crtoken_token_state{registry=\"acme\",state=\"in_sync\",token=\"ci-push\"} 1"),
      std::string::npos)
      << text;
  EXPECT_EQ(text.find("state=\"error\",token="), std::string::npos) << text;
}

TEST(MetricsTokenState, ATokenNoLongerDeclaredByItsScopeLosesEverySeries) {
  Metrics m;
  m.SetTokenStates("acme", {Token("acme", "ci-push", TokenState::kInSync, Instant{seconds{2000}},
                                  Instant{seconds{1500}}),
                            Token("acme", "puller", TokenState::kInSync)});
  m.SetTokenStates("beta", {Token("beta", "deployer", TokenState::kPending)});
  m.SetTokenStates("acme", {Token("acme", "puller", TokenState::kInSync)});
  const std::string text = Scrape(m);
  EXPECT_EQ(text.find("token=\"ci-push\""), std::string::npos) << text;
  EXPECT_NE(text.find("token=\"puller\""), std::string::npos);
  // Another scope's tokens stay.
  EXPECT_NE(
      text.find("crtoken_token_state{registry=\"beta\",state=\"pending\",token=\"deployer\"} 1"),
      std::string::npos);
}

TEST(MetricsTokenState, AnUnreadRegistryKeepsTheLastKnownExpiry) {
  Metrics m;
  m.SetTokenStates("acme", {Token("acme", "ci-push", TokenState::kInSync, Instant{seconds{2000}},
                                  Instant{seconds{1500}})});
  DeclaredTokenState unread = Token("acme", "ci-push", TokenState::kError);
  unread.registry_read = false;  // the list failed: the lifetime token's expiry is unknown
  m.SetTokenStates("acme", {unread});
  EXPECT_TRUE(Has(m, "crtoken_token_state{registry=\"acme\",state=\"error\",token=\"ci-push\"} 1"));
  EXPECT_TRUE(
      Has(m, "crtoken_token_expiry_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} 2000"));
  EXPECT_TRUE(
      Has(m, "crtoken_token_renewal_timestamp_seconds{registry=\"acme\",token=\"ci-push\"} 1500"));
}

TEST(MetricsTokenState, ClearingTheExpiryClearsTheRenewal) {
  Metrics m;
  m.SetTokenStates("acme", {Token("acme", "ci-push", TokenState::kInSync, Instant{seconds{2000}},
                                  Instant{seconds{1500}})});
  m.SetTokenExpiry("acme", "ci-push", std::nullopt);  // the token was deleted
  EXPECT_EQ(Scrape(m).find("_timestamp_seconds{registry=\"acme\",token=\"ci-push\"}"),
            std::string::npos)
      << Scrape(m);
}

}  // namespace
}  // namespace crtoken
