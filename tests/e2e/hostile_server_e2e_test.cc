// The real `crtoken` binary against servers it must not trust blindly: a registry list that shifts
// while it is paged (the real crtoken-emulator, with a fault rule and a concurrent delete), a
// server that redirects elsewhere (a second listener on another loopback address must hear
// nothing), a server whose error text is hostile, and servers that cannot be used at all (a
// closed port, an untrusted certificate), where a one-shot command must say why and end quickly.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/raw_http_server.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using crtoken::test::RawHttpServer;
using crtoken::test::RawReply;
using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

#define ASSERT_EXIT_CODE(result, code) \
  ASSERT_EQ((result).exit_code, code) << "stdout:\n" << (result).out << "stderr:\n" << (result).err

class HostileServerE2eTest : public ::testing::Test {
 protected:
  HostileServerE2eTest() : dir_("crtoken-hostile") {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "out");
  }

  void WriteSpecs(const std::vector<std::string>& names, const std::string& registry) {
    std::string text;
    for (size_t i = 0; i < names.size(); ++i) {
      if (i > 0) text += "---\n";
      text += TokenSpecYaml(names[i], registry);
    }
    WriteFile(dir_ / "specs/tokens.yaml", text);
  }

  CommandResult Run(const std::string& command, const std::string& api_url,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> args = OneShotArgs(
        command, api_url, dir_.path(),
        {"--specs", (dir_ / "specs").string(), "--api-qps", "1000", "--api-burst", "1000"});
    args.insert(args.end(), extra.begin(), extra.end());
    // A generous deadline: a hang is killed (timed_out, exit 137) instead of stalling the suite.
    return RunCrtoken(args, {{"IONOS_TOKEN", "bearer-SECRET-e2e"}}, (dir_ / "out").string(),
                      std::chrono::seconds(30));
  }

  // The first line of stderr that is not an info log line: where a person looks for the error.
  static std::string FirstProblemLine(const std::string& err) {
    std::istringstream in(err);
    for (std::string line; std::getline(in, line);) {
      if (line.find(" info  ") == std::string::npos) return line;
    }
    return "";
  }

  TempDir dir_;
};

