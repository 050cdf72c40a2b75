// `crtoken status` end to end: the real binary against crtoken-emulator. One line (or JSON object)
// per declared token with its state, expiry, renewal, secret and why it is not in sync; exit 0
// only when every token is in sync; nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "reconciler/time_util.h"
#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string Spec(const std::string& name, const std::string& registry, const std::string& extra) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: " + registry + "\n" + extra +
         "  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: [pull]\n"
         "  secret:\n    file: " +
         name + ".json\n";
}

// The line of `text` whose first two columns are REGISTRY and TOKEN, split on blanks.
std::vector<std::string> Row(const std::string& text, const std::string& registry,
                             const std::string& token) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> row;
    for (std::string w; words >> w;) row.push_back(w);
    if (row.size() >= 2 && row[0] == registry && row[1] == token) return row;
  }
  return {};
}

class StatusE2eTest : public ::testing::Test {
 protected:
  StatusE2eTest() {
    WriteFile(dir_ / "specs/ci-push.yaml",
              Spec("ci-push", "acme", "  lifetime: 90d\n  renewBefore: 30d\n"));
    WriteFile(dir_ / "specs/puller.yaml",
              Spec("puller", "acme", "  expiryDate: 2031-01-01T00:00:00Z\n"));
    fs::create_directories(dir_ / "out");
  }

  CommandResult Run(const std::string& command, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        command,         "--specs",      (dir_ / "specs").string(),  "--api-url",
        emu_.base_url(), "--secret-dir", (dir_ / "secrets").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCrtoken(args, {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string(),
                      std::chrono::seconds(60));
  }

  // The emulator's expiryDate of a token of registry acme.
  std::string EmulatorExpiry(const std::string& name) {
    json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t.value("expiryDate", "");
      }
    }
    return "";
  }

  // The writes the emulator has seen (PUT, PATCH, DELETE, POST).
  int Writes() {
    int n = 0;
    for (const auto& r : emu_.Requests()) n += r.method == "GET" ? 0 : 1;
    return n;
  }

  EmulatorProcess emu_{{"--registry", "acme", "--token", "t"}};
  TempDir dir_{"crtoken-status"};
};

TEST_F(StatusE2eTest, AfterApplyEveryTokenIsInSyncWithItsExpiryAndRenewal) {
  ASSERT_EQ(Run("apply").exit_code, 0);
  const std::string expiry = EmulatorExpiry("ci-push");
  auto parsed = ParseRfc3339(expiry);
  ASSERT_TRUE(parsed.has_value()) << expiry;
  const std::string renewal = FormatRfc3339(*parsed - std::chrono::hours(30 * 24));
  emu_.ClearRequests();

  CommandResult text = Run("status");
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_EQ(Row(text.out, "REGISTRY", "TOKEN"),
            (std::vector<std::string>{"REGISTRY", "TOKEN", "STATE", "EXPIRES", "RENEWAL", "SECRET",
                                      "DETAIL"}))
      << text.out;
  EXPECT_EQ(Row(text.out, "acme", "ci-push"),
            (std::vector<std::string>{"acme", "ci-push", "in_sync", expiry, renewal,
                                      "file:ci-push.json", "-"}))
      << text.out;
  EXPECT_EQ(Row(text.out, "acme", "puller"),
            (std::vector<std::string>{"acme", "puller", "in_sync", "2031-01-01T00:00:00Z", "-",
                                      "file:puller.json", "-"}))
      << text.out;
  EXPECT_NE(
      text.out.find("Status: 2 tokens: 2 in sync, 0 pending, 0 in error; 0 undeclared to delete."),
      std::string::npos)
      << text.out;

  CommandResult doc = Run("status", {"-o", "json"});
  EXPECT_EQ(doc.exit_code, 0) << doc.err;
  json j = json::parse(doc.out);
  EXPECT_EQ(j["inSync"], 2);
  EXPECT_EQ(j["pending"], 0);
  EXPECT_EQ(j["error"], 0);
  ASSERT_EQ(j["tokens"].size(), 2u);
  const json& ci = j["tokens"][0]["token"] == "ci-push" ? j["tokens"][0] : j["tokens"][1];
  EXPECT_EQ(ci["registry"], "acme");
  EXPECT_EQ(ci["registryId"], emu_.RegistryId("acme"));
  EXPECT_EQ(ci["state"], "in_sync");
  EXPECT_EQ(ci["expiry"], expiry);
  EXPECT_EQ(ci["renewal"], renewal);
  EXPECT_EQ(ci["secret"], "file:ci-push.json");
  EXPECT_TRUE(ci["lastError"].is_null());
  EXPECT_TRUE(ci["pending"].is_null());
  EXPECT_EQ(Writes(), 0);  // read-only
}

TEST_F(StatusE2eTest, ATokenNotInSyncExitsOneSayingWhyAndChangesNothing) {
  ASSERT_EQ(Run("apply").exit_code, 0);
  fs::remove(dir_ / "secrets/ci-push.json");  // its password is lost: a re-issue is pending
  WriteFile(dir_ / "specs/lost.yaml", Spec("lost", "gamma", ""));  // no such registry
  emu_.ClearRequests();

  CommandResult text = Run("status");
  EXPECT_EQ(text.exit_code, 1) << text.out << text.err;
  std::vector<std::string> ci = Row(text.out, "acme", "ci-push");
  ASSERT_GE(ci.size(), 7u) << text.out;
  EXPECT_EQ(ci[2], "pending");
  EXPECT_EQ(ci[6], "reissue") << text.out;
  std::vector<std::string> lost = Row(text.out, "gamma", "lost");
  ASSERT_GE(lost.size(), 7u) << text.out;
  EXPECT_EQ(lost[2], "error");
  EXPECT_EQ(lost[3], "-");
  EXPECT_NE(text.out.find("registry gamma"), std::string::npos) << text.out;
  EXPECT_EQ(Row(text.out, "acme", "puller")[2], "in_sync");
  EXPECT_NE(
      text.out.find("Status: 3 tokens: 1 in sync, 1 pending, 1 in error; 0 undeclared to delete."),
      std::string::npos)
      << text.out;

  CommandResult doc = Run("status", {"-o", "json"});
  EXPECT_EQ(doc.exit_code, 1);
  json j = json::parse(doc.out);
  EXPECT_EQ(j["pending"], 1);
  EXPECT_EQ(j["error"], 1);
  for (const json& t : j["tokens"]) {
    if (t["token"] == "ci-push") {
      EXPECT_EQ(t["state"], "pending");
      EXPECT_EQ(t["pending"].get<std::string>().rfind("reissue acme/ci-push", 0), 0u) << t.dump();
      EXPECT_TRUE(t["lastError"].is_null());
    }
    if (t["token"] == "lost") {
      EXPECT_EQ(t["state"], "error");
      EXPECT_EQ(t["registryId"], "");
      EXPECT_NE(t["lastError"].get<std::string>().find("gamma"), std::string::npos) << t.dump();
      EXPECT_TRUE(t["pending"].is_null());
    }
  }
  EXPECT_EQ(Writes(), 0);  // nothing re-issued, nothing created
  EXPECT_FALSE(fs::exists(dir_ / "secrets/ci-push.json"));
}

}  // namespace
}  // namespace crtoken::test
