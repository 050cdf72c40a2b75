// The cpprest clients (the registry API and the Kubernetes sink) against a hostile server: one
// that redirects elsewhere, floods, lies about lengths, pages inconsistently, or cannot be
// reached, and what a one-shot command then says. End states: what the second host received, the
// errors' kinds and texts, how many requests were made.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/registry/http_registry_api.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "tests/support/raw_http_server.h"
#include "tests/support/scripted_clients.h"

namespace crtoken {
namespace {

using crtoken::test::RawHttpServer;
using crtoken::test::RawReply;
using nlohmann::json;

constexpr const char* kReg = test::kScriptedRegistryId;
constexpr const char* kTok = test::kScriptedTokenId;

json Token(const std::string& id, const std::string& name) {
  return {{"id", id},
          {"type", "token"},
          {"properties", {{"name", name}, {"status", "enabled"}, {"scopes", json::array()}}}};
}

// A UUID-shaped id for token number `n`.
std::string TokenId(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

// One page of a token list: tokens [first, first + count) of a list of `total`.
RawReply Page(int64_t offset, int first, int count, int64_t total) {
  json items = json::array();
  for (int i = first; i < first + count; ++i)
    items.push_back(Token(TokenId(i), "t" + std::to_string(i)));
  return RawHttpServer::Json(
      200,
      json{{"count", count}, {"offset", offset}, {"limit", 100}, {"total", total}, {"items", items}}
          .dump());
}

RawReply Redirect(int status, const std::string& location) {
  RawReply r = RawHttpServer::Json(status, "{}");
  if (!location.empty()) r.headers.push_back({"Location", location});
  return r;
}

HttpRegistryApiConfig Config(const std::string& url) { return test::ScriptedRegistryConfig(url); }

std::unique_ptr<HttpRegistryApi> MakeApi(const HttpRegistryApiConfig& config) {
  auto api = HttpRegistryApi::Create(config);
  EXPECT_TRUE(api.ok()) << api.error().ToString();
  return std::move(api.value());
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// --- redirects: never followed, the credential never leaves --api-url's origin ----------------

TEST(HostileServerTest, NoRedirectIsFollowedToAnotherHost) {
  RawHttpServer api_server;
  RawHttpServer elsewhere("127.0.0.2");  // another host, which must never hear from crtoken
  elsewhere.SetDefault(RawHttpServer::Json(200, Token(kTok, "stolen").dump()));
  auto api = MakeApi(Config(api_server.url()));
  for (int status : {301, 302, 303, 307, 308}) {
    SCOPED_TRACE(status);
    api_server.SetDefault(Redirect(status, elsewhere.url() + "/containerregistries/registries/" +
                                               kReg + "/tokens/" + kTok + "?key=SECRET-in-query"));
    const size_t before = api_server.Requests().size();
    auto t = api->GetToken(kReg, kTok);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.error().kind, ErrorKind::kInvalid) << "the API URL needs fixing";
    const std::string& m = t.error().message;
    EXPECT_TRUE(Contains(m, "redirect to " + elsewhere.url())) << m;
    EXPECT_TRUE(Contains(m, "not followed")) << m;
    EXPECT_FALSE(Contains(m, "SECRET-in-query")) << m;  // only the origin is named
    EXPECT_EQ(api_server.Requests().size(), before + 1) << "a redirect is final: not retried";
  }
  // The same for every kind of call: the lists, a registry read, a create, a delete.
  api_server.SetDefault(Redirect(307, elsewhere.url() + "/x"));
  EXPECT_FALSE(api->ListTokens(kReg).ok());
  EXPECT_FALSE(api->ListRegistries().ok());
  EXPECT_FALSE(api->GetRegistry(kReg).ok());
  EXPECT_FALSE(
      api->CreateToken(kReg, kTok, TokenFields{"ci", TokenStatus::kEnabled, std::nullopt, {}})
          .ok());
  EXPECT_FALSE(api->DeleteToken(kReg, kTok).ok());
  EXPECT_EQ(elsewhere.Connections(), 0);
  EXPECT_TRUE(elsewhere.Requests().empty());
}

TEST(HostileServerTest, RedirectToTheSameHostOrWithoutLocationIsNotFollowedEither) {
  RawHttpServer api_server;
  auto api = MakeApi(Config(api_server.url()));
  api_server.Script({Redirect(307, api_server.url() + "/containerregistries/elsewhere")});
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "redirect to " + api_server.url())) << t.error().message;
  // A relative Location is a redirect too.
  api_server.Script({Redirect(302, "/containerregistries/elsewhere")});
  t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "relative location")) << t.error().message;
  api_server.Script({Redirect(302, "")});
  t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "redirect without a Location")) << t.error().message;
  auto requests = api_server.Requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    EXPECT_EQ(r.target, std::string("/containerregistries/registries/") + kReg + "/tokens/" + kTok);
  }
}