// A registry list that shifts while it is paged must not hide a token. 250 owned tokens; the one
// at index 100 is no longer declared; while crtoken waits for the page at offset 100 (a fault
// rule delays it), another client deletes the token at index 0, so the page starts one token
// later and the token at index 100 is on no page. The distinct count of that reading (249)
// equals the final total: only the totals of the pages disagree. crtoken must read the list
// again and prune the token, not report convergence with the token left behind, unowned.
TEST_F(HostileServerE2eTest, TokenAtAPageBoundaryIsNotLostWhenTheListShifts) {
  EmulatorProcess emu({"--registry", "acme-prod", "--token", "bearer-SECRET-e2e"});
  std::vector<std::string> names;
  for (int i = 0; i < 250; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "tok-%03d", i);
    names.push_back(name);
  }
  WriteSpecs(names, "acme-prod");
  ASSERT_EXIT_CODE(Run("apply", emu.base_url()), 0);

  const std::string registry_id = emu.RegistryId("acme-prod");
  const json tokens = emu.StateJson()["registries"][0]["tokens"];  // in creation order
  ASSERT_EQ(tokens.size(), 250u);
  const std::string first_id = tokens[0]["id"];
  const std::string first_name = tokens[0]["name"];
  const std::string victim = tokens[100]["name"];
  std::vector<std::string> declared;
  for (const auto& n : names) {
    if (n != victim) declared.push_back(n);
  }
  WriteSpecs(declared, "acme-prod");

  emu.AddFault(
      {{"method", "GET"}, {"path", "/tokens\\?offset=100&"}, {"delayMs", 1500}, {"times", 1}});
  emu.ClearRequests();
  CommandResult apply;
  std::thread runner([&] { apply = Run("apply", emu.base_url()); });
  // Page 1 has been answered (the log records an answer once it is sent): crtoken now waits for
  // the delayed page 2, which the emulator computes after the delay, after this delete.
  bool page1 = false;
  for (auto until = Clock::now() + std::chrono::seconds(30); !page1 && Clock::now() < until;) {
    for (const auto& r : emu.Requests()) {
      page1 = page1 || r.path.find("/tokens?offset=0&") != std::string::npos;
    }
    if (!page1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  HttpResult deleted =
      page1 ? HttpCall("DELETE",
                       emu.base_url() + "/registries/" + registry_id + "/tokens/" + first_id,
                       {{"Authorization", "Bearer bearer-SECRET-e2e"}})
            : HttpResult{};
  runner.join();
  ASSERT_TRUE(page1) << "crtoken never listed the tokens";
  ASSERT_GE(deleted.status, 200) << deleted.error;
  ASSERT_LT(deleted.status, 300) << deleted.body;

  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_NE(apply.err.find("disagree"), std::string::npos) << apply.err;
  std::set<std::string> present;
  const json state = emu.StateJson();  // iterate a copy: a temporary's member would dangle
  for (const auto& t : state["registries"][0]["tokens"]) present.insert(t["name"]);
  EXPECT_EQ(present.count(victim), 0u) << victim << " was left behind";
  EXPECT_EQ(present.count(first_name), 1u) << "the deleted declared token is created again";
  EXPECT_EQ(present.size(), 249u);
}

// The bearer token must never reach another origin: a server that redirects to a second host
// (127.0.0.2) gets an error naming that host, and the second host gets nothing at all.
TEST_F(HostileServerE2eTest, RedirectsAreRefusedAndTheOtherHostHearsNothing) {
  RawHttpServer api_server;
  RawHttpServer elsewhere("127.0.0.2");
  elsewhere.SetDefault(
      RawHttpServer::Json(200, R"({"items":[{"id":"0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11",)"
                               R"("properties":{"name":"acme-prod","hostname":"evil"}}]})"));
  WriteSpecs({"ci-push"}, "acme-prod");
  struct Case {
    int status;
    std::string location;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {302, elsewhere.url() + "/containerregistries/registries?filter.name=acme-prod",
       "HTTP 302 redirect to " + elsewhere.url() + ": not followed"},
      {307, api_server.url() + "/containerregistries/v2/registries",
       "HTTP 307 redirect to " + api_server.url() + ": not followed"},
      {301, "", "HTTP 301 redirect without a Location: not followed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.status);
    RawReply r = RawHttpServer::Json(c.status, "{}");
    if (!c.location.empty()) r.headers.push_back({"Location", c.location});
    api_server.SetDefault(r);
    const size_t before = api_server.Requests().size();
    for (const char* command : {"plan", "apply"}) {
      CommandResult result = Run(command, api_server.url() + "/containerregistries");
      ASSERT_EXIT_CODE(result, 1);
      EXPECT_NE(result.err.find(c.expect), std::string::npos) << result.err;
    }
    // One request per command (the registry list, a pass's first): a redirect is final (apply
    // does not try another pass either), nothing was retried or followed.
    auto requests = api_server.Requests();
    ASSERT_EQ(requests.size(), before + 2);
    for (size_t i = before; i < requests.size(); ++i) {
      EXPECT_EQ(requests[i].target.rfind("/containerregistries/registries?limit=", 0), 0u);
    }
  }
  EXPECT_EQ(elsewhere.Connections(), 0);
  EXPECT_TRUE(elsewhere.Requests().empty());
  EXPECT_FALSE(fs::exists(dir_ / "secrets/ci-push.json"));
}

// A server's error text reaches stderr escaped and bounded: a newline cannot forge a log line,
// terminal escapes are not sent, and a flood of text is cut.
TEST_F(HostileServerE2eTest, HostileErrorTextCannotForgeLinesOrFloodStderr) {
  RawHttpServer api_server;
  const std::string forged = "2030-01-01T00:00:00.000Z info  reconcile pass done errors=0";
  const std::string message = "no\n" + forged + "\x1b[2J\x1b[31m\r" + std::string(1 << 20, 'A');
  api_server.SetDefault(RawHttpServer::Json(
      400, json{{"httpStatus", 400}, {"messages", {{{"errorCode", "E"}, {"message", message}}}}}
               .dump()));
  WriteSpecs({"ci-push"}, "acme-prod");
  for (const char* format : {"text", "json"}) {
    SCOPED_TRACE(format);
    CommandResult plan =
        Run("plan", api_server.url() + "/containerregistries", {"--log-format", format});
    ASSERT_EXIT_CODE(plan, 1);
    EXPECT_NE(plan.err.find("no\\n2030-01-01T00:00:00.000Z"), std::string::npos) << plan.err;
    EXPECT_EQ(plan.err.find('\x1b'), std::string::npos);
    EXPECT_EQ(plan.err.find('\r'), std::string::npos);
    std::istringstream lines(plan.err);
    for (std::string line; std::getline(lines, line);) {
      EXPECT_NE(line.rfind(forged, 0), 0u) << "a forged line";
    }
    EXPECT_LT(plan.err.size(), 64u * 1024) << "1 MB of message must not reach stderr";
  }
}

// One-shot commands against an API they cannot use say why in their first problem line and give
// up within seconds (the budget of retries is for the daemon).
TEST_F(HostileServerE2eTest, UnreachableApiFailsFastSayingWhy) {
  uint16_t port;
  {
    RawHttpServer closed;  // a port that was just free
    port = static_cast<uint16_t>(closed.port());
  }
  WriteSpecs({"ci-push"}, "acme-prod");
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/containerregistries";
  for (const char* command : {"plan", "apply"}) {
    SCOPED_TRACE(command);
    const auto start = Clock::now();
    CommandResult r = Run(command, url);
    const auto seconds = std::chrono::duration<double>(Clock::now() - start).count();
    ASSERT_EXIT_CODE(r, 1);
    EXPECT_LT(seconds, 20.0) << "gave up only after the retry budget";
    const std::string first = FirstProblemLine(r.err);
    EXPECT_NE(first.find("connection refused by 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << r.err;
  }
}

TEST_F(HostileServerE2eTest, UntrustedCertificateFailsFastSayingWhy) {
  const std::string key = (dir_ / "key.pem").string();
  const std::string cert = (dir_ / "cert.pem").string();
  const std::string openssl =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
      "-keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(openssl.c_str()), 0) << openssl;
  RawHttpServer tls_server(crtoken::test::TestCert{cert, key});
  WriteSpecs({"ci-push"}, "acme-prod");
  const auto start = Clock::now();
  // It used to hang now and then at exit (a pool thread freeing the TLS connection after OpenSSL
  // had cleaned up; tests/daemon/common/cpprest_pool_test.cc): a hang fails here, killed at the
  // deadline.
  CommandResult r = Run("plan", tls_server.url() + "/containerregistries");
  EXPECT_FALSE(r.timed_out) << "hung; its stderr:\n" << r.err;
  const auto seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ASSERT_EXIT_CODE(r, 1);
  EXPECT_LT(seconds, 20.0);
  const std::string first = FirstProblemLine(r.err);
  EXPECT_NE(first.find("TLS certificate of 127.0.0.1:" + std::to_string(tls_server.port()) +
                       " not trusted: self-signed certificate"),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(tls_server.Requests().empty()) << "no request reached the untrusted server";
}

}  // namespace
}  // namespace crtoken::test
