// HttpRegistryApi against the real crtoken-emulator: paging, registry reads, every error kind,
// retries under fault rules, and end states checked through the emulator's admin endpoints.
#include <gtest/gtest.h>

#include <ctime>
#include <thread>

#include "daemon/app/runtime.h"
#include "daemon/registry/http_registry_api.h"
#include "reconciler/metrics.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"
#include "tests/support/emulator_process.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using nlohmann::json;
using test::EmulatorProcess;
using test::RequestEntry;

HttpRegistryApiConfig Config(const EmulatorProcess& emu, Metrics* metrics = nullptr) {
  HttpRegistryApiConfig c;
  c.base_url = emu.base_url();
  c.credentials = Credentials::Bearer("t");
  c.qps = 10000;
  c.burst = 10000;
  c.request_timeout = std::chrono::seconds(10);
  c.retry.initial_backoff = std::chrono::milliseconds(5);
  c.retry.max_backoff = std::chrono::milliseconds(20);
  c.retry.max_attempts = 5;
  c.retry.retry_budget = std::chrono::seconds(30);
  c.retry.retry_after_cap = std::chrono::seconds(5);
  c.jitter_seed = 7;
  c.metrics = metrics;
  return c;
}

std::unique_ptr<HttpRegistryApi> Api(const HttpRegistryApiConfig& c) {
  auto api = HttpRegistryApi::Create(c);
  if (!api.ok()) ADD_FAILURE() << api.error().ToString();
  return std::move(api.value());
}

// The API requests of the log (admin calls are not logged by the emulator).
std::vector<RequestEntry> Matching(const EmulatorProcess& emu, const std::string& method,
                                   const std::string& fragment) {
  std::vector<RequestEntry> out;
  for (const auto& r : emu.Requests()) {
    if (r.method == method && r.path.find(fragment) != std::string::npos) out.push_back(r);
  }
  return out;
}

json StateToken(const EmulatorProcess& emu, const std::string& registry, const std::string& id) {
  const json state = emu.StateJson();  // a named value: ranging over a temporary's member dangles
  for (const auto& r : state["registries"]) {
    if (r["name"] != registry) continue;
    for (const auto& t : r["tokens"]) {
      if (t["id"] == id) return t;
    }
  }
  return nullptr;
}

size_t StateTokenCount(const EmulatorProcess& emu, const std::string& registry) {
  const json state = emu.StateJson();
  for (const auto& r : state["registries"]) {
    if (r["name"] == registry) return r["tokens"].size();
  }
  return 0;
}

std::string HttpDate(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  static const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[tm.tm_wday],
                tm.tm_mday, kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

double Counter(Metrics& metrics, const std::string& method, const std::string& code) {
  for (const auto& family : metrics.registry()->Collect()) {
    if (family.name != "crtoken_api_requests_total") continue;
    for (const auto& m : family.metric) {
      std::string c, me;
      for (const auto& l : m.label) {
        if (l.name == "code") c = l.value;
        if (l.name == "method") me = l.value;
      }
      if (me == method && c == code) return m.counter.value;
    }
  }
  return 0;
}

TokenFields Fields(const std::string& name) {
  TokenFields f;
  f.name = name;
  f.scopes = {{"app/*", "repository", {"pull", "push"}}};
  return f;
}

TEST(EmulatorApiTest, CreateReturnsTheIssuedPasswordAndListPagesOver250) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  std::map<std::string, std::string> passwords;  // id -> password
  for (int i = 0; i < 257; ++i) {
    const std::string name = "tok-" + std::to_string(i);
    const std::string id = OwnedTokenId("crtoken", rid, name, 1);
    auto c = api->CreateToken(rid, id, Fields(name));
    ASSERT_TRUE(c.ok()) << c.error().ToString();
    EXPECT_EQ(c.value().token.id, id);
    EXPECT_EQ(c.value().token.name, name);
    EXPECT_FALSE(c.value().password.empty());
    passwords[id] = c.value().password.Reveal();
  }
  // The passwords are exactly those the emulator issued.
  const json state = emu.StateJson();
  for (const auto& r : state["registries"]) {
    if (r["name"] != "acme") continue;
    ASSERT_EQ(r["tokens"].size(), 257u);
    for (const auto& t : r["tokens"]) {
      EXPECT_EQ(t["password"].get<std::string>(), passwords[t["id"].get<std::string>()]);
    }
  }

  emu.ClearRequests();
  auto list = api->ListTokens(rid);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  ASSERT_EQ(list.value().size(), 257u);
  std::set<std::string> ids;
  for (const auto& t : list.value()) {
    ids.insert(t.id);
    EXPECT_EQ(t.scopes, (std::vector<Scope>{{"app/*", "repository", {"pull", "push"}}}));
  }
  EXPECT_EQ(ids.size(), 257u);
  auto pages = Matching(emu, "GET", "/tokens");
  ASSERT_EQ(pages.size(), 3u);
  EXPECT_NE(pages[0].path.find("offset=0&limit=100"), std::string::npos) << pages[0].path;
  EXPECT_NE(pages[1].path.find("offset=100&limit=100"), std::string::npos) << pages[1].path;
  EXPECT_NE(pages[2].path.find("offset=200&limit=100"), std::string::npos) << pages[2].path;
}

