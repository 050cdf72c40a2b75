// KubernetesSecretSink against the Kubernetes API emulator (tests/support/k8s_emulator): end states
// are read back through the emulator's own API, not through the sink.
#include "daemon/sinks/kubernetes_secret_sink.h"

#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "daemon/sinks/docker_config.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;
using test::ReadFile;
using test::WriteFile;

constexpr char kToken[] = "emulator-token-8f3a1c2d";
constexpr char kReadonlyToken[] = "readonly-token-77ab";
constexpr char kNamespacedToken[] = "namespaced-token-3c5e";  // no list at the cluster scope
constexpr char kNamespace[] = "team-a";
constexpr char kOtherNamespace[] = "team-b";

std::string B64(const std::string& s) {
  return utility::conversions::to_base64(std::vector<unsigned char>(s.begin(), s.end()));
}

std::string UnB64(const std::string& s) {
  auto v = utility::conversions::from_base64(s);
  return std::string(v.begin(), v.end());
}

// One emulator process per test, on a free port, with its own test CA.
class Emulator {
 public:
  Emulator()
      : process_(CRTOKEN_PYTHON,
                 std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
                 {"--token", kToken, "--readonly-token", kReadonlyToken, "--namespaced-token",
                  kNamespacedToken, "--namespace", kNamespace, "--namespace", kOtherNamespace}) {
    if (!process_.started()) ADD_FAILURE() << "emulator did not start: " << process_.first_line();
    ca_ = ReadFile(process_.CaFile());
    web::http::client::http_client_config cfg;
    const std::string ca = ca_;
    cfg.set_ssl_context_callback([ca](boost::asio::ssl::context& ctx) {
      ctx.add_certificate_authority(boost::asio::buffer(ca));
    });
    client_ = std::make_unique<web::http::client::http_client>(Server(), cfg);
  }
  ~Emulator() { client_.reset(); }

  std::string Server() const { return process_.Server(); }
  const fs::path& dir() const { return process_.dir(); }
  fs::path CaFile() const { return process_.CaFile(); }
  int port() const { return process_.port(); }

  // A request with the full-access token; returns (status, parsed body).
  std::pair<int, json> Api(const std::string& method, const std::string& path,
                           const json& body = nullptr, const std::string& token = kToken,
                           const std::string& content_type = "application/json") {
    web::http::http_request req(method);
    req.set_request_uri(path);
    if (!token.empty()) req.headers().add("Authorization", "Bearer " + token);
    if (!body.is_null()) req.set_body(body.dump(), content_type);
    auto resp = client_->request(req).get();
    std::string text = resp.extract_utf8string(true).get();
    return {resp.status_code(), text.empty() ? json() : json::parse(text)};
  }
  json Secret(const std::string& name, const std::string& ns = kNamespace) {
    auto [status, body] = Api("GET", "/api/v1/namespaces/" + ns + "/secrets/" + name);
    EXPECT_EQ(status, 200) << body.dump();
    return body;
  }
  void AddFault(const json& rule) {
    auto [status, body] = Api("POST", "/_emulator/faults", rule);
    ASSERT_EQ(status, 201) << body.dump();
  }
  json Requests() { return Api("GET", "/_emulator/requests").second; }
  void ClearRequests() { Api("DELETE", "/_emulator/requests"); }
  int CountRequests(const std::string& method, const std::string& path_suffix) {
    int n = 0;
    for (const auto& r : Requests()) {
      const std::string p = r["path"];
      if (r["method"] == method && p.size() >= path_suffix.size() &&
          p.compare(p.size() - path_suffix.size(), path_suffix.size(), path_suffix) == 0) {
        ++n;
      }
    }
    return n;
  }

  // A kubeconfig with the given cluster and user bodies (YAML, already indented by 4).
  fs::path Kubeconfig(const std::string& name, const std::string& cluster,
                      const std::string& user) {
    const fs::path path = dir() / name;
    WriteFile(path, "apiVersion: v1\nkind: Config\nclusters:\n- name: emu\n  cluster:\n" + cluster +
                        "users:\n- name: me\n  user:\n" + user +
                        "contexts:\n- name: ctx\n  context:\n    cluster: emu\n    user: me\n"
                        "    namespace: team-a\ncurrent-context: ctx\n");
    return path;
  }

 private:
  crtoken::test::K8sEmulatorProcess process_;
  std::string ca_;
  std::unique_ptr<web::http::client::http_client> client_;
};

SecretRef Ref(const std::string& name, const std::string& ns = kNamespace) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = ns;
  ref.k8s_name = name;
  return ref;
}

// The credential of token ci-push, recorded as written by owner "team-a" (no record when
// `token_id` is empty).
DockerCredential Cred(const std::string& password, const std::string& token_id = "tok-1") {
  DockerCredential c;
  c.hostname = "myreg-abc123.cr.de-fra.ionos.com";
  c.username = "ci-push";
  c.password = Password(password);
  if (!token_id.empty()) c.record = SecretRecord{"team-a", "reg-abc123", "ci-push", token_id};
  return c;
}

KubernetesSinkOptions FastOptions() {
  KubernetesSinkOptions o;
  o.backoff = 1ms;
  o.request_timeout = 10s;
  o.env = [](const std::string&) { return std::optional<std::string>(); };
  return o;
}

class KubernetesSecretSinkTest : public ::testing::Test {
 protected:
  std::unique_ptr<KubernetesSecretSink> SinkWithToken(
      const std::string& token, KubernetesSinkOptions options = FastOptions()) {
    KubernetesConfig config;
    config.server = emu_.Server();
    config.ca_pem = ReadFile(emu_.CaFile());
    config.token = token;
    config.source = "test";
    auto sink = KubernetesSecretSink::Create(config, options);
    EXPECT_TRUE(sink.ok()) << sink.error().ToString();
    return sink.ok() ? std::move(sink.value()) : nullptr;
  }
  std::unique_ptr<KubernetesSecretSink> Sink() { return SinkWithToken(kToken); }