TEST(HostileServerTest, HttpsRedirectToAnotherHostIsNotFollowed) {
  char tmpl[] = "/tmp/crtoken-redirect-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  {
    auto cert = crtoken::test::MakeSelfSignedCert(dir);
    RawHttpServer api_server(cert);
    RawHttpServer elsewhere("127.0.0.2");
    api_server.SetDefault(Redirect(302, "https://127.0.0.2:" + std::to_string(elsewhere.port()) +
                                            "/containerregistries/registries"));
    HttpRegistryApiConfig c = Config(api_server.url());
    c.ca_file = cert.cert_file;
    auto api = MakeApi(c);
    auto t = api->GetToken(kReg, kTok);
    ASSERT_FALSE(t.ok());
    EXPECT_TRUE(Contains(t.error().message, "redirect to https://127.0.0.2:")) << t.error().message;
    EXPECT_EQ(api_server.Requests().size(), 1u);
    EXPECT_EQ(elsewhere.Connections(), 0);
  }
  std::filesystem::remove_all(dir);
}

TEST(HostileServerTest, KubernetesClientFollowsNoRedirect) {
  RawHttpServer api_server;
  RawHttpServer elsewhere("127.0.0.2");
  api_server.SetDefault(Redirect(302, elsewhere.url() + "/api/v1/namespaces/team-a/secrets/s"));
  auto sink = test::ScriptedKubernetesSink(api_server.url(), 2);
  ASSERT_TRUE(sink.ok()) << sink.error().ToString();
  const SecretRef ref = test::ScriptedSecretRef();
  auto state = sink.value()->Inspect(ref);
  ASSERT_FALSE(state.ok());
  EXPECT_TRUE(Contains(state.error().message, "redirect to " + elsewhere.url()))
      << state.error().message;
  DockerCredential cred;
  cred.hostname = "reg.example";
  cred.username = "u";
  cred.password = Password("pw-SECRET");
  EXPECT_FALSE(sink.value()->Write(ref, cred).ok());
  EXPECT_FALSE(sink.value()->Delete(ref).ok());
  EXPECT_EQ(elsewhere.Connections(), 0);
  for (const auto& r : api_server.Requests()) EXPECT_EQ(r.target.rfind("/api/v1/", 0), 0u);
}

// --- bodies: capped, never read whole --------------------------------------------------------

// A valid token answer padded with spaces to exactly `size` bytes.
std::string PaddedToken(size_t size) {
  std::string body = Token(kTok, "padded").dump();
  body.resize(size, ' ');
  return body;
}

TEST(HostileServerTest, BodyAtTheCapIsReadAndOneByteMoreIsNot) {
  RawHttpServer server;
  auto api = MakeApi(Config(server.url()));
  server.Script({RawHttpServer::Json(200, PaddedToken(kMaxResponseBodyBytes)),
                 RawHttpServer::Json(200, PaddedToken(kMaxResponseBodyBytes + 1))});
  auto at_cap = api->GetToken(kReg, kTok);
  ASSERT_TRUE(at_cap.ok()) << at_cap.error().ToString();
  EXPECT_EQ(at_cap.value().name, "padded");
  auto over = api->GetToken(kReg, kTok);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(Contains(over.error().message,
                       "exceeds the limit of " + std::to_string(kMaxResponseBodyBytes) + " bytes"))
      << over.error().message;
  EXPECT_EQ(server.Requests().size(), 2u) << "a flood is not asked for again";
}

TEST(HostileServerTest, ContentLengthOverTheCapIsRefusedBeforeTheBody) {
  RawHttpServer server;
  auto api = MakeApi(Config(server.url()));
  // Announces 100 MB and sends one byte: waiting for the body would end in the 5 s deadline.
  RawReply huge;
  huge.raw =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n{";
  server.SetDefault(huge);
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "of 104857600 bytes (Content-Length) exceeds the limit"))
      << t.error().message;
}

TEST(HostileServerTest, EndlessChunkedBodyIsAbandonedAtTheCap) {
  RawHttpServer server;
  auto api = MakeApi(Config(server.url()));
  RawReply flood;
  flood.endless = true;
  server.SetDefault(flood);
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "exceeds the limit")) << t.error().message;
  EXPECT_EQ(server.Requests().size(), 1u);
  // The client hung up: the flood ends, a few socket buffers past the cap.
  for (int i = 0; i < 500 && server.EndlessActive() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(server.EndlessActive(), 0) << "the connection stayed open";
  EXPECT_LT(server.EndlessBytesSent(), int64_t{64} << 20);
}