TEST(EmulatorApiTest, FailedPageFailsTheList) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  for (int i = 0; i < 150; ++i) {
    const std::string name = "tok-" + std::to_string(i);
    ASSERT_TRUE(api->CreateToken(rid, OwnedTokenId("crtoken", rid, name, 1), Fields(name)).ok());
  }
  emu.AddFault({{"method", "GET"}, {"path", "offset=100"}, {"status", 500}});
  auto list = api->ListTokens(rid);
  ASSERT_FALSE(list.ok());
  EXPECT_EQ(list.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(Matching(emu, "GET", "offset=100").size(), 1u);  // 500 is not retried
}

TEST(EmulatorApiTest, RegistryReadsAskEveryTime) {
  EmulatorProcess emu({"--registry", "acme-prod", "--registry", "acme", "--token", "t"});
  auto api = Api(Config(emu));
  auto byid = api->GetRegistry(emu.RegistryId("acme"));
  ASSERT_TRUE(byid.ok()) << byid.error().ToString();
  EXPECT_EQ(byid.value().id, emu.RegistryId("acme"));
  EXPECT_EQ(byid.value().name, "acme");
  EXPECT_EQ(byid.value().hostname, "acme.cr.de-fra.ionos.com");
  auto unknown = api->GetRegistry("00000000-0000-4000-8000-000000000000");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::kNotFound);

  // No cache in the client (the reconcile pass lists the registries once per pass): every read
  // asks the API, so a registry recreated under the same name is seen at once.
  emu.ClearRequests();
  ASSERT_TRUE(api->ListRegistries().ok());
  ASSERT_TRUE(api->ListRegistries().ok());
  ASSERT_TRUE(api->GetRegistry(emu.RegistryId("acme-prod")).ok());
  ASSERT_TRUE(api->GetRegistry(emu.RegistryId("acme-prod")).ok());
  EXPECT_EQ(Matching(emu, "GET", "/registries?").size(), 2u);
  EXPECT_EQ(Matching(emu, "GET", "/registries/" + emu.RegistryId("acme-prod")).size(), 2u);
}

TEST(EmulatorApiTest, ProvisioningRegistryShowsItsHostnameOnceTheApiHasIt) {
  EmulatorProcess emu({"--token", "t", "--provision-seconds", "4"});
  auto api = Api(Config(emu));
  const std::string body = R"({"properties":{"name":"fresh","location":"de/fra"}})";
  auto made = api->Call(HttpMethod::kPost, "/registries", &body);
  ASSERT_TRUE(made.ok());
  ASSERT_EQ(made.value().status, 201) << made.value().body;

  auto early = test::RegistryNamed(*api, "fresh");
  ASSERT_TRUE(early.ok()) << early.error().ToString();
  EXPECT_EQ(early.value().hostname, "");
  EXPECT_EQ(early.value().state, "New");
  ASSERT_TRUE(test::RegistryNamed(*api, "fresh").ok());
  EXPECT_EQ(Matching(emu, "GET", "/registries?").size(), 2u);  // listed again

  emu.AdvanceClock(10);
  auto ready = test::RegistryNamed(*api, "fresh");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready.value().hostname, "fresh.cr.de-fra.ionos.com");
  ASSERT_TRUE(test::RegistryNamed(*api, "fresh").ok());
  EXPECT_EQ(Matching(emu, "GET", "/registries?").size(), 4u);  // never cached
}