  Emulator emu_;
};

TEST_F(KubernetesSecretSinkTest, WriteCreatesAManagedDockerConfigSecret) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("s3cr3t-pass")).ok());

  json secret = emu_.Secret("pull");
  EXPECT_EQ(secret["type"], "kubernetes.io/dockerconfigjson");
  ASSERT_EQ(secret["data"].size(), 1u);
  EXPECT_EQ(UnB64(secret["data"][".dockerconfigjson"]),
            R"({"auths":{"myreg-abc123.cr.de-fra.ionos.com":{"username":"ci-push",)"
            R"("password":"s3cr3t-pass","auth":")" +
                B64("ci-push:s3cr3t-pass") +
                R"("}},"crtoken":{"owner":"team-a","registryId":"reg-abc123","token":"ci-push",)"
                R"("tokenId":"tok-1"}})");
  EXPECT_EQ(secret["metadata"]["labels"], (json{{"app.kubernetes.io/managed-by", "crtoken"},
                                                {"crtoken.ionos.com/owner", "team-a"}}));
  EXPECT_EQ(secret["metadata"]["annotations"],
            (json{{"crtoken.io/registry", "myreg-abc123.cr.de-fra.ionos.com"},
                  {"crtoken.io/registry-id", "reg-abc123"},
                  {"crtoken.io/token-name", "ci-push"},
                  {"crtoken.io/token-id", "tok-1"}}));

  auto state = sink->Inspect(Ref("pull"));
  ASSERT_TRUE(state.ok()) << state.error().ToString();
  EXPECT_TRUE(state.value().exists);
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(state.value().hostname, "myreg-abc123.cr.de-fra.ionos.com");
  EXPECT_EQ(state.value().username, "ci-push");
  EXPECT_EQ(state.value().record, (SecretRecord{"team-a", "reg-abc123", "ci-push", "tok-1"}));
}

TEST_F(KubernetesSecretSinkTest, InspectOfAbsentAndForeignContent) {
  auto sink = Sink();
  auto absent = sink->Inspect(Ref("nothing-here"));
  ASSERT_TRUE(absent.ok()) << absent.error().ToString();
  EXPECT_FALSE(absent.value().exists);

  // An emptied secret (a hand edit): exists, but holds no password.
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets",
                     {{"metadata", {{"name", "emptied"}}}, {"type", "Opaque"}})
                .first,
            201);
  auto emptied = sink->Inspect(Ref("emptied"));
  ASSERT_TRUE(emptied.ok());
  EXPECT_TRUE(emptied.value().exists);
  EXPECT_FALSE(emptied.value().has_password);
  EXPECT_EQ(emptied.value().hostname, "");
}

TEST_F(KubernetesSecretSinkTest, InspectReadsAuthOnlyEntriesAndRejectsSeveralRegistries) {
  auto make = [&](const std::string& name, const std::string& config) {
    ASSERT_EQ(
        emu_.Api("POST", "/api/v1/namespaces/team-a/secrets",
                 {{"metadata", {{"name", name}, {"labels", {{kManagedByLabel, kManagedByValue}}}}},
                  {"type", "kubernetes.io/dockerconfigjson"},
                  {"data", {{".dockerconfigjson", B64(config)}}}})
            .first,
        201);
  };
  make("auth-only",
       R"({"auths":{"reg.example":{"auth":")" + B64("robot:pw:with:colons") + R"("}}})");
  make("two-registries", R"({"auths":{"a.example":{"username":"u","password":"p"},)"
                         R"("b.example":{"username":"u","password":"p"}}})");
  make("no-password", R"({"auths":{"reg.example":{"username":"u","password":""}}})");
  auto sink = Sink();
  auto auth_only = sink->Inspect(Ref("auth-only"));
  ASSERT_TRUE(auth_only.ok());
  EXPECT_EQ(auth_only.value().hostname, "reg.example");
  EXPECT_EQ(auth_only.value().username, "robot");
  EXPECT_TRUE(auth_only.value().has_password);
  auto two = sink->Inspect(Ref("two-registries"));
  ASSERT_TRUE(two.ok());
  EXPECT_TRUE(two.value().exists);
  EXPECT_FALSE(two.value().has_password);
  EXPECT_EQ(two.value().hostname, "");
  auto none = sink->Inspect(Ref("no-password"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none.value().username, "u");
  EXPECT_FALSE(none.value().has_password);
}

TEST_F(KubernetesSecretSinkTest, InspectReportsASecretWriteWouldRefuseAsAConflict) {
  const std::string config = R"({"auths":{"reg.example":{"username":"u","password":"p"}}})";
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets",
                     {{"metadata", {{"name", "theirs"}}},
                      {"type", "kubernetes.io/dockerconfigjson"},
                      {"data", {{".dockerconfigjson", B64(config)}}}})
                .first,
            201);
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets",
                     {{"metadata",
                       {{"name", "opaque"}, {"labels", {{kManagedByLabel, kManagedByValue}}}}},
                      {"type", "Opaque"},
                      {"data", {{"note", B64("x")}}}})
                .first,
            201);
  auto sink = Sink();
  auto theirs = sink->Inspect(Ref("theirs"));
  ASSERT_TRUE(theirs.ok());
  EXPECT_TRUE(theirs.value().exists);
  EXPECT_FALSE(theirs.value().has_password);  // nothing of it is read
  EXPECT_EQ(theirs.value().conflict,
            "Secret team-a/theirs exists and is not managed by crtoken (no label "
            "app.kubernetes.io/managed-by=crtoken): delete or rename it, or label it "
            "app.kubernetes.io/managed-by=crtoken to let crtoken take it over");
  auto opaque = sink->Inspect(Ref("opaque"));
  ASSERT_TRUE(opaque.ok());
  EXPECT_EQ(opaque.value().conflict,
            "Secret team-a/opaque has type \"Opaque\" but crtoken writes "
            "kubernetes.io/dockerconfigjson (a Secret's type is immutable): delete it so crtoken "
            "can recreate it");
  // Write refuses both, as the conflict says.
  EXPECT_FALSE(sink->Write(Ref("theirs"), Cred("pw")).ok());
  EXPECT_FALSE(sink->Write(Ref("opaque"), Cred("pw")).ok());
  // A Secret crtoken wrote has none.
  ASSERT_TRUE(sink->Write(Ref("ours"), Cred("pw")).ok());
  auto ours = sink->Inspect(Ref("ours"));
  ASSERT_TRUE(ours.ok());
  EXPECT_EQ(ours.value().conflict, "");
  EXPECT_TRUE(ours.value().has_password);
}

