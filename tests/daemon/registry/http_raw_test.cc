// HttpRegistryApi against a scripted raw HTTP server: the exact bytes on the wire, garbage
// answers, resets at a precise point, and the log-capture check.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "daemon/app/runtime.h"
#include "daemon/common/base64.h"
#include "daemon/registry/http_registry_api.h"
#include "reconciler/metrics.h"
#include "reconciler/time_util.h"
#include "tests/support/raw_http_server.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using crtoken::test::RawHttpServer;
using crtoken::test::RawReply;
using nlohmann::json;

const char kReg[] = "0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11";
const char kTok[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

std::string TokenJson(const std::string& id, const std::string& name,
                      const std::string& password = "") {
  json j = {{"id", id},
            {"type", "token"},
            {"href", ""},
            {"metadata", {{"state", "enabled"}}},
            {"properties",
             {{"name", name},
              {"status", "enabled"},
              {"expiryDate", nullptr},
              {"credentials", {{"username", name}, {"password", password}}},
              {"scopes", json::array()}}}};
  return j.dump();
}

std::string ErrorJson(int status, const std::string& message) {
  return json{{"httpStatus", status}, {"messages", {{{"errorCode", "E1"}, {"message", message}}}}}
      .dump();
}

class HttpRawTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpRegistryApi> MakeApi(
      std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    HttpRegistryApiConfig c;
    c.base_url = server_.url() + "/containerregistries/";
    c.credentials = Credentials::Bearer("bearer-SECRET-token");
    c.qps = 1000;
    c.burst = 1000;
    c.request_timeout = timeout;
    c.retry.initial_backoff = std::chrono::milliseconds(1);
    c.retry.max_backoff = std::chrono::milliseconds(5);
    c.retry.max_attempts = 4;
    c.retry.retry_after_cap = std::chrono::seconds(3);
    c.jitter_seed = 1;
    c.metrics = &metrics_;
    auto api = HttpRegistryApi::Create(c);
    EXPECT_TRUE(api.ok());
    return std::move(api.value());
  }

  RawHttpServer server_;
  Metrics metrics_;
};

TEST_F(HttpRawTest, HeadersPathsAndKeepAlive) {
  auto api = MakeApi();
  std::vector<RawReply> replies;
  for (int i = 0; i < 200; ++i) replies.push_back(RawHttpServer::Json(200, TokenJson(kTok, "ci")));
  server_.Script(replies);
  for (int i = 0; i < 200; ++i) {
    auto t = api->GetToken(kReg, kTok);
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    EXPECT_EQ(t.value().name, "ci");
  }
  auto reqs = server_.Requests();
  ASSERT_EQ(reqs.size(), 200u);
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "GET");
    EXPECT_EQ(r.target, std::string("/containerregistries/registries/") + kReg + "/tokens/" + kTok);
    EXPECT_EQ(r.headers.at("authorization"), "Bearer bearer-SECRET-token");
    EXPECT_EQ(r.headers.at("accept"), "application/json");
    EXPECT_EQ(r.headers.at("user-agent"), std::string("crtoken/") + CRTOKEN_VERSION);
  }
  // Connections are reused (keep-alive). cpprest hands a connection back to its pool a moment
  // after the response completes, so a sequential caller sometimes opens a second or third one;
  // without keep-alive this would be 200.
  EXPECT_LE(server_.Connections(), 10);
}

TEST_F(HttpRawTest, CreateIsAPutWithTheBodyAndReturnsThePassword) {
  auto api = MakeApi();
  server_.Script({RawHttpServer::Json(201, TokenJson(kTok, "ci-push", "pw-once"))});
  TokenFields f;
  f.name = "ci-push";
  f.expiry = ParseRfc3339("2027-06-30T00:00:00Z");
  f.scopes = {{"app/*", "repository", {"pull", "push"}}};
  auto c = api->CreateToken(kReg, kTok, f);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c.value().password.Reveal(), "pw-once");
  auto reqs = server_.Requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].headers.at("content-type").rfind("application/json", 0), 0u);
  EXPECT_EQ(json::parse(reqs[0].body), json::parse(R"({"properties":{"name":"ci-push",
      "status":"enabled","expiryDate":"2027-06-30T00:00:00Z",
      "scopes":[{"name":"app/*","type":"repository","actions":["pull","push"]}]}})"));
}

TEST_F(HttpRawTest, CreateWithoutPasswordIsAnError) {
  auto api = MakeApi();
  server_.Script({RawHttpServer::Json(200, TokenJson(kTok, "ci-push", ""))});
  auto c =
      api->CreateToken(kReg, kTok, TokenFields{"ci-push", TokenStatus::kEnabled, std::nullopt, {}});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(c.error().message.find("without a password"), std::string::npos);
}