TEST(EmulatorApiTest, ErrorKinds) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));

  // 400: a name the API's pattern refuses.
  auto bad = api->CreateToken(rid, OwnedTokenId("crtoken", rid, "-bad", 1), Fields("-bad"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kInvalid) << bad.error().ToString();
  EXPECT_NE(bad.error().message.find("PUT /registries/" + rid + "/tokens/"), std::string::npos);

  // 401: a wrong token.
  HttpRegistryApiConfig wrong = Config(emu);
  wrong.credentials = Credentials::Bearer("not-t");
  auto unauth = Api(wrong)->ListTokens(rid);
  ASSERT_FALSE(unauth.ok());
  EXPECT_EQ(unauth.error().kind, ErrorKind::kUnauthorized) << unauth.error().ToString();

  // 404: unknown token and unknown registry.
  const std::string missing = "00000000-0000-4000-8000-000000000001";
  auto nf = api->GetToken(rid, missing);
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.error().kind, ErrorKind::kNotFound);
  auto nfr = api->ListTokens(missing);
  ASSERT_FALSE(nfr.ok());
  EXPECT_EQ(nfr.error().kind, ErrorKind::kNotFound);

  // 409: the name is taken by a token with another id; the API's message is carried.
  ASSERT_TRUE(api->CreateToken(rid, OwnedTokenId("crtoken", rid, "ci", 1), Fields("ci")).ok());
  auto conflict = api->CreateToken(rid, OwnedTokenId("crtoken", rid, "ci", 2), Fields("ci"));
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(conflict.error().kind, ErrorKind::kConflict) << conflict.error().ToString();
  EXPECT_NE(conflict.error().message.find("HTTP 409: "), std::string::npos);
  EXPECT_EQ(StateTokenCount(emu, "acme"), 1u);

  // 429 for good: retried until the attempts run out, then kRateLimited.
  emu.AddFault({{"method", "GET"}, {"status", 429}, {"retryAfter", "0"}});
  emu.ClearRequests();
  auto limited = api->GetToken(rid, OwnedTokenId("crtoken", rid, "ci", 1));
  ASSERT_FALSE(limited.ok());
  EXPECT_EQ(limited.error().kind, ErrorKind::kRateLimited);
  EXPECT_EQ(emu.Requests().size(), 5u);  // max_attempts
  emu.ClearFaults();

  // 500: unavailable, not retried.
  emu.AddFault({{"method", "GET"}, {"status", 500}, {"times", 1}});
  emu.ClearRequests();
  auto down = api->GetToken(rid, OwnedTokenId("crtoken", rid, "ci", 1));
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(emu.Requests().size(), 1u);
}

TEST(EmulatorApiTest, RateLimitedThenSuccessBothRetryAfterForms) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  Metrics metrics;
  auto api = Api(Config(emu, &metrics));
  const std::string id = OwnedTokenId("crtoken", rid, "ci", 1);
  ASSERT_TRUE(api->CreateToken(rid, id, Fields("ci")).ok());

  for (const std::string& retry_after :
       {std::string("1"), HttpDate(std::chrono::system_clock::now() + std::chrono::seconds(2))}) {
    emu.ClearRequests();
    emu.AddFault({{"method", "GET"}, {"status", 429}, {"retryAfter", retry_after}, {"times", 1}});
    auto t = api->GetToken(rid, id);
    ASSERT_TRUE(t.ok()) << retry_after << ": " << t.error().ToString();
    auto reqs = emu.Requests();
    ASSERT_EQ(reqs.size(), 2u) << retry_after;
    EXPECT_EQ(reqs[0].status, 429);
    EXPECT_EQ(reqs[1].status, 200);
  }
  EXPECT_EQ(Counter(metrics, "GET", "429"), 2);
}

TEST(EmulatorApiTest, ServiceUnavailableBurstThenSuccess) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  emu.AddFault({{"status", 503}, {"times", 3}});
  const std::string id = OwnedTokenId("crtoken", rid, "ci", 1);
  auto c = api->CreateToken(rid, id, Fields("ci"));  // PUT is idempotent: retried
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  auto puts = Matching(emu, "PUT", id);
  ASSERT_EQ(puts.size(), 4u);
  EXPECT_EQ(puts[3].status, 201);
  EXPECT_EQ(StateToken(emu, "acme", id)["password"].get<std::string>(),
            c.value().password.Reveal());
}