TEST_F(KubernetesSecretSinkTest, UpdateKeepsOneSecretBumpsResourceVersionAndKeepsOtherLabels) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("first-password")).ok());
  const json first = emu_.Secret("pull");
  // Someone adds a label of their own; crtoken's update must keep it.
  ASSERT_EQ(emu_.Api("PATCH", "/api/v1/namespaces/team-a/secrets/pull",
                     {{"metadata", {{"labels", {{"team", "a"}}}}}}, kToken,
                     "application/merge-patch+json")
                .first,
            200);
  const json patched = emu_.Secret("pull");

  emu_.ClearRequests();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("second-password", "tok-2")).ok());
  const json second = emu_.Secret("pull");
  EXPECT_GT(std::stoll(second["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(patched["metadata"]["resourceVersion"].get<std::string>()));
  EXPECT_EQ(second["metadata"]["uid"], first["metadata"]["uid"]);  // replaced, not recreated
  EXPECT_NE(UnB64(second["data"][".dockerconfigjson"]).find("second-password"), std::string::npos);
  EXPECT_EQ(second["metadata"]["labels"]["team"], "a");
  EXPECT_EQ(second["metadata"]["annotations"]["crtoken.io/token-id"], "tok-2");
  EXPECT_EQ(emu_.CountRequests("PUT", "/secrets/pull"), 1);
  EXPECT_EQ(emu_.CountRequests("POST", "/secrets"), 0);

  auto list = emu_.Api("GET", "/api/v1/namespaces/team-a/secrets").second;
  EXPECT_EQ(list["items"].size(), 1u);

  // Writing what is already there sends no write at all.
  emu_.ClearRequests();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("second-password", "tok-2")).ok());
  EXPECT_EQ(emu_.CountRequests("PUT", "/secrets/pull"), 0);
  EXPECT_EQ(emu_.Secret("pull")["metadata"]["resourceVersion"],
            second["metadata"]["resourceVersion"]);
}

TEST_F(KubernetesSecretSinkTest, GenuineResourceVersionConflictIsRetried) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("one-password")).ok());
  // Another writer changes the Secret between the sink's GET and its PUT, twice.
  emu_.AddFault({{"touch", true}, {"count", 2}, {"methods", {"PUT"}}});
  emu_.ClearRequests();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("two-password")).ok());
  int conflicts = 0, ok = 0;
  for (const auto& r : emu_.Requests()) {
    if (r["method"] == "PUT") (r["status"] == 409 ? conflicts : ok) += 1;
  }
  EXPECT_EQ(conflicts, 2);
  EXPECT_EQ(ok, 1);
  const json secret = emu_.Secret("pull");
  EXPECT_NE(UnB64(secret["data"][".dockerconfigjson"]).find("two-password"), std::string::npos);
  EXPECT_EQ(secret["metadata"]["annotations"]["k8s-emulator/touched"], "2");
}

TEST_F(KubernetesSecretSinkTest, InjectedConflictsAndServerErrorsThenSuccess) {
  auto sink = Sink();
  emu_.AddFault({{"status", 409}, {"count", 1}, {"methods", {"POST"}}});
  emu_.AddFault({{"status", 500}, {"count", 1}, {"methods", {"POST"}}});
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("p-one")).ok());
  EXPECT_EQ(emu_.CountRequests("POST", "/secrets"), 3);

  emu_.AddFault({{"status", 409}, {"count", 2}, {"methods", {"PUT"}}});
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("p-two")).ok());
  EXPECT_NE(UnB64(emu_.Secret("pull")["data"][".dockerconfigjson"]).find("p-two"),
            std::string::npos);
  EXPECT_EQ(emu_.CountRequests("PUT", "/secrets/pull"), 3);
}

TEST_F(KubernetesSecretSinkTest, ConnectionResetIsRetriedAndTimeoutIsUnavailable) {
  auto options = FastOptions();
  options.request_timeout = 500ms;
  auto sink = SinkWithToken(kToken, options);
  emu_.AddFault({{"reset", true}, {"count", 1}, {"methods", {"POST"}}});
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("after-reset")).ok());
  EXPECT_NE(UnB64(emu_.Secret("pull")["data"][".dockerconfigjson"]).find("after-reset"),
            std::string::npos);

  // cpprest may resend a request that failed on a reused connection: every answer is slow.
  emu_.AddFault({{"delay", 5}, {"count", 10}, {"methods", {"GET"}}});
  auto state = sink->Inspect(Ref("pull"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().kind, ErrorKind::kUnavailable) << state.error().message;
  EXPECT_TRUE(state.error().Transient());
}