TEST_F(HttpRawTest, MalformedJsonIsUnavailableAndNotRetried) {
  auto api = MakeApi();
  server_.SetDefault(RawHttpServer::Json(200, R"({"id": "x", "properties": {"name": )"));
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(t.error().message.find("malformed response"), std::string::npos);
  EXPECT_NE(t.error().message.find("GET /registries/"), std::string::npos);
  EXPECT_EQ(server_.Requests().size(), 1u);

  server_.SetDefault(RawHttpServer::Json(200, "<html>Bad Gateway</html>"));
  auto list = api->ListTokens(kReg);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::kUnavailable);
}

TEST_F(HttpRawTest, NotHttpAtAllIsAConnectionErrorRetriedForGet) {
  auto api = MakeApi();
  RawReply garbage;
  garbage.raw = "SSH-2.0-OpenSSH_9.2\r\n\r\n";
  server_.SetDefault(garbage);
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(server_.Requests().size(), 4u);  // max_attempts
}

TEST_F(HttpRawTest, ResetOnGetIsRetried) {
  auto api = MakeApi();
  RawReply reset;
  reset.reset = true;
  server_.Script({reset, RawHttpServer::Json(200, TokenJson(kTok, "ci"))});
  auto t = api->GetToken(kReg, kTok);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(server_.Requests().size(), 2u);
}

TEST_F(HttpRawTest, ResetOnPostIsNotRetried) {
  auto api = MakeApi();
  // A GET first, so that a pooled keep-alive connection exists: cpprest re-sends a request whose
  // reused connection turns out dead, and a POST must not be re-sent even then.
  server_.Script({RawHttpServer::Json(200, TokenJson(kTok, "ci"))});
  ASSERT_TRUE(api->GetToken(kReg, kTok).ok());
  RawReply reset;
  reset.reset = true;
  server_.Script({reset, RawHttpServer::Json(201, TokenJson(kTok, "ci", "pw"))});
  const std::string body = R"({"properties":{"name":"ci","status":"enabled","scopes":[]}})";
  auto r = api->Call(HttpMethod::kPost, std::string("/registries/") + kReg + "/tokens", &body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  auto reqs = server_.Requests();
  ASSERT_EQ(reqs.size(), 2u);                         // the GET and one POST
  EXPECT_NE(reqs[1].connection, reqs[0].connection);  // the POST took a fresh connection

  // A second POST after a successful one is still not re-sent.
  server_.Script({RawHttpServer::Json(201, TokenJson(kTok, "ci", "pw")), reset,
                  RawHttpServer::Json(201, TokenJson(kTok, "ci2", "pw"))});
  ASSERT_TRUE(
      api->Call(HttpMethod::kPost, std::string("/registries/") + kReg + "/tokens", &body).ok());
  EXPECT_FALSE(
      api->Call(HttpMethod::kPost, std::string("/registries/") + kReg + "/tokens", &body).ok());
  EXPECT_EQ(server_.Requests().size(), 4u);
}

TEST_F(HttpRawTest, DeadlineCancelsASlowAnswer) {
  auto api = MakeApi(std::chrono::milliseconds(300));
  RawReply slow = RawHttpServer::Json(200, TokenJson(kTok, "slow-answer"));
  slow.delay_ms = 10000;
  server_.Script({slow, RawHttpServer::Json(200, TokenJson(kTok, "second-attempt"))});
  auto t = api->GetToken(kReg, kTok);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t.value().name, "second-attempt");  // the slow answer was never waited for
  EXPECT_EQ(server_.Requests().size(), 2u);

  // A POST past its deadline is not repeated.
  server_.Script({slow, RawHttpServer::Json(201, TokenJson(kTok, "ci", "pw"))});
  const std::string body = "{}";
  auto r = api->Call(HttpMethod::kPost, std::string("/registries/") + kReg + "/tokens", &body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(r.error().message.find("timeout"), std::string::npos);
  EXPECT_EQ(server_.Requests().size(), 3u);
}

TEST_F(HttpRawTest, ShutdownEndsRetryWaits) {
  auto api = MakeApi();  // Retry-After cap 3 s
  RawReply limited = RawHttpServer::Json(429, ErrorJson(429, "slow down"));
  limited.headers.push_back({"Retry-After", "3"});
  server_.Script({limited, RawHttpServer::Json(200, TokenJson(kTok, "ci"))});
  std::optional<Result<ObservedToken>> result;
  std::thread caller([&] { result.emplace(api->GetToken(kReg, kTok)); });
  while (server_.Requests().empty()) std::this_thread::yield();  // the first attempt is in
  api->Shutdown();
  caller.join();
  ASSERT_TRUE(result.has_value());
  ASSERT_FALSE(result->ok());  // without Shutdown, the retry after 3 s would have succeeded
  EXPECT_EQ(result->error().kind, ErrorKind::kRateLimited);
  EXPECT_EQ(server_.Requests().size(), 1u);
  auto later = api->GetToken(kReg, kTok);
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.error().message.find("shutting down"), std::string::npos);
  EXPECT_EQ(server_.Requests().size(), 1u);
}