TEST(HostileServerTest, BodyWithoutContentLengthIsCappedWhileRead) {
  RawHttpServer server;
  auto api = MakeApi(Config(server.url()));
  RawReply unannounced;
  unannounced.close_delimited = true;
  unannounced.body = PaddedToken(10 << 20);
  server.SetDefault(unannounced);
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "exceeds the limit")) << t.error().message;
  // A Content-Length that claims less than what follows: the answer ends where it says.
  RawReply short_claim;
  short_claim.raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" +
                    std::string(1 << 20, 'x');
  server.SetDefault(short_claim);
  t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "malformed response")) << t.error().message;
}

TEST(HostileServerTest, KubernetesClientCapsBodies) {
  RawHttpServer server;
  RawReply flood;
  flood.endless = true;
  server.SetDefault(flood);
  auto sink = test::ScriptedKubernetesSink(server.url(), 1);
  ASSERT_TRUE(sink.ok());
  const SecretRef ref = test::ScriptedSecretRef();
  auto state = sink.value()->Inspect(ref);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(Contains(state.error().message, "exceeds the limit")) << state.error().message;
}

// --- token lists: pages that disagree are read again, then refused ---------------------------

TEST(HostileServerTest, TotalChangingBetweenPagesRereadsTheWholeList) {
  RawHttpServer server;
  auto api = MakeApi(Config(server.url()));
  // Reading 1: token 0 is deleted while page 2 is read; page 2 then starts at token 101, token
  // 100 is never seen, yet the distinct count (249) equals the last total. Only the totals show it.
  // Reading 2: the list as it is now, 249 tokens 1..249.
  server.Script({Page(0, 0, 100, 250), Page(100, 101, 100, 249), Page(200, 201, 49, 249),
                 Page(0, 1, 100, 249), Page(100, 101, 100, 249), Page(200, 201, 49, 249)});
  auto list = api->ListTokens(kReg);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list.value().size(), 249u);
  bool has100 = false;
  for (const auto& t : list.value()) has100 = has100 || t.id == TokenId(100);
  EXPECT_TRUE(has100) << "the token at the page boundary is listed";
  EXPECT_EQ(server.Requests().size(), 6u);
}

TEST(HostileServerTest, PagesThatKeepDisagreeingAreAnErrorNamingHow) {
  struct Case {
    const char* what;
    std::vector<RawReply> one_reading;  // repeated for every reading
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"server ignores offset",
       {Page(0, 0, 100, 250), Page(100, 0, 100, 250)},
       "holds only tokens listed already"},
      {"fewer distinct tokens than total",
       {Page(0, 0, 100, 250), Page(100, 100, 100, 250), Page(200, 0, 0, 250)},
       "only 200 distinct tokens listed, the total says 250"},
      {"more items than total",
       {Page(0, 0, 100, 150), Page(100, 100, 100, 150)},
       "200 distinct tokens listed, more than the total 150"},
      {"offset echoed wrong",
       {Page(0, 0, 100, 250), Page(0, 100, 100, 250)},
       "came back as offset 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RawHttpServer server;
    auto api = MakeApi(Config(server.url()));
    std::vector<RawReply> script;
    for (int reading = 0; reading < 3; ++reading) {
      script.insert(script.end(), c.one_reading.begin(), c.one_reading.end());
    }
    server.Script(script);
    auto list = api->ListTokens(kReg);
    ASSERT_FALSE(list.ok());
    EXPECT_EQ(list.error().kind, ErrorKind::kUnavailable);
    const std::string& m = list.error().message;
    EXPECT_TRUE(Contains(m, std::string("GET /registries/") + kReg + "/tokens")) << m;
    EXPECT_TRUE(Contains(m, "inconsistent")) << m;
    EXPECT_TRUE(Contains(m, c.expect)) << m;
    EXPECT_EQ(server.Requests().size(), script.size()) << "three readings, whole";
  }
}

TEST(HostileServerTest, PagingIsBoundedByTheTotal) {
  // An inflated total: the first page of 100 promises 12 pages at most; later pages of one new
  // token each would go on for 900 pages.
  RawHttpServer server;
  std::vector<RawReply> script;
  for (int reading = 0; reading < 3; ++reading) {
    script.push_back(Page(0, 0, 100, 1000));
    for (int page = 2; page <= 12; ++page) script.push_back(Page(98 + page, 98 + page, 1, 1000));
  }
  server.Script(script);
  auto api = MakeApi(Config(server.url()));
  auto list = api->ListTokens(kReg);
  ASSERT_FALSE(list.ok());
  EXPECT_TRUE(Contains(list.error().message, "paging goes on past 12 pages for a total of 1000"))
      << list.error().message;
  EXPECT_EQ(server.Requests().size(), 36u);

  // A total no registry has: refused on the first page.
  RawHttpServer huge;
  huge.SetDefault(Page(0, 0, 100, 5000000000));
  auto api2 = MakeApi(Config(huge.url()));
  list = api2->ListTokens(kReg);
  ASSERT_FALSE(list.ok());
  EXPECT_TRUE(Contains(list.error().message, "reports 5000000000 tokens")) << list.error().message;
  EXPECT_EQ(huge.Requests().size(), 1u);
}