TEST_F(KubernetesSecretSinkTest, PersistentConflictGivesUpWithConflict) {
  auto options = FastOptions();
  options.max_attempts = 3;
  auto sink = SinkWithToken(kToken, options);
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("p-one")).ok());
  emu_.AddFault({{"status", 409}, {"count", 100}, {"methods", {"PUT"}}});
  Status s = sink->Write(Ref("pull"), Cred("p-two"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kConflict);
  EXPECT_NE(s.error().message.find("team-a/pull"), std::string::npos) << s.error().message;
  EXPECT_EQ(emu_.CountRequests("PUT", "/secrets/pull"), 3);

  emu_.Api("DELETE", "/_emulator/faults");
  emu_.AddFault({{"status", 503}, {"count", 100}, {"methods", {"PUT"}}});
  s = sink->Write(Ref("pull"), Cred("p-three"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kUnavailable);
  EXPECT_TRUE(s.error().Transient());
}

TEST_F(KubernetesSecretSinkTest, ConcurrentWritersThroughOneSinkAllLand) {
  auto sink = Sink();
  std::vector<std::thread> threads;
  std::vector<int> ok(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      // Four threads share a Secret (contending updates), four have their own.
      const std::string name = t < 4 ? "shared" : "own-" + std::to_string(t);
      for (int i = 0; i < 3; ++i) {
        ok[t] +=
            sink->Write(Ref(name), Cred("pw-" + std::to_string(t) + "-" + std::to_string(i))).ok();
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(ok[t], 3) << "thread " << t;
  auto list = emu_.Api("GET", "/api/v1/namespaces/team-a/secrets").second;
  EXPECT_EQ(list["items"].size(), 5u);
  // The shared Secret holds one of the contenders' last writes, whole.
  const std::string shared = UnB64(emu_.Secret("shared")["data"][".dockerconfigjson"]);
  EXPECT_NE(shared.find("-2\""), std::string::npos) << shared;
}

TEST_F(KubernetesSecretSinkTest, RefusesToOverwriteOrDeleteAnUnmanagedSecret) {
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets",
                     {{"metadata", {{"name", "theirs"}}},
                      {"type", "Opaque"},
                      {"stringData", {{"keep", "me"}}}})
                .first,
            201);
  const json before = emu_.Secret("theirs");
  auto sink = Sink();
  Status s = sink->Write(Ref("theirs"), Cred("pw-pw-pw"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kConflict);
  EXPECT_NE(s.error().message.find("team-a/theirs"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("not managed by crtoken"), std::string::npos);

  s = sink->Delete(Ref("theirs"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(emu_.Secret("theirs"), before);  // untouched
  EXPECT_EQ(emu_.CountRequests("PUT", "/secrets/theirs"), 0);
  EXPECT_EQ(emu_.CountRequests("DELETE", "/secrets/theirs"), 0);
}

TEST_F(KubernetesSecretSinkTest, DeleteRemovesAManagedSecretAndAbsentIsOk) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("pw-to-go")).ok());
  ASSERT_TRUE(sink->Delete(Ref("pull")).ok());
  EXPECT_EQ(emu_.Api("GET", "/api/v1/namespaces/team-a/secrets/pull").first, 404);
  EXPECT_TRUE(sink->Delete(Ref("pull")).ok());
  auto state = sink->Inspect(Ref("pull"));
  ASSERT_TRUE(state.ok());
  EXPECT_FALSE(state.value().exists);
}

TEST_F(KubernetesSecretSinkTest, MissingNamespaceIsNotFoundNamingIt) {
  auto sink = Sink();
  Status s = sink->Write(Ref("pull", "no-such-ns"), Cred("pw-pw-pw"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(s.error().message.find("no-such-ns"), std::string::npos) << s.error().message;
}

TEST_F(KubernetesSecretSinkTest, InvalidNamesAreRefusedBeforeAnyRequest) {
  auto sink = Sink();
  emu_.ClearRequests();
  for (const auto& ref : {Ref("Bad_Name"), Ref("ok", "../etc"), Ref("a/b")}) {
    Status s = sink->Write(ref, Cred("pw-pw-pw"));
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind, ErrorKind::kInvalid) << s.error().message;
  }
  SecretRef file;
  file.kind = SecretRef::Kind::kFile;
  file.file = "x.json";
  EXPECT_FALSE(sink->Write(file, Cred("pw-pw-pw")).ok());
  EXPECT_EQ(emu_.Requests().size(), 0u);
}

TEST_F(KubernetesSecretSinkTest, WrongTokenIsUnauthorizedAndReadonlyTokenCannotWrite) {
  auto wrong = SinkWithToken("not-the-token");
  Status s = wrong->Write(Ref("pull"), Cred("pw-pw-pw"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kUnauthorized);
  auto state = wrong->Inspect(Ref("pull"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().kind, ErrorKind::kUnauthorized);

  auto readonly = SinkWithToken(kReadonlyToken);
  s = readonly->Write(Ref("pull"), Cred("pw-pw-pw"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::kUnauthorized);
  EXPECT_NE(s.error().message.find("forbidden"), std::string::npos) << s.error().message;
  EXPECT_EQ(emu_.Api("GET", "/api/v1/namespaces/team-a/secrets/pull").first, 404);
}

TEST_F(KubernetesSecretSinkTest, UntrustedServerCertificateIsUnavailable) {
  KubernetesConfig config;
  config.server = emu_.Server();
  config.token = kToken;
  config.source = "test";  // no CA: the test CA is not among the system's roots
  auto sink = KubernetesSecretSink::Create(config, FastOptions());
  ASSERT_TRUE(sink.ok());
  auto state = sink.value()->Inspect(Ref("pull"));
  ASSERT_FALSE(state.ok());
  EXPECT_EQ(state.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(emu_.Requests().size(), 0u);  // refused at the handshake
}

TEST_F(KubernetesSecretSinkTest, InClusterConfigFromServiceAccountDirAndRotatingToken) {
  const fs::path sa = emu_.dir() / "serviceaccount";
  fs::create_directories(sa);
  WriteFile(sa / "token", std::string(kToken) + "\n");
  fs::copy_file(emu_.CaFile(), sa / "ca.crt");
  WriteFile(sa / "namespace", "team-a\n");
  const std::string port = std::to_string(emu_.port());
  auto options = FastOptions();
  options.service_account_dir = sa.string();
  options.token_refresh = std::chrono::hours(1);  // only a 401 makes it re-read
  options.env = [port](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBERNETES_SERVICE_HOST") return "127.0.0.1";
    if (name == "KUBERNETES_SERVICE_PORT") return port;
    return std::nullopt;
  };
  auto sink = MakeKubernetesSecretSink("", options);
  ASSERT_TRUE(sink.ok()) << sink.error().ToString();
  EXPECT_NE(sink.value()->source().find("in-cluster"), std::string::npos);
  ASSERT_TRUE(sink.value()->Write(Ref("pull"), Cred("pw-one")).ok());

  // The kubelet rotates the bound token: the server takes only the new one from now on.
  WriteFile(sa / "token", "rotated-token-2\n");
  ASSERT_EQ(emu_.Api("POST", "/_emulator/tokens", {{"tokens", {"rotated-token-2"}}}).first, 200);
  emu_.ClearRequests();
  ASSERT_TRUE(sink.value()->Write(Ref("pull"), Cred("pw-two")).ok());
  EXPECT_EQ(emu_.Requests()[0]["status"], 401);  // the stale token, then a re-read
  auto [status, secret] =
      emu_.Api("GET", "/api/v1/namespaces/team-a/secrets/pull", nullptr, "rotated-token-2");
  ASSERT_EQ(status, 200);
  EXPECT_NE(UnB64(secret["data"][".dockerconfigjson"]).find("pw-two"), std::string::npos);
}

TEST_F(KubernetesSecretSinkTest, InClusterConfigErrorsNameWhatIsMissing) {
  const fs::path sa = emu_.dir() / "empty-sa";
  fs::create_directories(sa);
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBERNETES_SERVICE_HOST") return "127.0.0.1";
    if (name == "KUBERNETES_SERVICE_PORT") return "443";
    return std::nullopt;
  };
  auto c = LoadInClusterConfig(sa.string(), env);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find((sa / "token").string()), std::string::npos);

  auto options = FastOptions();  // no variables at all, no kubeconfig
  options.service_account_dir = sa.string();
  auto sink = MakeKubernetesSecretSink("", options);
  ASSERT_FALSE(sink.ok());
  EXPECT_EQ(sink.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(sink.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  EXPECT_NE(sink.error().message.find("kubeconfig"), std::string::npos);
}

TEST_F(KubernetesSecretSinkTest, KubeconfigVariantsAllWrite) {
  const std::string server = "    server: " + emu_.Server() + "\n";
  fs::copy_file(emu_.CaFile(), emu_.dir() / "ca-copy.crt");
  WriteFile(emu_.dir() / "token-file", std::string(kToken) + "\n");
  const std::string ca_data = B64(ReadFile(emu_.CaFile()));
  const fs::path tls = emu_.dir() / "tls";
  std::map<std::string, fs::path> configs = {
      // a relative certificate-authority path and a static token
      {"relative-ca", emu_.Kubeconfig("kc1", server + "    certificate-authority: ca-copy.crt\n",
                                      std::string("    token: ") + kToken + "\n")},
      // inline CA data and a tokenFile
      {"ca-data",
       emu_.Kubeconfig("kc2", server + "    certificate-authority-data: " + ca_data + "\n",
                       "    tokenFile: token-file\n")},
      // a client certificate, no token: the emulator authenticates the certificate's CN
      {"client-cert",
       emu_.Kubeconfig("kc3",
                       server + "    certificate-authority: " + emu_.CaFile().string() + "\n",
                       "    client-certificate: " + (tls / "client.crt").string() +
                           "\n    client-key-data: " + B64(ReadFile(tls / "client.key")) + "\n")},
      // verification off
      {"insecure", emu_.Kubeconfig("kc4", server + "    insecure-skip-tls-verify: true\n",
                                   std::string("    token: ") + kToken + "\n")},
  };
  for (const auto& [what, path] : configs) {
    SCOPED_TRACE(what);
    auto sink = MakeKubernetesSecretSink("/nonexistent/first:" + path.string(), FastOptions());
    ASSERT_TRUE(sink.ok()) << sink.error().ToString();
    EXPECT_NE(sink.value()->source().find(path.string()), std::string::npos);
    ASSERT_TRUE(sink.value()->Write(Ref("via-" + what), Cred("pw-" + what)).ok());
    EXPECT_EQ(emu_.Secret("via-" + what)["type"], "kubernetes.io/dockerconfigjson");
  }
  // A ref without a namespace lands in the context's namespace (team-a), as with kubectl.
  auto sink = MakeKubernetesSecretSink(configs["relative-ca"].string(), FastOptions());
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE(sink.value()->Write(Ref("no-namespace-given", ""), Cred("pw-ctx")).ok());
  EXPECT_EQ(emu_.Secret("no-namespace-given", "team-a")["metadata"]["namespace"], "team-a");
  bool saw_cert_user = false;
  for (const auto& r : emu_.Requests()) saw_cert_user |= r["user"] == "crtoken-client";
  EXPECT_TRUE(saw_cert_user);
}

TEST_F(KubernetesSecretSinkTest, KubeconfigErrorsNameTheFileAndTheProblem) {
  const fs::path dir = emu_.dir();
  struct Case {
    std::string name, text, expect;
  };
  const std::string ctx =
      "contexts:\n- name: c\n  context: {cluster: k, user: u}\ncurrent-context: c\n";
  const std::vector<Case> cases = {
      {"no-current", "apiVersion: v1\nclusters: []\n", "current-context is not set"},
      {"unknown-ctx", "current-context: x\ncontexts: []\n", "no context named \"x\""},
      {"no-server", "clusters:\n- name: k\n  cluster: {}\nusers:\n- name: u\n  user: {}\n" + ctx,
       "has no server"},
      {"exec-user",
       "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n"
       "  user:\n    exec: {command: aws}\n" +
           ctx,
       "exec or auth-provider plugin"},
      {"bad-ca",
       "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:1', "
       "certificate-authority-data: " +
           B64("not a pem") +
           "}\nusers:\n- name: u\n  user: "
           "{token: t}\n" +
           ctx,
       "holds no PEM certificate"},
      {"cert-no-key",
       "clusters:\n- name: k\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n"
       "  user: {client-certificate: " +
           (dir / "tls" / "client.crt").string() + "}\n" + ctx,
       "needs both a client certificate and a client key"},
      {"yaml-syntax", "clusters: [\n  {name: k\n", "yaml-syntax:"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    WriteFile(dir / c.name, c.text);
    auto config = LoadKubeconfig((dir / c.name).string());
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.error().kind, ErrorKind::kInvalid);
    EXPECT_NE(config.error().message.find((dir / c.name).string()), std::string::npos)
        << config.error().message;
    EXPECT_NE(config.error().message.find(c.expect), std::string::npos) << config.error().message;
  }
  auto missing = MakeKubernetesSecretSink((dir / "absent").string(), FastOptions());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("does not exist"), std::string::npos);
}

TEST_F(KubernetesSecretSinkTest, NeitherPasswordNorBearerTokenReachesAnyLogLine) {
  std::ostringstream captured;
  auto previous = spdlog::default_logger();
  auto logger = std::make_shared<spdlog::logger>(
      "capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(captured));
  logger->set_level(spdlog::level::trace);
  spdlog::set_default_logger(logger);

  const std::string password = "P4ssw0rd-that-must-not-leak";
  const fs::path token_file = emu_.dir() / "log-token";
  WriteFile(token_file, std::string(kToken) + "\n");
  std::vector<std::string> errors;
  {
    KubernetesConfig config;
    config.server = emu_.Server();
    config.ca_pem = ReadFile(emu_.CaFile());
    config.token_file = token_file.string();
    config.source = "test";
    auto options = FastOptions();
    options.token_refresh = 0ms;
    auto sink = KubernetesSecretSink::Create(config, options);
    ASSERT_TRUE(sink.ok());
    auto& s = *sink.value();
    EXPECT_TRUE(s.Write(Ref("pull"), Cred(password)).ok());                // create
    EXPECT_TRUE(s.Write(Ref("pull"), Cred(password + "-2")).ok());         // update
    EXPECT_TRUE(s.Write(Ref("pull"), Cred(password + "-2")).ok());         // unchanged
    emu_.AddFault({{"status", 500}, {"count", 1}, {"methods", {"PUT"}}});  // retried error
    EXPECT_TRUE(s.Write(Ref("pull"), Cred(password + "-3")).ok());
    EXPECT_TRUE(s.Inspect(Ref("pull")).ok());
    EXPECT_TRUE(s.Delete(Ref("pull")).ok());
    // Failures: a bad token, a forbidden write, persistent server errors.
    WriteFile(token_file, "wrong-token-value\n");
    Status bad = s.Write(Ref("pull"), Cred(password));
    ASSERT_FALSE(bad.ok());
    errors.push_back(bad.error().message);
    WriteFile(token_file, std::string(kReadonlyToken) + "\n");
    bad = s.Write(Ref("pull"), Cred(password));
    ASSERT_FALSE(bad.ok());
    errors.push_back(bad.error().message);
    WriteFile(token_file, std::string(kToken) + "\n");
    emu_.AddFault({{"status", 503}, {"count", 100}});
    bad = s.Write(Ref("pull"), Cred(password));
    ASSERT_FALSE(bad.ok());
    errors.push_back(bad.error().message);
  }
  spdlog::set_default_logger(previous);

  const std::string log = captured.str();
  EXPECT_NE(log.find("created"), std::string::npos) << log;  // the capture did capture
  EXPECT_NE(log.find("kubernetes GET"), std::string::npos) << log;
  const std::vector<std::string> forbidden = {
      password,       B64("ci-push:" + password), kToken,
      kReadonlyToken, "wrong-token-value",        B64(DockerConfigJson(Cred(password))),
      "Bearer"};
  for (const auto& secret : forbidden) {
    EXPECT_EQ(log.find(secret), std::string::npos) << "log leaks " << secret;
    for (const auto& e : errors) EXPECT_EQ(e.find(secret), std::string::npos) << e;
  }
}

// --- the record, List and Stamp --------------------------------------------------------------

SecretRecord RecordFor(const std::string& owner, const std::string& token_id) {
  return SecretRecord{owner, "reg-abc123", "ci-push", token_id};
}

DockerCredential CredOf(const std::string& owner, const std::string& token_id) {
  DockerCredential c = Cred("pw-" + token_id, "");
  c.record = RecordFor(owner, token_id);
  return c;
}

std::vector<std::string> Names(const Result<std::vector<ListedSecret>>& listed) {
  if (!listed.ok()) return {"error: " + listed.error().ToString()};
  std::vector<std::string> out;
  for (const ListedSecret& s : listed.value()) {
    out.push_back(s.ref.k8s_namespace + "/" + s.ref.k8s_name + "=" + s.record.token_id);
  }
  return out;
}

TEST_F(KubernetesSecretSinkTest, AWriteWithoutARecordRemovesTheOwnerLabelAndTheRecord) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("pw-one")).ok());
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("pw-two", "")).ok());
  const json secret = emu_.Secret("pull");
  EXPECT_EQ(secret["metadata"]["labels"], (json{{"app.kubernetes.io/managed-by", "crtoken"}}));
  EXPECT_EQ(secret["metadata"]["annotations"],
            (json{{"crtoken.io/registry", "myreg-abc123.cr.de-fra.ionos.com"},
                  {"crtoken.io/token-name", "ci-push"}}));
  EXPECT_TRUE(sink->Inspect(Ref("pull")).value().record.empty());
}

// Labels and annotations anyone can edit: a record with one part missing is no record.
TEST_F(KubernetesSecretSinkTest, InspectReadsARecordOnlyWhenAllOfItIsThere) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("pw-one")).ok());
  ASSERT_EQ(emu_.Api("PATCH", "/api/v1/namespaces/team-a/secrets/pull",
                     {{"metadata", {{"annotations", {{"crtoken.io/registry-id", nullptr}}}}}},
                     kToken, "application/merge-patch+json")
                .first,
            200);
  auto state = sink->Inspect(Ref("pull"));
  ASSERT_TRUE(state.ok());
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(state.value().record, SecretRecord{});
}