TEST_F(HttpRawTest, InvalidIdsSendNothing) {
  auto api = MakeApi();
  auto t = api->GetToken("../../x", kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::kInvalid);
  EXPECT_FALSE(api->DeleteToken(kReg, "not-a-uuid").ok());
  EXPECT_FALSE(api->ListTokens("").ok());
  EXPECT_TRUE(server_.Requests().empty());
}

TEST_F(HttpRawTest, AFailedPageFailsTheWholeList) {
  auto api = MakeApi();
  json page1 = {{"count", 1},
                {"limit", 100},
                {"offset", 0},
                {"total", 2},
                {"items", json::array({json::parse(TokenJson(kTok, "a1"))})}};
  server_.Script({RawHttpServer::Json(200, page1.dump()),
                  RawHttpServer::Json(500, ErrorJson(500, "database on fire"))});
  auto list = api->ListTokens(kReg);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(list.error().message.find("database on fire"), std::string::npos);
  EXPECT_NE(list.error().message.find("offset=1"), std::string::npos);
}

TEST_F(HttpRawTest, StatusesMapToKinds) {
  auto api = MakeApi();
  const std::vector<std::pair<int, ErrorKind>> cases = {
      {400, ErrorKind::kInvalid},      {422, ErrorKind::kInvalid},
      {401, ErrorKind::kUnauthorized}, {403, ErrorKind::kUnauthorized},
      {404, ErrorKind::kNotFound},     {409, ErrorKind::kConflict},
      {429, ErrorKind::kRateLimited},  {500, ErrorKind::kUnavailable},
      {503, ErrorKind::kUnavailable}};
  for (const auto& [status, kind] : cases) {
    server_.SetDefault(
        RawHttpServer::Json(status, ErrorJson(status, "api says " + std::to_string(status))));
    auto t = api->GetToken(kReg, kTok);
    ASSERT_FALSE(t.ok()) << status;
    EXPECT_EQ(t.error().kind, kind) << status << " " << t.error().ToString();
    EXPECT_NE(t.error().message.find("api says " + std::to_string(status)), std::string::npos);
    EXPECT_NE(t.error().message.find(std::string("GET /registries/") + kReg), std::string::npos);
  }
}

TEST_F(HttpRawTest, MetricsCountEveryAttempt) {
  auto api = MakeApi();
  server_.Script({RawHttpServer::Json(503, ErrorJson(503, "busy")),
                  RawHttpServer::Json(200, TokenJson(kTok, "ci"))});
  ASSERT_TRUE(api->GetToken(kReg, kTok).ok());
  double c200 = 0, c503 = 0;
  for (const auto& family : metrics_.registry()->Collect()) {
    if (family.name != "crtoken_api_requests_total") continue;
    for (const auto& m : family.metric) {
      std::string code, method;
      for (const auto& l : m.label) {
        if (l.name == "code") code = l.value;
        if (l.name == "method") method = l.value;
      }
      if (method == "GET" && code == "200") c200 = m.counter.value;
      if (method == "GET" && code == "503") c503 = m.counter.value;
    }
  }
  EXPECT_EQ(c200, 1);
  EXPECT_EQ(c503, 1);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_ = crtoken::test::MakeSelfSignedCert(dir_.path().string());
    server_ = std::make_unique<RawHttpServer>(cert_);
    server_->SetDefault(RawHttpServer::Json(200, TokenJson(kTok, "over-tls")));
  }
  void TearDown() override { server_.reset(); }
  HttpRegistryApiConfig Config() {
    HttpRegistryApiConfig c;
    c.base_url = server_->url() + "/containerregistries";
    c.credentials = Credentials::Bearer("t");
    c.retry.max_attempts = 2;
    c.retry.initial_backoff = std::chrono::milliseconds(1);
    c.retry.max_backoff = std::chrono::milliseconds(2);
    return c;
  }
  crtoken::test::TempDir dir_{"crtoken-tls"};
  crtoken::test::TestCert cert_;
  std::unique_ptr<RawHttpServer> server_;
};

