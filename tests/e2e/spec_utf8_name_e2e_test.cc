// A spec file whose name is not valid UTF-8 (`caf\xe9.yaml`), end to end: the real `crtoken
// plan`/`apply` against crtoken-emulator load it, the ownership state file records its name so
// that it reads back exactly, and when the file later breaks its token is kept (the planner
// matches the recorded name to the failed file) while every message names it printably.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "daemon/common/json_text.h"
#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

bool Printable(const std::string& s) { return PrintableText(s, std::string::npos) == s; }

class SpecUtf8NameE2eTest : public ::testing::Test {
 protected:
  SpecUtf8NameE2eTest()
      : emu_({"--registry", "acme-prod", "--token", "t"}), dir_("crtoken-spec-utf8") {
    fs::create_directories(dir_.path() / "out");
  }
  CommandResult Run(const std::string& command, std::vector<std::string> extra = {}) {
    std::vector<std::string> args =
        OneShotArgs(command, emu_.base_url(), dir_.path(), {"--specs", Path("specs")});
    args.insert(args.end(), extra.begin(), extra.end());
    return RunCrtoken(args, {{"IONOS_TOKEN", "t"}}, Path("out"), std::chrono::seconds(60));
  }
  std::string Path(const std::string& rel) const { return (dir_.path() / rel).string(); }
  std::map<std::string, std::string> Tokens() {
    std::map<std::string, std::string> out;
    const json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        out[t["name"].get<std::string>()] = t["id"].get<std::string>();
      }
    }
    return out;
  }
  int Deletes() {
    int n = 0;
    for (const auto& r : emu_.Requests()) n += r.method == "DELETE";
    return n;
  }

  EmulatorProcess emu_;
  TempDir dir_;
};

TEST_F(SpecUtf8NameE2eTest, ItIsAppliedRecordedAndProtectedWhenItBreaks) {
  const std::string cafe = Path("specs") + "/caf\xe9.yaml";
  WriteFile(cafe, TokenSpecYaml("ci-push"));
  WriteFile(Path("specs") + "/other.yaml", TokenSpecYaml("puller"));

  const CommandResult plan = Run("plan", {"--log-format", "json"});
  EXPECT_EQ(plan.exit_code, 2) << PrintableText(plan.err);  // changes pending
  EXPECT_NE(plan.out.find("ci-push"), std::string::npos) << plan.out;

  const CommandResult apply = Run("apply", {"--log-format", "json", "--prune", "owned"});
  ASSERT_EQ(apply.exit_code, 0) << PrintableText(apply.err);
  const auto created = Tokens();
  ASSERT_EQ(created.size(), 2u) << PrintableText(apply.err);
  // Every JSON log line stays valid JSON.
  std::istringstream lines(apply.err);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << PrintableText(line);
  }
  // Nothing keeps the file's name: ownership is read from the registry and the secrets, and no
  // state directory is written.
  EXPECT_FALSE(fs::exists(Path("state")));

  // The file breaks: its token must stay (its file failed), with text logs printable.
  WriteFile(cafe, TokenSpecYaml("ci-push") + "  bogus: 1\n");
  emu_.ClearRequests();
  const CommandResult broken = Run("apply", {"--prune", "owned"});
  EXPECT_EQ(broken.exit_code, 1) << PrintableText(broken.err);
  EXPECT_EQ(Deletes(), 0) << PrintableText(broken.out + broken.err);
  EXPECT_EQ(Tokens(), created);
  EXPECT_NE(broken.err.find("caf\\ufffd.yaml:"), std::string::npos) << PrintableText(broken.err);
  std::istringstream text(broken.err);
  for (std::string line; std::getline(text, line);) EXPECT_TRUE(Printable(line)) << line;

  // Deleted, the file's token is pruned.
  fs::remove(cafe);
  const CommandResult gone = Run("apply", {"--prune", "owned"});
  EXPECT_EQ(gone.exit_code, 0) << PrintableText(gone.err);
  EXPECT_EQ(Tokens().count("ci-push"), 0u);
  EXPECT_EQ(Tokens().count("puller"), 1u);
}

}  // namespace
}  // namespace crtoken::test