TEST_F(KubernetesSecretSinkTest, AnOwnerThatCannotBeALabelValueIsRefusedBeforeAnyRequest) {
  auto sink = Sink();
  emu_.ClearRequests();
  Status written = sink->Write(Ref("pull"), CredOf("-team-", "tok-1"));
  ASSERT_FALSE(written.ok());
  EXPECT_EQ(written.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(written.error().message.find("owner \"-team-\" cannot be a Kubernetes label value"),
            std::string::npos)
      << written.error().message;
  EXPECT_FALSE(sink->List("team a").ok());
  EXPECT_FALSE(sink->List("").ok());
  EXPECT_FALSE(sink->Stamp(Ref("pull"), RecordFor(std::string(64, 'a'), "tok-1")).ok());
  EXPECT_EQ(emu_.Requests().size(), 0u);
}

// Every namespace, page after page; only managed dockerconfigjson Secrets with a whole record of
// this owner.
TEST_F(KubernetesSecretSinkTest, ListFindsThisOwnersSecretsInEveryNamespacePageByPage) {
  KubernetesSinkOptions options = FastOptions();
  options.list_page_size = 2;
  auto sink = SinkWithToken(kToken, options);
  ASSERT_TRUE(sink->Write(Ref("c-pull"), CredOf("team-a", "id-1")).ok());
  ASSERT_TRUE(sink->Write(Ref("a-pull"), CredOf("team-a", "id-2")).ok());
  ASSERT_TRUE(sink->Write(Ref("b-pull", kOtherNamespace), CredOf("team-a", "id-3")).ok());
  ASSERT_TRUE(sink->Write(Ref("d-pull"), CredOf("team-a", "id-4")).ok());
  ASSERT_TRUE(sink->Write(Ref("e-pull"), CredOf("team-a", "id-5")).ok());
  ASSERT_TRUE(sink->Write(Ref("other-owner"), CredOf("team-z", "id-6")).ok());
  ASSERT_TRUE(sink->Write(Ref("no-record"), Cred("pw", "")).ok());
  // Not crtoken's, though labelled with the owner: no managed-by label.
  const json record_meta = {{"labels", {{"crtoken.ionos.com/owner", "team-a"}}},
                            {"annotations",
                             {{"crtoken.io/registry-id", "r"},
                              {"crtoken.io/token-name", "t"},
                              {"crtoken.io/token-id", "i"}}}};
  json foreign = {{"metadata", record_meta},
                  {"type", "kubernetes.io/dockerconfigjson"},
                  {"data", {{".dockerconfigjson", B64(R"({"auths":{}})")}}}};
  foreign["metadata"]["name"] = "foreign";
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets", foreign).first, 201);
  // Managed, with a whole record, but not a pull secret.
  json opaque = {{"metadata", record_meta}, {"type", "Opaque"}};
  opaque["metadata"]["name"] = "opaque";
  opaque["metadata"]["labels"]["app.kubernetes.io/managed-by"] = "crtoken";
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets", opaque).first, 201);

  emu_.ClearRequests();
  auto listed = sink->List("team-a");
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  EXPECT_EQ(Names(listed), (std::vector<std::string>{"team-a/a-pull=id-2", "team-a/c-pull=id-1",
                                                     "team-a/d-pull=id-4", "team-a/e-pull=id-5",
                                                     "team-b/b-pull=id-3"}));
  EXPECT_EQ(listed.value()[0].record, RecordFor("team-a", "id-2"));
  EXPECT_EQ(listed.value()[0].ref, Ref("a-pull"));
  // Five Secrets match the selector, two a page: three pages, chained by continue tokens.
  const json requests = emu_.Requests();
  ASSERT_EQ(requests.size(), 3u) << requests.dump();
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(requests[i]["path"], "/api/v1/secrets");
    const std::string query = requests[i]["query"];
    EXPECT_NE(query.find("labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcrtoken%2C"
                         "crtoken.ionos.com%2Fowner%3Dteam-a"),
              std::string::npos)
        << query;
    EXPECT_NE(query.find("limit=2"), std::string::npos) << query;
    EXPECT_EQ(query.find("continue=") != std::string::npos, i > 0) << query;
  }
  EXPECT_EQ(Names(sink->List("team-z")), std::vector<std::string>{"team-a/other-owner=id-6"});
  EXPECT_EQ(Names(sink->List("team-y")), std::vector<std::string>{});

  ASSERT_TRUE(sink->Delete(Ref("c-pull")).ok());
  ASSERT_TRUE(sink->Write(Ref("d-pull"), Cred("pw", "")).ok());  // its record gone
  EXPECT_EQ(
      Names(sink->List("team-a")),
      (std::vector<std::string>{"team-a/a-pull=id-2", "team-a/e-pull=id-5", "team-b/b-pull=id-3"}));
}