TEST(EmulatorApiTest, ConnectionResetRetriedForGetNotForPost) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  emu.AddFault({{"method", "GET"}, {"reset", true}, {"times", 1}});
  auto list = api->ListTokens(rid);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  EXPECT_EQ(Matching(emu, "GET", "/tokens").size(), 2u);

  // The POST follows a GET, so a pooled keep-alive connection exists: cpprest would re-send a
  // request whose reused connection dies; a POST must not be re-sent even so.
  emu.ClearRequests();
  emu.AddFault({{"method", "POST"}, {"reset", true}, {"times", 1}});
  const std::string body = R"({"properties":{"name":"posted","status":"enabled","scopes":[]}})";
  auto post = api->Call(HttpMethod::kPost, "/registries/" + rid + "/tokens", &body);
  ASSERT_FALSE(post.ok()) << [&] {
    std::string s = "status " + std::to_string(post.value().status) + "; log:";
    for (const auto& r : emu.Requests()) s += " " + r.method + " " + std::to_string(r.status);
    return s;
  }();
  EXPECT_EQ(post.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(Matching(emu, "POST", "/tokens").size(), 1u);
  EXPECT_EQ(StateTokenCount(emu, "acme"), 0u);

  emu.ClearRequests();
  emu.AddFault({{"method", "POST"}, {"status", 503}, {"times", 1}});
  auto post503 = api->Call(HttpMethod::kPost, "/registries/" + rid + "/tokens", &body);
  ASSERT_TRUE(post503.ok());
  EXPECT_EQ(post503.value().status, 503);
  EXPECT_EQ(Matching(emu, "POST", "/tokens").size(), 1u);
  EXPECT_EQ(StateTokenCount(emu, "acme"), 0u);
}

TEST(EmulatorApiTest, SlowAnswerHitsTheDeadline) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  Metrics metrics;
  HttpRegistryApiConfig c = Config(emu, &metrics);
  c.request_timeout = std::chrono::milliseconds(400);
  auto api = Api(c);
  emu.AddFault({{"method", "GET"}, {"delayMs", 2000}, {"times", 1}});
  auto list = api->ListTokens(rid);
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  EXPECT_EQ(Counter(metrics, "GET", "error"), 1);  // the attempt that ran out of time
  EXPECT_EQ(Counter(metrics, "GET", "200"), 1);

  // Every attempt too slow: the call fails as unavailable with a timeout.
  emu.AddFault({{"method", "GET"}, {"delayMs", 2000}});
  c.retry.max_attempts = 2;
  auto api2 = Api(c);
  auto slow = api2->ListTokens(rid);
  ASSERT_FALSE(slow.ok());
  EXPECT_EQ(slow.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(slow.error().message.find("timeout"), std::string::npos) << slow.error().message;
}

TEST(EmulatorApiTest, PatchSendsOnlyTheChangedFieldsAndClearsExpiry) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  const std::string id = OwnedTokenId("crtoken", rid, "ci", 1);
  TokenFields f = Fields("ci");
  f.expiry = ParseRfc3339("2031-01-01T00:00:00Z");
  ASSERT_TRUE(api->CreateToken(rid, id, f).ok());
  EXPECT_EQ(StateToken(emu, "acme", id)["expiryDate"], "2031-01-01T00:00:00Z");

  TokenPatch status_only;
  status_only.status = TokenStatus::kDisabled;
  auto p1 = api->PatchToken(rid, id, status_only);
  ASSERT_TRUE(p1.ok()) << p1.error().ToString();
  EXPECT_EQ(p1.value().status, TokenStatus::kDisabled);
  json st = StateToken(emu, "acme", id);
  EXPECT_EQ(st["status"], "disabled");
  EXPECT_EQ(st["expiryDate"], "2031-01-01T00:00:00Z");  // untouched
  EXPECT_EQ(st["scopes"].size(), 1u);                   // untouched

  TokenPatch clear;
  clear.expiry = std::optional<Instant>();
  auto p2 = api->PatchToken(rid, id, clear);
  ASSERT_TRUE(p2.ok()) << p2.error().ToString();
  EXPECT_FALSE(p2.value().expiry.has_value());
  st = StateToken(emu, "acme", id);
  EXPECT_TRUE(st["expiryDate"].is_null() || !st.contains("expiryDate")) << st.dump();
  EXPECT_EQ(st["status"], "disabled");

  auto got = api->GetToken(rid, id);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got.value().expiry.has_value());
  EXPECT_EQ(got.value().status, TokenStatus::kDisabled);
}

