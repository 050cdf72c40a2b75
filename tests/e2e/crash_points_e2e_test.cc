// kill -9 at each crash point of a create, a re-issue and a prune (CRTOKEN_TEST_CRASH_AT makes the
// real binary _exit(137) there), then the next apply converges: one token per spec, no orphan
// token or secret, and each secret holds the password the emulator issued for the token its
// record names. There is no state to repair: the next run reads it all back.
#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

enum class Scenario { kCreate, kReissue, kPrune };

struct CrashCase {
  Scenario scenario;
  std::string point;  // after-put | after-secret | after-delete
};

std::string CaseName(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string name = info.param.scenario == Scenario::kCreate    ? "Create_"
                     : info.param.scenario == Scenario::kReissue ? "Reissue_"
                                                                 : "Prune_";
  for (char c : info.param.point) name += c == '-' ? '_' : c;
  return name;
}

// Every regular file under `root`, relative to it, sorted.
std::vector<std::string> FilesUnder(const fs::path& root) {
  std::vector<std::string> out;
  if (!fs::exists(root)) return out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), root).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

class CrashPointsE2eTest : public OwnershipE2eTest,
                           public ::testing::WithParamInterface<CrashCase> {
 protected:
  static constexpr char kShortLife[] = "  lifetime: 2d\n  renewBefore: 1d\n";
  // Due at once for a token issued with kShortLife (it expires in 2 days, less than 29 away).
  static constexpr char kDueNow[] = "  lifetime: 30d\n  renewBefore: 29d\n";

  CommandResult Apply(std::map<std::string, std::string> env = {}) {
    return Crtoken("apply", "specs", "secrets", {}, std::move(env));
  }
  std::string SecretTokenId(const std::string& name) {
    json doc = Secret("secrets", name + ".json");
    if (!doc.is_object() || !doc.contains("crtoken")) return "";
    return doc["crtoken"].value("tokenId", "");
  }
  std::string TokenId(const std::string& name) {
    auto tokens = Tokens();
    return tokens.count(name) ? tokens.at(name)["id"].get<std::string>() : "";
  }
};

TEST_P(CrashPointsE2eTest, TheNextApplyConvergesWithNoOrphanAndRightPasswords) {
  const CrashCase& c = GetParam();
  Declare("specs", "keeper");
  std::vector<std::string> declared = {"keeper"};
  std::string subject;
  switch (c.scenario) {
    case Scenario::kCreate:
      ASSERT_EQ(Apply().exit_code, 0);
      subject = "fresh";
      Declare("specs", subject);
      declared.push_back(subject);
      break;
    case Scenario::kReissue:
      subject = "renewed";
      Declare("specs", subject, "acme", "", kShortLife);
      ASSERT_EQ(Apply().exit_code, 0);
      Declare("specs", subject, "acme", "", kDueNow);
      declared.push_back(subject);
      break;
    case Scenario::kPrune:
      subject = "retired";
      Declare("specs", subject);
      ASSERT_EQ(Apply().exit_code, 0);
      Undeclare("specs", subject);
      break;
  }
  std::sort(declared.begin(), declared.end());
  const std::string old_id = TokenId(subject);
  const std::string keeper_id = TokenId("keeper");

  CommandResult crashed = Apply({{"CRTOKEN_TEST_CRASH_AT", c.point}});
  ASSERT_EQ(crashed.exit_code, 137) << crashed.out << crashed.err;

  // The crash left what the point says.
  const std::string live = TokenId(subject);
  const std::string recorded = SecretTokenId(subject);
  if (c.point == "after-put") {
    EXPECT_FALSE(live.empty());
    EXPECT_NE(live, old_id);
    EXPECT_NE(recorded, live);  // no secret records the new token: its password is lost
  } else if (c.point == "after-secret") {
    EXPECT_FALSE(live.empty());
    EXPECT_NE(live, old_id);
    EXPECT_EQ(recorded, live);
  } else {  // after-delete: the token is gone, its secret still records it
    EXPECT_TRUE(live.empty());
    EXPECT_EQ(recorded, old_id);
  }

  CommandResult next = Apply();
  ASSERT_EQ(next.exit_code, 0) << next.out << next.err;
  EXPECT_NE(next.out.find("converged"), std::string::npos) << next.out;

  // One token per spec, and nothing else: no orphan.
  EXPECT_EQ(TokenNames(), declared);
  std::vector<std::string> secrets;
  for (const std::string& name : declared) {
    ExpectDelivered("secrets", name + ".json", name);
    secrets.push_back(name + ".json");
  }
  EXPECT_EQ(FilesUnder(dir_ / "secrets"), secrets);
  EXPECT_EQ(TokenId("keeper"), keeper_id);  // the bystander was never touched
  if (c.scenario != Scenario::kPrune) {
    EXPECT_NE(TokenId(subject), old_id);
  }
  if (c.point == "after-secret") {
    EXPECT_EQ(TokenId(subject), live);  // nothing left to redo
  }
  EXPECT_EQ(Crtoken("plan", "specs", "secrets").exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(, CrashPointsE2eTest,
                         ::testing::Values(CrashCase{Scenario::kCreate, "after-put"},
                                           CrashCase{Scenario::kCreate, "after-secret"},
                                           CrashCase{Scenario::kReissue, "after-delete"},
                                           CrashCase{Scenario::kReissue, "after-put"},
                                           CrashCase{Scenario::kReissue, "after-secret"},
                                           CrashCase{Scenario::kPrune, "after-delete"}),
                         CaseName);

}  // namespace
}  // namespace crtoken::test