TEST_F(TlsTest, VerifiedAgainstCaFile) {
  HttpRegistryApiConfig c = Config();
  c.ca_file = cert_.cert_file;
  auto api = HttpRegistryApi::Create(c);
  ASSERT_TRUE(api.ok()) << api.error().ToString();
  auto t = api.value()->GetToken(kReg, kTok);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
  EXPECT_EQ(t.value().name, "over-tls");
  EXPECT_EQ(server_->Requests().size(), 1u);
}

TEST_F(TlsTest, UnknownCaIsRefused) {
  auto api = HttpRegistryApi::Create(Config());
  ASSERT_TRUE(api.ok());
  auto t = api.value()->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(server_->Requests().empty());  // no request ever reached the untrusted server
}

TEST_F(TlsTest, InsecureSkipsVerification) {
  HttpRegistryApiConfig c = Config();
  c.insecure_skip_tls_verify = true;
  auto api = HttpRegistryApi::Create(c);
  ASSERT_TRUE(api.ok());
  auto t = api.value()->GetToken(kReg, kTok);
  ASSERT_TRUE(t.ok()) << t.error().ToString();
}

TEST_F(TlsTest, BadCaFileIsAStartupError) {
  HttpRegistryApiConfig c = Config();
  c.ca_file = cert_.key_file;  // a key, not a certificate
  auto api = HttpRegistryApi::Create(c);
  ASSERT_FALSE(api.ok());
  EXPECT_EQ(api.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(api.error().message.find("no PEM certificate"), std::string::npos);
  c.ca_file = (dir_ / "absent.pem").string();
  EXPECT_FALSE(HttpRegistryApi::Create(c).ok());
}

TEST_F(HttpRawTest, LogsNeverCarrySecrets) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto logger = std::make_shared<spdlog::logger>("capture", sink);
  logger->set_level(spdlog::level::trace);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  {
    HttpRegistryApiConfig c;
    c.base_url = server_.url() + "/containerregistries";
    c.credentials = Credentials::Basic("api-user", "basic-SECRET-pw");
    c.retry.initial_backoff = std::chrono::milliseconds(1);
    c.retry.max_backoff = std::chrono::milliseconds(2);
    c.retry.max_attempts = 2;
    auto api = HttpRegistryApi::Create(c);
    ASSERT_TRUE(api.ok());
    RawReply reset;
    reset.reset = true;
    server_.Script({RawHttpServer::Json(503, ErrorJson(503, "busy")),
                    RawHttpServer::Json(201, TokenJson(kTok, "ci-push", "token-SECRET-pw")),
                    RawHttpServer::Json(401, ErrorJson(401, "bad credentials")), reset, reset,
                    RawHttpServer::Json(200, "{\"password\":\"token-SECRET-pw\" garbage")});
    ASSERT_TRUE(api.value()
                    ->CreateToken(kReg, kTok,
                                  TokenFields{"ci-push", TokenStatus::kEnabled, std::nullopt, {}})
                    .ok());
    // What the callers will log: every error message (401, resets, the garbled body quoting the
    // password). cpprest re-sends once on a reused connection that died, so the resets may take
    // one call or two; all three calls fail either way.
    for (int i = 0; i < 3; ++i) {
      auto t = api.value()->GetToken(kReg, kTok);
      ASSERT_FALSE(t.ok());
      spdlog::error("call failed: {}", t.error().ToString());
    }
  }
  {
    // The factory's startup lines: the insecure warning, and credentials described, not shown.
    Options o;
    o.api_url = server_.url() + "/containerregistries";
    o.insecure_skip_tls_verify = true;
    auto api =
        MakeHttpRegistryApi(o, nullptr, [](const std::string& k) -> std::optional<std::string> {
          if (k == "IONOS_USERNAME") return "api-user";
          if (k == "IONOS_PASSWORD") return "basic-SECRET-pw";
          return std::nullopt;
        });
    ASSERT_TRUE(api.ok());
  }
  spdlog::set_default_logger(previous);
  const std::string logs = captured.str();
  EXPECT_NE(logs.find("--insecure-skip-tls-verify"), std::string::npos) << logs;
  EXPECT_NE(logs.find("Basic auth from the environment"), std::string::npos) << logs;
  EXPECT_NE(logs.find("PUT /registries/"), std::string::npos) << logs;  // the capture works
  EXPECT_NE(logs.find("503"), std::string::npos) << logs;
  for (const std::string& secret : {std::string("basic-SECRET-pw"), std::string("token-SECRET-pw"),
                                    Base64Encode("api-user:basic-SECRET-pw"),
                                    std::string("Authorization"), std::string("Bearer ")}) {
    EXPECT_EQ(logs.find(secret), std::string::npos) << secret << " in:\n" << logs;
  }
}

}  // namespace
}  // namespace crtoken
