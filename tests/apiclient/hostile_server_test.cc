// The cpprest clients (the registry API and the Kubernetes sink) against a hostile server: one
// that redirects elsewhere, floods, or lies about lengths. End states: what the second host received, the
// errors' kinds and texts, how many requests were made.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/http_registry_api.h"
#include "daemon/kubernetes_secret_sink.h"
#include "tests/apiclient/raw_http_server.h"

namespace crtoken {
namespace {

using crtoken::testing::RawHttpServer;
using crtoken::testing::RawReply;
using nlohmann::json;

const char kReg[] = "0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11";
const char kTok[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

json Token(const std::string& id, const std::string& name) {
  return {{"id", id},
          {"type", "token"},
          {"properties", {{"name", name}, {"status", "enabled"}, {"scopes", json::array()}}}};
}

RawReply Redirect(int status, const std::string& location) {
  RawReply r = RawHttpServer::Json(status, "{}");
  if (!location.empty()) r.headers.push_back({"Location", location});
  return r;
}

HttpRegistryApiConfig Config(const std::string& url) {
  HttpRegistryApiConfig c;
  c.base_url = url + "/containerregistries";
  c.credentials = Credentials::Bearer("bearer-SECRET-token");
  c.qps = 1e6;
  c.burst = 1000000;
  c.request_timeout = std::chrono::seconds(5);
  c.retry.initial_backoff = std::chrono::milliseconds(1);
  c.retry.max_backoff = std::chrono::milliseconds(5);
  c.retry.max_attempts = 4;
  c.jitter_seed = 1;
  return c;
}

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
  // The same for every kind of call: a list, a lookup, a create, a delete.
  api_server.SetDefault(Redirect(307, elsewhere.url() + "/x"));
  EXPECT_FALSE(api->ListTokens(kReg).ok());
  EXPECT_FALSE(api->FindRegistryByName("acme-prod").ok());
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
    auto cert = crtoken::testing::MakeSelfSignedCert(dir);
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
  KubernetesConfig config;
  config.server = api_server.url();
  config.token = "k8s-SECRET-token";
  config.source = "test";
  KubernetesSinkOptions options;
  options.max_attempts = 2;
  options.backoff = std::chrono::milliseconds(1);
  auto sink = KubernetesSecretSink::Create(config, options);
  ASSERT_TRUE(sink.ok()) << sink.error().ToString();
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "team-a";
  ref.k8s_name = "s";
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
  KubernetesConfig config;
  config.server = server.url();
  config.token = "k8s-token";
  config.source = "test";
  KubernetesSinkOptions options;
  options.max_attempts = 1;
  auto sink = KubernetesSecretSink::Create(config, options);
  ASSERT_TRUE(sink.ok());
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "team-a";
  ref.k8s_name = "s";
  auto state = sink.value()->Inspect(ref);
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(Contains(state.error().message, "exceeds the limit")) << state.error().message;
}

}  // namespace
}  // namespace crtoken
