// Fault rules and the admin endpoints, through the real binary (EmulatorProcess), plus
// concurrency and connection handling.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/support/emulator_process.h"

namespace crtoken::test {
namespace {

using nlohmann::json;

const Headers kAuth = {{"Authorization", "Bearer t"}};

class FaultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<EmulatorProcess>(std::vector<std::string>{"--registry", "acme"});
    tokens_ = emu_->base_url() + "/registries/" + emu_->RegistryId("acme") + "/tokens";
  }
  HttpResult Get(const std::string& url) { return HttpCall("GET", url, kAuth); }
  HttpResult PostToken(const std::string& name) {
    return HttpCall("POST", tokens_, kAuth, json{{"properties", {{"name", name}}}}.dump());
  }
  HttpResult Admin(const std::string& method, const std::string& path, const std::string& body) {
    return HttpCall(method, emu_->root_url() + path, {}, body);
  }

  std::unique_ptr<EmulatorProcess> emu_;
  std::string tokens_;
};

TEST_F(FaultsTest, StatusRuleMatchesMethodAndAnswersTheSpecErrorBody) {
  emu_->AddFault({{"method", "POST"}, {"status", 503}});
  EXPECT_EQ(Get(tokens_).status, 200);  // other methods unaffected
  for (int i = 0; i < 3; ++i) {         // no `times`: forever
    HttpResult r = PostToken("t" + std::to_string(i) + "x");
    EXPECT_EQ(r.status, 503);
    json body = json::parse(r.body);
    EXPECT_EQ(body["httpStatus"], 503);
    EXPECT_TRUE(body["messages"][0]["errorCode"].is_string());
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    EXPECT_EQ(r.Header("Retry-After"), "");
  }
  EXPECT_TRUE(emu_->StateJson()["registries"][0]["tokens"].empty());  // nothing was created
  emu_->ClearFaults();
  EXPECT_EQ(PostToken("after").status, 201);
}

TEST_F(FaultsTest, PathRegexIsSearchedInPathAndQuery) {
  emu_->AddFault({{"path", "offset=100"}, {"status", 500}});
  EXPECT_EQ(Get(tokens_ + "?offset=0&limit=100").status, 200);
  EXPECT_EQ(Get(tokens_ + "?offset=100&limit=100").status, 500);
  emu_->ClearFaults();
  emu_->AddFault({{"path", "^/containerregistries/registries$"}, {"status", 502}});
  EXPECT_EQ(Get(emu_->base_url() + "/registries").status, 502);
  EXPECT_EQ(Get(tokens_).status, 200);
}

TEST_F(FaultsTest, TimesCountsDownThenTheRealAnswerReturns) {
  emu_->AddFault({{"method", "GET"}, {"status", 429}, {"retryAfter", 7}, {"times", 2}});
  HttpResult r = Get(tokens_);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.Header("Retry-After"), "7");  // a number is written as seconds
  EXPECT_EQ(Get(tokens_).status, 429);
  EXPECT_EQ(Get(tokens_).status, 200);
  json rules = json::parse(Admin("GET", "/_emulator/faults", "").body);
  EXPECT_EQ(rules[0]["hits"], 2);
  EXPECT_EQ(rules[0]["times"], 0);
  std::vector<RequestEntry> log = emu_->Requests();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].status, 429);
  EXPECT_EQ(log[2].status, 200);
}

TEST_F(FaultsTest, RetryAfterHttpDateIsPassedThrough) {
  const std::string date = "Wed, 21 Oct 2026 07:28:00 GMT";
  emu_->AddFault({{"status", 503}, {"retryAfter", date}, {"times", 1}});
  EXPECT_EQ(Get(tokens_).Header("Retry-After"), date);
}

TEST_F(FaultsTest, FirstMatchingRuleWins) {
  emu_->AddFault({{"method", "DELETE"}, {"status", 500}});
  emu_->AddFault({{"status", 504}, {"times", 1}});
  emu_->AddFault({{"status", 502}});
  EXPECT_EQ(Get(tokens_).status, 504);
  EXPECT_EQ(Get(tokens_).status, 502);
  EXPECT_EQ(HttpCall("DELETE", tokens_ + "/3fa85f64-5717-4562-b3fc-2c963f66afa6", kAuth).status,
            500);
}