// A registry list page: registries with the given ids (named "other-N"), and the next cursor.
RawReply RegistryPage(const std::vector<std::string>& ids, const std::string& next) {
  json items = json::array();
  for (const auto& id : ids) {
    items.push_back({{"id", id}, {"properties", {{"name", "other-" + id}, {"hostname", "h"}}}});
  }
  return RawHttpServer::Json(200, json{{"items", items}, {"pagination", {{"token", next}}}}.dump());
}

TEST(HostileServerTest, RegistryListPagingIsBounded) {
  // A new cursor on every page and nothing new on it.
  {
    RawHttpServer server;
    int n = 0;
    std::vector<RawReply> script;
    for (int i = 0; i < 30; ++i)
      script.push_back(RegistryPage({TokenId(0)}, "c" + std::to_string(n++)));
    server.Script(script);
    auto api = MakeApi(Config(server.url()));
    auto r = api->ListRegistries();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
    EXPECT_TRUE(Contains(r.error().message, "page 2 holds only registries listed already"))
        << r.error().message;
    EXPECT_EQ(server.Requests().size(), 6u);  // 2 pages, 3 readings
  }
  // A new cursor and new registries on every page, without end.
  {
    RawHttpServer server;
    std::vector<RawReply> script;
    for (int i = 0; i < 400; ++i) {
      script.push_back(RegistryPage({TokenId(i)}, "c" + std::to_string(i)));
    }
    server.Script(script);
    auto api = MakeApi(Config(server.url()));
    auto r = api->ListRegistries();
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(Contains(r.error().message, "paging goes on past 100 pages")) << r.error().message;
    EXPECT_EQ(server.Requests().size(), 300u);
  }
}

// --- unreachable servers: why, at once for a one-shot command --------------------------------

uint16_t ClosedPort() {
  RawHttpServer s;  // bound, then closed when it goes away
  return static_cast<uint16_t>(s.port());
}

TEST(HostileServerTest, ConnectionRefusedSaysSoAndOneShotDoesNotRetry) {
  const uint16_t port = ClosedPort();
  HttpRegistryApiConfig c = Config("http://127.0.0.1:" + std::to_string(port));
  c.retry.retry_permanent_failures = false;  // plan, apply
  Metrics metrics;
  c.metrics = &metrics;
  auto api = MakeApi(c);
  auto r = api->ListRegistries();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnavailable);
  const std::string& m = r.error().message;
  EXPECT_TRUE(Contains(m, "connection refused by 127.0.0.1:" + std::to_string(port))) << m;
  EXPECT_TRUE(Contains(m, "after 1 attempt; not retried")) << m;

  // The daemon keeps retrying (here up to max_attempts).
  c.retry.retry_permanent_failures = true;
  auto daemon_api = MakeApi(c);
  r = daemon_api->ListRegistries();
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.error().message, "after 4 attempts")) << r.error().message;
}

class UntrustedTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/crtoken-untrusted-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    server_ = std::make_unique<RawHttpServer>(crtoken::test::MakeSelfSignedCert(dir_));
    server_->SetDefault(RawHttpServer::Json(200, Token(kTok, "over-tls").dump()));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<RawHttpServer> server_;
};

TEST_F(UntrustedTlsTest, UntrustedCertificateSaysWhyAndOneShotDoesNotRetry) {
  HttpRegistryApiConfig c = Config(server_->url());
  c.retry.retry_permanent_failures = false;
  auto api = MakeApi(c);
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  const std::string& m = t.error().message;
  EXPECT_TRUE(Contains(m, "TLS certificate of 127.0.0.1:" + std::to_string(server_->port()) +
                              " not trusted: self-signed certificate"))
      << m;
  EXPECT_TRUE(Contains(m, "after 1 attempt; not retried")) << m;
  EXPECT_EQ(server_->Connections(), 1);
  EXPECT_TRUE(server_->Requests().empty());
}

TEST_F(UntrustedTlsTest, CertificateForAnotherNameSaysSo) {
  // The certificate names 127.0.0.1; the client asks for "localhost".
  HttpRegistryApiConfig c = Config("https://localhost:" + std::to_string(server_->port()));
  c.ca_file = dir_ + "/cert.pem";
  c.retry.retry_permanent_failures = false;
  auto api = MakeApi(c);
  auto t = api->GetToken(kReg, kTok);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(Contains(t.error().message, "not trusted: the certificate does not name this host"))
      << t.error().message;
  EXPECT_TRUE(server_->Requests().empty());
}

}  // namespace
}  // namespace crtoken
