// HttpRegistryApi's paged lists: the registry list (cursor) and the token list (offset/total) go
// through one paging loop. Against the real crtoken-emulator (small pages by --max-limit; what
// was requested read from its request log) and against a scripted server for pages no honest
// server sends.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "daemon/registry/http_registry_api.h"
#include "reconciler/token_id.h"
#include "tests/support/emulator_process.h"
#include "tests/support/raw_http_server.h"

namespace crtoken {
namespace {

using nlohmann::json;
using test::EmulatorProcess;
using test::RawHttpServer;
using test::RawReply;
using test::RequestEntry;

HttpRegistryApiConfig Config(const std::string& base_url) {
  HttpRegistryApiConfig c;
  c.base_url = base_url;
  c.credentials = Credentials::Bearer("t");
  c.qps = 1e6;
  c.burst = 1000000;
  c.request_timeout = std::chrono::seconds(10);
  c.retry.initial_backoff = std::chrono::milliseconds(1);
  c.retry.max_backoff = std::chrono::milliseconds(5);
  c.retry.max_attempts = 4;
  c.retry.retry_after_cap = std::chrono::seconds(1);
  c.jitter_seed = 3;
  return c;
}

std::unique_ptr<HttpRegistryApi> Api(const std::string& base_url) {
  auto api = HttpRegistryApi::Create(Config(base_url));
  if (!api.ok()) ADD_FAILURE() << api.error().ToString();
  return std::move(api.value());
}

// "reg-000" ... : `n` registry names.
std::vector<std::string> Names(int n) {
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) {
    char name[16];
    std::snprintf(name, sizeof(name), "reg-%03d", i);
    names.push_back(name);
  }
  return names;
}

// An emulator seeded with `names`, answering at most `page_size` items a page.
std::vector<std::string> EmulatorArgs(const std::vector<std::string>& names, int page_size,
                                      std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--token", "t", "--max-limit", std::to_string(page_size)};
  for (const auto& n : names) {
    args.push_back("--registry");
    args.push_back(n);
  }
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// The logged API requests of `method` whose path (with query) starts with `prefix`.
std::vector<RequestEntry> Logged(const EmulatorProcess& emu, const std::string& method,
                                 const std::string& prefix) {
  std::vector<RequestEntry> out;
  for (const auto& r : emu.Requests()) {
    if (r.method == method && r.path.rfind(prefix, 0) == 0) out.push_back(r);
  }
  return out;
}

constexpr char kRegistries[] = "/containerregistries/registries?";

// name -> id, as the emulator holds them.
std::map<std::string, std::string> StateRegistries(const EmulatorProcess& emu) {
  std::map<std::string, std::string> out;
  const json state = emu.StateJson();
  for (const auto& r : state["registries"]) out[r["name"]] = r["id"];
  return out;
}

// Every registry once, with its id, name and hostname as the emulator holds them.
void ExpectEveryRegistryOnce(const std::vector<RegistryInfo>& listed,
                             const std::map<std::string, std::string>& state) {
  std::map<std::string, std::string> seen;
  for (const RegistryInfo& r : listed) {
    EXPECT_TRUE(seen.emplace(r.name, r.id).second) << r.name << " listed twice";
    EXPECT_EQ(r.hostname, r.name + ".cr.de-fra.ionos.com");
    EXPECT_EQ(r.state, "Running");
  }
  EXPECT_EQ(seen, state);
}

TEST(ListPagingTest, ListRegistriesReadsEveryPageOfTheCursor) {
  const auto names = Names(25);
  for (const char* last : {"empty", "absent"}) {
    SCOPED_TRACE(last);
    EmulatorProcess emu(EmulatorArgs(names, 7, {"--registry-last-token", last}));
    auto api = Api(emu.base_url());
    auto listed = api->ListRegistries();
    ASSERT_TRUE(listed.ok()) << listed.error().ToString();
    ASSERT_EQ(listed.value().size(), 25u);
    ExpectEveryRegistryOnce(listed.value(), StateRegistries(emu));

    // 7 + 7 + 7 + 4: four pages, the first without a cursor, each later one with the cursor the
    // page before gave; and no fifth request after the last page.
    auto pages = Logged(emu, "GET", kRegistries);
    ASSERT_EQ(pages.size(), 4u);
    EXPECT_EQ(pages[0].path, std::string(kRegistries) + "limit=100");
    for (size_t i = 1; i < pages.size(); ++i) {
      EXPECT_EQ(pages[i].path.rfind(std::string(kRegistries) + "limit=100&pagination.token=", 0),
                0u)
          << pages[i].path;
      EXPECT_NE(pages[i].path, pages[i - 1].path);
    }
  }
}

TEST(ListPagingTest, OneFullPageCostsOneRequest) {
  // Registries: exactly one page of 7, and exactly two pages of 100.
  {
    EmulatorProcess emu(EmulatorArgs(Names(7), 7));
    auto api = Api(emu.base_url());
    auto listed = api->ListRegistries();
    ASSERT_TRUE(listed.ok()) << listed.error().ToString();
    EXPECT_EQ(listed.value().size(), 7u);
    EXPECT_EQ(Logged(emu, "GET", kRegistries).size(), 1u);
  }
  {
    EmulatorProcess emu(EmulatorArgs(Names(200), 1000));
    auto api = Api(emu.base_url());
    auto listed = api->ListRegistries();
    ASSERT_TRUE(listed.ok()) << listed.error().ToString();
    ExpectEveryRegistryOnce(listed.value(), StateRegistries(emu));
    EXPECT_EQ(Logged(emu, "GET", kRegistries).size(), 2u);
  }
  // Tokens: a registry of exactly 100 tokens (the page the client asks for) costs one request;
  // of 200, two.
  EmulatorProcess emu(EmulatorArgs({"acme"}, 1000));
  const std::string rid = emu.RegistryId("acme");
  auto api = Api(emu.base_url());
  const std::string tokens = "/containerregistries/registries/" + rid + "/tokens?";
  for (int i = 0; i < 200; ++i) {
    const std::string name = "tok-" + std::to_string(i);
    TokenFields f;
    f.name = name;
    ASSERT_TRUE(api->CreateToken(rid, OwnedTokenId("crtoken", rid, name, 1), f).ok());
    if (i + 1 != 100 && i + 1 != 200) continue;
    emu.ClearRequests();
    auto listed = api->ListTokens(rid);
    ASSERT_TRUE(listed.ok()) << listed.error().ToString();
    EXPECT_EQ(listed.value().size(), static_cast<size_t>(i + 1));
    auto pages = Logged(emu, "GET", tokens);
    ASSERT_EQ(pages.size(), (i + 1) / 100u) << "tokens: " << i + 1;
    EXPECT_EQ(pages[0].path, tokens + "offset=0&limit=100");
    if (pages.size() > 1) {
      EXPECT_EQ(pages[1].path, tokens + "offset=100&limit=100");
    }
  }
}

TEST(ListPagingTest, AFailedRegistryPageFailsTheWholeList) {
  EmulatorProcess emu(EmulatorArgs(Names(25), 7));
  auto api = Api(emu.base_url());
  // Every later page answers 500 (not retried): the first page alone is no list.
  emu.AddFault(
      {{"method", "GET"}, {"path", "/registries\\?.*pagination\\.token="}, {"status", 500}});
  auto listed = api->ListRegistries();
  ASSERT_FALSE(listed.ok()) << listed.value().size() << " registries listed";
  EXPECT_EQ(listed.error().kind, ErrorKind::kUnavailable) << listed.error().ToString();
  EXPECT_NE(listed.error().message.find("GET /registries?limit=100&pagination.token="),
            std::string::npos)
      << listed.error().message;
  EXPECT_NE(listed.error().message.find("HTTP 500"), std::string::npos) << listed.error().message;
  EXPECT_EQ(Logged(emu, "GET", kRegistries).size(), 2u);

  // A 503 on a later page is retried like any GET, within the list: the list is whole.
  emu.ClearFaults();
  emu.ClearRequests();
  emu.AddFault({{"method", "GET"},
                {"path", "/registries\\?.*pagination\\.token="},
                {"status", 503},
                {"retryAfter", "0"},
                {"times", 2}});
  listed = api->ListRegistries();
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  ExpectEveryRegistryOnce(listed.value(), StateRegistries(emu));
  EXPECT_EQ(Logged(emu, "GET", kRegistries).size(), 6u);  // 4 pages, 2 of them asked twice

  // An unauthorised first page: the list fails with the status's kind.
  emu.ClearFaults();
  emu.AddFault({{"method", "GET"}, {"path", "/registries\\?limit"}, {"status", 403}, {"times", 1}});
  listed = api->ListRegistries();
  ASSERT_FALSE(listed.ok());
  EXPECT_EQ(listed.error().kind, ErrorKind::kUnauthorized) << listed.error().ToString();
}

// --- pages no honest server sends -----------------------------------------------------------

// A registry list page: registries with the given ids, and the next cursor.
RawReply RegistryPage(const std::vector<std::string>& ids, const std::string& next) {
  json items = json::array();
  for (const auto& id : ids) {
    items.push_back({{"id", id}, {"properties", {{"name", "r-" + id.substr(24)}}}});
  }
  return RawHttpServer::Json(200, json{{"items", items}, {"pagination", {{"token", next}}}}.dump());
}

std::string Id(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

TEST(ListPagingTest, RegistryPagesThatDisagreeAreReadAgainThenRefused) {
  struct Case {
    const char* what;
    std::vector<RawReply> one_reading;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"a cursor given twice",
       {RegistryPage({Id(1)}, "c1"), RegistryPage({Id(2)}, "c2"), RegistryPage({Id(3)}, "c1")},
       "page 3 repeats a pagination token given before"},
      {"a page of registries listed already",
       {RegistryPage({Id(1), Id(2)}, "c1"), RegistryPage({Id(2), Id(1)}, "")},
       "page 2 holds only registries listed already"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RawHttpServer server;
    std::vector<RawReply> script;
    for (int reading = 0; reading < 3; ++reading) {
      script.insert(script.end(), c.one_reading.begin(), c.one_reading.end());
    }
    server.Script(script);
    auto api = Api(server.url() + "/containerregistries");
    auto listed = api->ListRegistries();
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().kind, ErrorKind::kUnavailable);
    const std::string& m = listed.error().message;
    EXPECT_NE(m.find("GET /registries: the registry list is inconsistent"), std::string::npos) << m;
    EXPECT_NE(m.find(c.expect), std::string::npos) << m;
    EXPECT_EQ(server.Requests().size(), script.size()) << "three readings, whole";
  }

  // A registry seen on two pages once (the list shifted while it was read): the second reading
  // is consistent, and its registries are the list.
  RawHttpServer server;
  server.Script({RegistryPage({Id(1), Id(2)}, "c1"), RegistryPage({Id(2)}, "c2"),
                 RegistryPage({Id(1), Id(2)}, "c1"), RegistryPage({Id(3)}, "")});
  auto api = Api(server.url() + "/containerregistries");
  auto listed = api->ListRegistries();
  ASSERT_TRUE(listed.ok()) << listed.error().ToString();
  std::set<std::string> ids;
  for (const auto& r : listed.value()) ids.insert(r.id);
  EXPECT_EQ(ids, (std::set<std::string>{Id(1), Id(2), Id(3)}));
  EXPECT_EQ(listed.value().size(), 3u);
  EXPECT_EQ(server.Requests().size(), 4u);
}

TEST(ListPagingTest, RegistryPagingIsBoundedAndBodiesCapped) {
  // A new cursor and a new registry on every page, without end: 100 pages a reading.
  {
    RawHttpServer server;
    std::vector<RawReply> script;
    for (int i = 0; i < 300; ++i) script.push_back(RegistryPage({Id(i)}, "c" + std::to_string(i)));
    server.Script(script);
    auto api = Api(server.url() + "/containerregistries");
    auto listed = api->ListRegistries();
    ASSERT_FALSE(listed.ok());
    EXPECT_NE(listed.error().message.find("paging goes on past 100 pages"), std::string::npos)
        << listed.error().message;
    EXPECT_EQ(server.Requests().size(), 300u);
  }
  // A page over the body cap fails the list at once: not read again, not retried.
  {
    RawHttpServer server;
    RawReply flood;
    flood.endless = true;
    server.Script({RegistryPage({Id(1)}, "c1"), flood});
    auto api = Api(server.url() + "/containerregistries");
    auto listed = api->ListRegistries();
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().kind, ErrorKind::kUnavailable);
    EXPECT_NE(listed.error().message.find("exceeds the limit"), std::string::npos)
        << listed.error().message;
    EXPECT_EQ(server.Requests().size(), 2u);
  }
  // A body that is not a registry list: the list fails, naming the page.
  {
    RawHttpServer server;
    server.SetDefault(RawHttpServer::Json(200, R"({"items":{"not":"an array"}})"));
    auto api = Api(server.url() + "/containerregistries");
    auto listed = api->ListRegistries();
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().kind, ErrorKind::kUnavailable);
    EXPECT_NE(listed.error().message.find("GET /registries?limit=100: malformed response"),
              std::string::npos)
        << listed.error().message;
  }
}

}  // namespace
}  // namespace crtoken