TEST_F(FaultsTest, DelayDelaysTheRealAnswer) {
  emu_->AddFault({{"method", "POST"}, {"delayMs", 300}, {"times", 1}});
  auto start = std::chrono::steady_clock::now();
  HttpResult r = PostToken("slow");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.status, 201);  // the real answer, after the delay
  EXPECT_GE(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 300);
  EXPECT_EQ(emu_->StateJson()["registries"][0]["tokens"].size(), 1u);
}

// A delayed request is in flight during its delay and applied after it, even when its client is
// gone by then: /_emulator/inflight lets a test wait for it.
TEST_F(FaultsTest, ADelayedRequestIsInFlightUntilItIsAppliedAfterItsClientLeft) {
  EXPECT_EQ(emu_->InFlight(), 0);
  emu_->AddFault({{"method", "POST"}, {"delayMs", 800}, {"times", 1}});
  // The client gives up before the answer, as a killed one does.
  HttpResult r = HttpCall("POST", tokens_, kAuth, R"({"properties":{"name":"late"}})", 100);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(emu_->InFlight(), 1);
  EXPECT_TRUE(emu_->StateJson()["registries"][0]["tokens"].empty());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (emu_->InFlight() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(emu_->InFlight(), 0);
  const auto tokens = emu_->StateJson()["registries"][0]["tokens"];
  ASSERT_EQ(tokens.size(), 1u);
  EXPECT_EQ(tokens[0]["name"], "late");
}

TEST_F(FaultsTest, DelayWithStatusAnswersTheStatus) {
  emu_->AddFault({{"delayMs", 50}, {"status", 504}, {"times", 1}});
  EXPECT_EQ(Get(tokens_).status, 504);
}

TEST_F(FaultsTest, ResetDropsTheConnectionWithoutAnAnswerAndChangesNothing) {
  emu_->AddFault({{"method", "POST"}, {"reset", true}, {"times", 1}});
  HttpResult r = PostToken("lost");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connection reset");
  EXPECT_TRUE(emu_->StateJson()["registries"][0]["tokens"].empty());
  EXPECT_EQ(PostToken("lost").status, 201);
  std::vector<RequestEntry> log = emu_->Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].status, 0);
  EXPECT_EQ(log[1].status, 201);
}

TEST_F(FaultsTest, AfterApplyCommitsTheChangeThenLosesTheAnswer) {
  emu_->AddFault({{"method", "PUT"}, {"reset", true}, {"afterApply", true}, {"times", 1}});
  const std::string path = tokens_ + "/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f";
  const std::string body = json{{"properties", {{"name", "committed"}}}}.dump();
  HttpResult r = HttpCall("PUT", path, kAuth, body);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connection reset");
  json tokens = emu_->StateJson()["registries"][0]["tokens"];
  ASSERT_EQ(tokens.size(), 1u);  // the token exists: only its password never reached the client
  EXPECT_EQ(tokens[0]["name"], "committed");
  // A retried PUT with the same id finds the token: a replace, no password, no duplicate.
  HttpResult retry = HttpCall("PUT", path, kAuth, body);
  EXPECT_EQ(retry.status, 201);
  EXPECT_EQ(json::parse(retry.body)["properties"]["credentials"]["password"], "");
  EXPECT_EQ(emu_->StateJson()["registries"][0]["tokens"].size(), 1u);

  emu_->AddFault({{"method", "POST"}, {"status", 504}, {"afterApply", true}, {"times", 1}});
  EXPECT_EQ(PostToken("gateway-timeout").status, 504);
  EXPECT_EQ(emu_->StateJson()["registries"][0]["tokens"].size(), 2u);
  EXPECT_EQ(PostToken("gateway-timeout").status, 409);  // the blind retry of a POST
}

TEST_F(FaultsTest, ResetOnAKeptAliveConnection) {
  HttpConnection conn("127.0.0.1", emu_->port());
  std::string target = tokens_.substr(emu_->root_url().size());
  EXPECT_EQ(conn.Call("GET", target, kAuth).status, 200);
  emu_->AddFault({{"reset", true}, {"times", 1}});
  HttpResult r = conn.Call("GET", target, kAuth);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.error, "connection reset");
  EXPECT_EQ(conn.Call("GET", target, kAuth).status, 200);  // a new connection works
}