TEST(EmulatorApiTest, RepeatedCreateNeverMakesASecondTokenAndDeleteIsIdempotent) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  const std::string id = OwnedTokenId("crtoken", rid, "ci", 1);
  auto first = api->CreateToken(rid, id, Fields("ci"));
  ASSERT_TRUE(first.ok());
  // The same create again (as after a lost answer): the token exists, no password comes back,
  // and that is an error rather than an empty secret.
  auto again = api->CreateToken(rid, id, Fields("ci"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(StateTokenCount(emu, "acme"), 1u);
  EXPECT_EQ(StateToken(emu, "acme", id)["password"].get<std::string>(),
            first.value().password.Reveal());

  ASSERT_TRUE(api->DeleteToken(rid, id).ok());
  EXPECT_EQ(StateTokenCount(emu, "acme"), 0u);
  ASSERT_TRUE(api->DeleteToken(rid, id).ok());  // 404: already gone
  auto dels = Matching(emu, "DELETE", id);
  ASSERT_EQ(dels.size(), 2u);
  EXPECT_EQ(dels[1].status, 404);
}

TEST(EmulatorApiTest, ExpiredTokensDisappear) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(Config(emu));
  const std::string id = OwnedTokenId("crtoken", rid, "short", 1);
  TokenFields f = Fields("short");
  f.expiry = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
             std::chrono::hours(2);
  ASSERT_TRUE(api->CreateToken(rid, id, f).ok());
  emu.AdvanceClock(3 * 3600);
  auto t = api->GetToken(rid, id);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().kind, ErrorKind::kNotFound);
  auto list = api->ListTokens(rid);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list.value().empty());
}

TEST(EmulatorApiTest, ConcurrentRegistriesShareOneClient) {
  EmulatorProcess emu({"--registry", "acme", "--registry", "beta", "--token", "t"});
  auto api = Api(Config(emu));
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (const std::string reg : {"acme", "beta"}) {
    const std::string rid = emu.RegistryId(reg);
    for (int part = 0; part < 2; ++part) {
      threads.emplace_back([&, rid, part] {
        for (int i = 0; i < 40; ++i) {
          const std::string name = "p" + std::to_string(part) + "-" + std::to_string(i);
          if (!api->CreateToken(rid, OwnedTokenId("crtoken", rid, name, 1), Fields(name)).ok()) {
            ++failures;
          }
          if (!api->ListTokens(rid).ok()) ++failures;
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(StateTokenCount(emu, "acme"), 80u);
  EXPECT_EQ(StateTokenCount(emu, "beta"), 80u);
}

TEST(EmulatorApiTest, FactoryResolvesCredentialsFromTheEnvironment) {
  EmulatorProcess emu({"--registry", "acme", "--user", "alice", "--password", "pw"});
  Options o;
  o.api_url = emu.base_url();
  auto missing = MakeHttpRegistryApi(o, nullptr, [](const std::string&) { return std::nullopt; });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(missing.error().message.find("--credentials-file"), std::string::npos);

  auto env = [](const std::string& k) -> std::optional<std::string> {
    if (k == "IONOS_USERNAME") return "alice";
    if (k == "IONOS_PASSWORD") return "pw";
    return std::nullopt;
  };
  auto api = MakeHttpRegistryApi(o, nullptr, env);
  ASSERT_TRUE(api.ok()) << api.error().ToString();
  auto reg = test::RegistryNamed(*api.value(), "acme");
  ASSERT_TRUE(reg.ok()) << reg.error().ToString();

  auto wrong =
      MakeHttpRegistryApi(o, nullptr, [](const std::string& k) -> std::optional<std::string> {
        if (k == "IONOS_TOKEN") return "nope";
        return std::nullopt;
      });
  ASSERT_TRUE(wrong.ok());
  auto denied = wrong.value()->ListRegistries();
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().kind, ErrorKind::kUnauthorized);

  o.ca_file = "/nonexistent/ca.pem";
  auto bad_ca = MakeHttpRegistryApi(o, nullptr, env);
  ASSERT_FALSE(bad_ca.ok());
  EXPECT_NE(bad_ca.error().message.find("--ca-file"), std::string::npos);
}

}  // namespace
}  // namespace crtoken
