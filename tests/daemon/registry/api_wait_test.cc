// HttpRegistryApiConfig::on_wait: the client tells of each wait before it sleeps it (its own rate
// limit, a Retry-After), against a scripted server; and TokenBucket::Acquire's before_wait.
#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "daemon/registry/http_registry_api.h"
#include "daemon/registry/token_bucket.h"
#include "tests/support/raw_http_server.h"

namespace crtoken {
namespace {

using crtoken::test::RawHttpServer;
using crtoken::test::RawReply;
using nlohmann::json;
using std::chrono::milliseconds;

const char kReg[] = "0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11";
const char kTok[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

std::string TokenJson() {
  return json{{"id", kTok},
              {"type", "token"},
              {"href", ""},
              {"metadata", {{"state", "enabled"}}},
              {"properties",
               {{"name", "ci"},
                {"status", "enabled"},
                {"expiryDate", nullptr},
                {"credentials", {{"username", "ci"}, {"password", ""}}},
                {"scopes", json::array()}}}}
      .dump();
}

class ApiWaitTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpRegistryApi> MakeApi(double qps, int burst) {
    HttpRegistryApiConfig c;
    c.base_url = server_.url() + "/containerregistries";
    c.credentials = Credentials::Bearer("bearer-SECRET-token");
    c.qps = qps;
    c.burst = burst;
    c.jitter_seed = 1;
    c.on_wait = [this](const ApiWait& w) {
      std::lock_guard<std::mutex> lock(mu_);
      waits_.push_back(w);
    };
    auto api = HttpRegistryApi::Create(c);
    EXPECT_TRUE(api.ok());
    return std::move(api.value());
  }
  std::vector<ApiWait> Waits() {
    std::lock_guard<std::mutex> lock(mu_);
    return waits_;
  }

  RawHttpServer server_;
  std::mutex mu_;
  std::vector<ApiWait> waits_;
};

TEST_F(ApiWaitTest, RetryAfterIsToldWithItsDelayAndReason) {
  auto api = MakeApi(1000, 1000);
  RawReply limited = RawHttpServer::Json(429, R"({"httpStatus":429,"messages":[]})");
  limited.headers.push_back({"Retry-After", "1"});
  server_.Script({limited, RawHttpServer::Json(200, TokenJson())});
  ASSERT_TRUE(api->GetToken(kReg, kTok).ok());
  std::vector<ApiWait> waits = Waits();
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0].cause, ApiWait::Cause::kRetry);
  EXPECT_EQ(waits[0].delay, milliseconds(1000));
  EXPECT_NE(waits[0].reason.find("Retry-After"), std::string::npos) << waits[0].reason;
  EXPECT_EQ(waits[0].reason.find("SECRET"), std::string::npos) << waits[0].reason;
}

TEST_F(ApiWaitTest, TheClientRateLimitIsToldWhenItHoldsARequest) {
  auto api = MakeApi(20, 1);  // one request at once, then one per 50 ms
  server_.Script({RawHttpServer::Json(200, TokenJson()), RawHttpServer::Json(200, TokenJson())});
  ASSERT_TRUE(api->GetToken(kReg, kTok).ok());
  EXPECT_TRUE(Waits().empty());  // the burst let the first one go at once
  ASSERT_TRUE(api->GetToken(kReg, kTok).ok());
  std::vector<ApiWait> waits = Waits();
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0].cause, ApiWait::Cause::kRateLimit);
  EXPECT_GT(waits[0].delay, milliseconds(0));
  EXPECT_LE(waits[0].delay, milliseconds(50));
}

TEST(TokenBucketBeforeWaitTest, ToldOfEveryWaitBeforeItIsSlept) {
  std::chrono::steady_clock::time_point now{};
  std::vector<std::string> events;
  TokenBucket bucket(
      10, 1, [&] { return now; },
      [&](std::chrono::nanoseconds d) { events.push_back("sleep " + std::to_string(d.count())); });
  auto before = [&](std::chrono::nanoseconds d) {
    events.push_back("told " + std::to_string(d.count()));
  };
  bucket.Acquire(before);  // the burst: no wait, nothing told
  bucket.Acquire(before);
  EXPECT_EQ(events, (std::vector<std::string>{"told 100000000", "sleep 100000000"}));
}

}  // namespace
}  // namespace crtoken