TEST_F(FaultsTest, BadRulesAreRefusedNamingTheField) {
  struct Case {
    std::string body, mentions;
  };
  for (const Case& c : std::vector<Case>{{R"({"status":"429"})", "status"},
                                         {R"({"status":99})", "status"},
                                         {R"({"path":"(","status":500})", "path"},
                                         {R"({"method":1,"status":500})", "method"},
                                         {R"({"delayMs":-1})", "delayMs"},
                                         {R"({"times":0,"status":500})", "times"},
                                         {R"({"reset":"yes"})", "reset"},
                                         {R"({"retryAfter":[1],"status":429})", "retryAfter"},
                                         {R"({"stauts":500})", "stauts"},
                                         {R"({"method":"GET"})", "effect"},
                                         {R"({"delayMs":5,"afterApply":true})", "afterApply"},
                                         {R"({"status":500,"afterApply":1})", "afterApply"},
                                         {R"({)", "JSON"}}) {
    HttpResult r = Admin("POST", "/_emulator/faults", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_NE(r.body.find(c.mentions), std::string::npos) << c.body << " -> " << r.body;
  }
  EXPECT_EQ(json::parse(Admin("GET", "/_emulator/faults", "").body).size(), 0u);
}

TEST_F(FaultsTest, AdminEndpoints) {
  EXPECT_EQ(Get(tokens_ + "?limit=5").status, 200);
  EXPECT_EQ(HttpCall("GET", tokens_).status, 401);
  std::vector<RequestEntry> log = emu_->Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].path, tokens_.substr(emu_->root_url().size()) + "?limit=5");
  EXPECT_EQ(log[1].status, 401);
  // Admin calls are not logged and need no credentials.
  EXPECT_EQ(emu_->Requests().size(), 2u);
  emu_->ClearRequests();
  EXPECT_TRUE(emu_->Requests().empty());

  EXPECT_EQ(Admin("POST", "/_emulator/clock", R"({"advanceSeconds":-5})").status, 400);
  EXPECT_EQ(Admin("POST", "/_emulator/clock", R"({"seconds":5})").status, 400);
  json before = json::parse(Admin("GET", "/_emulator/clock", "").body);
  HttpResult moved = Admin("POST", "/_emulator/clock", R"({"advanceSeconds":86400})");
  EXPECT_EQ(moved.status, 200);
  EXPECT_EQ(json::parse(moved.body)["offsetSeconds"], before["offsetSeconds"].get<int>() + 86400);
  EXPECT_EQ(Admin("GET", "/_emulator/nothing", "").status, 404);
  EXPECT_EQ(Admin("PUT", "/_emulator/state", "").status, 405);
}

TEST_F(FaultsTest, ConcurrentClientsSeeOneWinnerPerName) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> created{0}, conflicts{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      HttpConnection conn("127.0.0.1", emu_->port());
      std::string target = tokens_.substr(emu_->root_url().size());
      for (int i = 0; i < kPerThread; ++i) {
        // Every thread creates its own names and races for the shared ones.
        for (const std::string& name : {"own-" + std::to_string(t) + "-" + std::to_string(i),
                                        "shared-" + std::to_string(i)}) {
          int s = conn.Call("POST", target, kAuth, json{{"properties", {{"name", name}}}}.dump())
                      .status;
          (s == 201 ? created : s == 409 ? conflicts : other)++;
        }
        if (conn.Call("GET", target + "?limit=10", kAuth).status != 200) other++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(other, 0);
  EXPECT_EQ(created, kThreads * kPerThread + kPerThread);
  EXPECT_EQ(conflicts, (kThreads - 1) * kPerThread);
  json tokens = emu_->StateJson()["registries"][0]["tokens"];
  EXPECT_EQ(tokens.size(), static_cast<size_t>(kThreads * kPerThread + kPerThread));
  std::set<std::string> ids, names;
  for (const auto& t : tokens) {
    ids.insert(t["id"].get<std::string>());
    names.insert(t["name"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), tokens.size());
  EXPECT_EQ(names.size(), tokens.size());
  EXPECT_EQ(emu_->Requests().size(), static_cast<size_t>(kThreads * kPerThread * 3));
}

}  // namespace
}  // namespace crtoken::test
