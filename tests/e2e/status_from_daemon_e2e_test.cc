// `crtoken status --from URL` end to end: a real `crtoken run` against crtoken-emulator serves the
// states of its last passes on GET /status (health port; never a secret), and `crtoken status
// --from` prints them as the read-only variant does, with its exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_fixture.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// The words of the line of `text` whose first two are REGISTRY and TOKEN.
std::vector<std::string> Row(const std::string& text, const std::string& registry,
                             const std::string& token) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string w; words >> w;) row.push_back(w);
    if (row.size() >= 3 && row[0] == registry && row[1] == token) return row;
  }
  return {};
}

class StatusFromDaemonE2eTest : public DaemonFixture<> {
 protected:
  StatusFromDaemonE2eTest() : DaemonFixture({"acme"}, "crtoken-status-from") {}

  std::string From() const { return "http://127.0.0.1:" + std::to_string(health_port_); }
  CommandResult Status(std::vector<std::string> extra) {
    std::vector<std::string> args = {"status"};
    args.insert(args.end(), extra.begin(), extra.end());
    fs::create_directories(dir_ / "out");
    // No credentials: --from needs none.
    return RunCrtoken(args, {}, (dir_ / "out").string(), std::chrono::seconds(60));
  }
  json StatusDocument() {
    std::string body;
    if (GetLocal(health_port_, "/status", &body) != 200) return json();
    return json::parse(body, nullptr, false);
  }
};

TEST_F(StatusFromDaemonE2eTest, ShowsTheDaemonsLastPassesWithTheReadOnlyExitCodes) {
  WriteFile(specs_ / "ci-push.yaml", TokenSpecYaml("ci-push", "acme"));
  WriteFile(specs_ / "lost.yaml", TokenSpecYaml("lost", "nowhere"));  // no such registry
  StartOn({}, {});
  ASSERT_TRUE(WaitReady());

  // The endpoint: the states of the last passes, never a password.
  json doc = StatusDocument();
  ASSERT_TRUE(doc.is_object()) << doc;
  EXPECT_EQ(doc["inSync"], 1) << doc;
  EXPECT_EQ(doc["error"], 1) << doc;
  EXPECT_EQ(doc["ready"], true) << doc;
  std::string body;
  ASSERT_EQ(GetLocal(health_port_, "/status", &body), 200);
  const json token = emu_->Token("ci-push", "acme");
  ASSERT_TRUE(token.is_object());
  const std::string password = token.value("password", "");
  ASSERT_FALSE(password.empty());
  EXPECT_EQ(body.find(password), std::string::npos);

  // The table, from the daemon: exit 1 while a token is in error, which says why.
  CommandResult text = Status({"--from", From()});
  EXPECT_EQ(text.exit_code, 1) << text.out << text.err;
  std::vector<std::string> ok = Row(text.out, "acme", "ci-push");
  ASSERT_GE(ok.size(), 3u) << text.out;
  EXPECT_EQ(ok[2], "in_sync");
  std::vector<std::string> lost = Row(text.out, "nowhere", "lost");
  ASSERT_GE(lost.size(), 3u) << text.out;
  EXPECT_EQ(lost[2], "error");
  EXPECT_NE(text.out.find("Status: 2 tokens: 1 in sync, 0 pending, 1 in error"), std::string::npos)
      << text.out;
  EXPECT_NE(text.err.find("crtoken status: error: "), std::string::npos) << text.err;
  EXPECT_NE(text.err.find("nowhere"), std::string::npos) << text.err;
  EXPECT_EQ(text.out.find(password), std::string::npos);

  // -o json: the same document as the endpoint's.
  CommandResult js = Status({"--from", From() + "/", "-o", "json"});
  EXPECT_EQ(js.exit_code, 1) << js.err;
  json printed = json::parse(js.out, nullptr, false);
  ASSERT_TRUE(printed.is_object()) << js.out;
  EXPECT_EQ(printed["tokens"], StatusDocument()["tokens"]);
  EXPECT_EQ(printed["error"], 1);

  // The spec in error goes: once the daemon has reloaded, everything is in sync and exit is 0.
  fs::remove(specs_ / "lost.yaml");
  ASSERT_TRUE(WaitUntil([&] {
    json d = StatusDocument();
    return d.is_object() && d["tokens"].size() == 1 && d["errors"].empty();
  })) << StatusDocument();
  CommandResult synced = Status({"--from", From()});
  EXPECT_EQ(synced.exit_code, 0) << synced.out << synced.err;
  EXPECT_NE(synced.out.find("Status: 1 tokens: 1 in sync, 0 pending, 0 in error; 0 undeclared"),
            std::string::npos)
      << synced.out;
  EXPECT_EQ(synced.err, "");
}

TEST_F(StatusFromDaemonE2eTest, NoDaemonOrABadAddressIsAClearErrorAndExit1) {
  CommandResult refused = Status({"--from", From()});  // nothing listens there
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_FALSE(refused.timed_out);
  EXPECT_NE(refused.err.find("GET " + From() + "/status: "), std::string::npos) << refused.err;
  EXPECT_NE(refused.err.find("refused"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.out, "");

  CommandResult bad = Status({"--from", "127.0.0.1:9"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("want the daemon's health address as http://HOST:PORT"), std::string::npos)
      << bad.err;

  // Something else answers there: not a status document.
  const std::string other = "http://127.0.0.1:" + std::to_string(emu_->port()) + "/_emulator";
  CommandResult wrong = Status({"--from", other});
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_NE(wrong.err.find("crtoken status: GET "), std::string::npos) << wrong.err;
}

}  // namespace
}  // namespace crtoken::test