TEST_F(KubernetesSecretSinkTest, ListWithoutTheClusterScopePermissionSaysWhichIsMissing) {
  auto sink = SinkWithToken(kNamespacedToken);
  ASSERT_TRUE(sink->Write(Ref("pull"), CredOf("team-a", "id-1")).ok());  // namespaced: allowed
  auto listed = sink->List("team-a");
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().kind, ErrorKind::kUnauthorized);
  EXPECT_EQ(listed.error().message,
            "cannot list Secrets: test lacks the permission to list secrets at the cluster scope "
            "(verb \"list\" on \"secrets\" in all namespaces: a ClusterRole bound by a "
            "ClusterRoleBinding, as deploy/kubernetes/rbac.yaml grants it): secrets is forbidden: "
            "User \"system:serviceaccount:crtoken:crtoken\" cannot list resource \"secrets\" in "
            "API group \"\" at the cluster scope");
}

// A page that cannot be had fails the whole List; a transient failure is retried, and an expired
// continue token starts the list again from the first page.
TEST_F(KubernetesSecretSinkTest, ListIsWholeOrAnError) {
  KubernetesSinkOptions options = FastOptions();
  options.list_page_size = 1;
  auto sink = SinkWithToken(kToken, options);
  for (const char* id : {"id-1", "id-2", "id-3"}) {
    ASSERT_TRUE(sink->Write(Ref(std::string("pull-") + id), CredOf("team-a", id)).ok());
  }
  const std::vector<std::string> all = {"team-a/pull-id-1=id-1", "team-a/pull-id-2=id-2",
                                        "team-a/pull-id-3=id-3"};

  emu_.AddFault({{"status", 503}, {"count", 1}, {"methods", {"GET"}}, {"query", "continue="}});
  EXPECT_EQ(Names(sink->List("team-a")), all);

  emu_.AddFault({{"status", 410}, {"count", 1}, {"methods", {"GET"}}, {"query", "continue="}});
  emu_.ClearRequests();
  EXPECT_EQ(Names(sink->List("team-a")), all);
  EXPECT_EQ(emu_.Requests().size(), 5u);  // page 1, page 2 (410), then pages 1, 2, 3 again

  emu_.AddFault({{"status", 500}, {"count", 100}, {"methods", {"GET"}}, {"query", "continue="}});
  auto failed = sink->List("team-a");
  emu_.Api("DELETE", "/_emulator/faults");
  ASSERT_FALSE(failed.ok()) << "a partial list was returned";
  EXPECT_EQ(failed.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(failed.error().message.find("cannot list Secrets: "), std::string::npos);
  EXPECT_NE(failed.error().message.find("500"), std::string::npos) << failed.error().message;
}

// A Secret written before Secrets carried records gets one; its data is not sent, so not a byte of
// it changes.
TEST_F(KubernetesSecretSinkTest, StampPatchesTheRecordAndLeavesTheDataAlone) {
  auto sink = Sink();
  ASSERT_TRUE(sink->Write(Ref("pull"), Cred("old-pass", "")).ok());
  const json before = emu_.Secret("pull");

  emu_.ClearRequests();
  const SecretRecord record = RecordFor("team-a", "id-7");
  Status stamped = sink->Stamp(Ref("pull"), record);
  ASSERT_TRUE(stamped.ok()) << stamped.error().ToString();
  const json after = emu_.Secret("pull");
  EXPECT_EQ(after["data"], before["data"]);
  EXPECT_EQ(after["metadata"]["uid"], before["metadata"]["uid"]);
  EXPECT_EQ(after["metadata"]["labels"]["crtoken.ionos.com/owner"], "team-a");
  EXPECT_EQ(after["metadata"]["annotations"]["crtoken.io/registry-id"], "reg-abc123");
  EXPECT_EQ(after["metadata"]["annotations"]["crtoken.io/token-id"], "id-7");
  EXPECT_EQ(emu_.CountRequests("PATCH", "/secrets/pull"), 1);
  EXPECT_EQ(emu_.CountRequests("PUT", "/secrets/pull"), 0);
  for (const auto& r : emu_.Requests()) {
    if (r["method"] == "PATCH") {
      EXPECT_EQ(r["status"], 200);
    }
  }
  auto state = sink->Inspect(Ref("pull"));
  EXPECT_EQ(state.value().record, record);
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(Names(sink->List("team-a")), std::vector<std::string>{"team-a/pull=id-7"});

  // The same record again: nothing to send.
  emu_.ClearRequests();
  ASSERT_TRUE(sink->Stamp(Ref("pull"), record).ok());
  EXPECT_EQ(emu_.CountRequests("PATCH", "/secrets/pull"), 0);

  // Another writer between the GET and the PATCH: a genuine 409, read again and retried.
  emu_.AddFault({{"touch", true}, {"count", 1}, {"methods", {"PATCH"}}});
  ASSERT_TRUE(sink->Stamp(Ref("pull"), RecordFor("team-a", "id-8")).ok());
  EXPECT_EQ(emu_.Secret("pull")["metadata"]["annotations"]["crtoken.io/token-id"], "id-8");
  EXPECT_EQ(emu_.Secret("pull")["data"], before["data"]);
}

TEST_F(KubernetesSecretSinkTest, StampOfAMissingForeignOrEmptySecretIsRefused) {
  auto sink = Sink();
  Status missing = sink->Stamp(Ref("nothing-here"), RecordFor("team-a", "id-1"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(missing.error().message, "Secret team-a/nothing-here does not exist: nothing to stamp");

  const json theirs = {
      {"metadata", {{"name", "theirs"}}},
      {"type", "kubernetes.io/dockerconfigjson"},
      {"data",
       {{".dockerconfigjson", B64(R"({"auths":{"h":{"auth":")" + B64("u:p") + R"("}}})")}}}};
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets", theirs).first, 201);
  const json theirs_before = emu_.Secret("theirs");
  Status foreign = sink->Stamp(Ref("theirs"), RecordFor("team-a", "id-1"));
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().kind, ErrorKind::kConflict);
  EXPECT_NE(foreign.error().message.find("refusing to stamp it"), std::string::npos);
  EXPECT_EQ(emu_.Secret("theirs"), theirs_before);

  json emptied = theirs;
  emptied["metadata"] = {{"name", "emptied"},
                         {"labels", {{"app.kubernetes.io/managed-by", "crtoken"}}}};
  emptied["data"] = {{".dockerconfigjson", B64(R"({"auths":{}})")}};
  ASSERT_EQ(emu_.Api("POST", "/api/v1/namespaces/team-a/secrets", emptied).first, 201);
  Status empty = sink->Stamp(Ref("emptied"), RecordFor("team-a", "id-1"));
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().kind, ErrorKind::kInvalid);
  EXPECT_TRUE(sink->Inspect(Ref("emptied")).value().record.empty());
}

}  // namespace
}  // namespace crtoken
