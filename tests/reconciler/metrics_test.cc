#include "reconciler/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

namespace crtoken {
namespace {

// The exposition text, as a scrape would see it.
std::string Scrape(const Metrics& metrics) {
  return prometheus::TextSerializer().Serialize(metrics.registry()->Collect());
}

TEST(Metrics, ContractNamesAndLabels) {
  Metrics m;
  m.ObserveApiRequest("GET", 200, 0.01);
  m.ObserveApiRequest("PUT", 0, 0.5);
  m.ObserveReconcile(true, 0.2);
  m.CountTokenOperation(ActionType::kReissue, false);
  m.CountSecretWrite(SecretRef::Kind::kKubernetes, true);
  m.SetSpecErrors(2);
  m.SetLastSuccess(Instant{std::chrono::seconds{1800000000}});
  const std::string text = Scrape(m);
  EXPECT_NE(text.find("crtoken_api_requests_total{code=\"200\",method=\"GET\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("crtoken_api_requests_total{code=\"error\",method=\"PUT\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("crtoken_api_request_duration_seconds_count{method=\"GET\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("crtoken_reconcile_total{result=\"success\"} 1"), std::string::npos);
  EXPECT_NE(text.find("crtoken_reconcile_total{result=\"error\"} 0"), std::string::npos);
  EXPECT_NE(text.find("crtoken_reconcile_duration_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("crtoken_token_operations_total{operation=\"reissue\",result=\"error\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("crtoken_secret_writes_total{result=\"success\",sink=\"kubernetes\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("crtoken_spec_errors 2"), std::string::npos);
  EXPECT_NE(text.find("crtoken_last_success_timestamp_seconds 1800000000"), std::string::npos);
}

// Series a dashboard or an alert reads exist from the start at 0, so that a rate over them is 0
// rather than absent before the first rotation or the first fan-out write.
TEST(Metrics, RotationAndFanOutSeriesStartAtZero) {
  Metrics m;
  const std::string text = Scrape(m);
  for (const char* result : {"success", "error"}) {
    EXPECT_NE(text.find("crtoken_token_rotations_total{result=\"" + std::string(result) + "\"} 0"),
              std::string::npos)
        << text;
  }
  for (const char* result : {"written", "forbidden", "terminating", "missing", "failed"}) {
    EXPECT_NE(text.find("crtoken_secret_namespaces{result=\"" + std::string(result) + "\"} 0"),
              std::string::npos)
        << text;
  }
}

TEST(Metrics, TokenCountsSumOverScopes) {
  Metrics m;
  m.SetTokenCounts("acme-prod", PlanCounts{3, 1, 0, 2});
  m.SetTokenCounts("acme-dev", PlanCounts{1, 0, 1, 0});
  m.SetTokenCounts("acme-prod", PlanCounts{4, 0, 0, 2});  // replaces, does not add
  const std::string text = Scrape(m);
  EXPECT_NE(text.find("crtoken_tokens{state=\"in_sync\"} 5"), std::string::npos) << text;
  EXPECT_NE(text.find("crtoken_tokens{state=\"pending\"} 0"), std::string::npos);
  EXPECT_NE(text.find("crtoken_tokens{state=\"error\"} 1"), std::string::npos);
  EXPECT_NE(text.find("crtoken_tokens{state=\"unmanaged\"} 2"), std::string::npos);
}

TEST(Metrics, ExpirySeriesIsRemovedWhenCleared) {
  Metrics m;
  m.SetTokenExpiry("acme-prod", "ci-push", Instant{std::chrono::seconds{1830211200}});
  EXPECT_NE(Scrape(m).find("crtoken_token_expiry_timestamp_seconds{registry=\"acme-prod\",token="
                           "\"ci-push\"} 1830211200"),
            std::string::npos);
  m.SetTokenExpiry("acme-prod", "ci-push", std::nullopt);
  EXPECT_EQ(Scrape(m).find("token=\"ci-push\""), std::string::npos);
}

}  // namespace
}  // namespace crtoken
