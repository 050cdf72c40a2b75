// The upgrade from a state directory: the committed ownership.json (written by the old
// FileStateStore, tests/daemon/app/legacy/) with its tokens in the emulator under the ids it
// records and the secrets as the old binary wrote them. The delivered tokens keep their id and
// password, the undelivered are re-issued, the file is renamed, and the log says what was done;
// plan only says what it would do.
#include "daemon/common/base64.h"
#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

constexpr char kRegistryId[] = "5c4d7a52-3b1e-4f0a-9a8d-2e6c1b7f9d30";
constexpr char kHost[] = "acme.cr.de-fra.ionos.com";

class UpgradeE2eTest : public OwnershipE2eTest {
 protected:
  UpgradeE2eTest() : OwnershipE2eTest({}) {}

  void SetUp() override {
    legacy_ = json::parse(
        ReadFile(std::string(CRTOKEN_SOURCE_DIR) + "/tests/daemon/app/legacy/ownership.json"));
    // The registry under the fixture's id, Running at once (--provision-seconds 0).
    HttpResult reg = Api("PUT", std::string("/registries/") + kRegistryId,
                         json{{"properties", {{"name", "acme"}, {"location", "de/fra"}}}});
    ASSERT_EQ(reg.status, 201) << reg.body;
    // Each token the old crtoken created, under the id it recorded; "retired" was deleted since.
    for (const json& r : legacy_["records"]) {
      const std::string name = r["tokenName"];
      ids_[name] = r["tokenId"];
      if (name == "retired") continue;
      HttpResult put =
          Api("PUT", std::string("/registries/") + kRegistryId + "/tokens/" + ids_[name],
              json{{"properties",
                    {{"name", name},
                     {"status", "enabled"},
                     {"scopes", json::array({{{"name", "app/*"},
                                              {"type", "repository"},
                                              {"actions", json::array({"pull"})}}})}}}});
      ASSERT_EQ(put.status, 201) << name << ": " << put.body;
    }
    // The secrets as the old binary wrote them (no record in them): the delivered two, and the
    // retired token's (its password died with it). half-made and intent never got theirs, and
    // lost-secret's was deleted.
    auto tokens = Tokens();
    for (const std::string name : {"ci-push", "deployer"}) {
      old_passwords_[name] = tokens.at(name)["password"];
    }
    WriteOldSecret("ci-push.json", "ci-push", old_passwords_["ci-push"]);
    WriteOldSecret("teams/deployer.json", "deployer", old_passwords_["deployer"]);
    WriteOldSecret("retired.json", "retired", "dead-password-of-a-deleted-token");
    WriteFile(dir_ / "state" / "ownership.json", LegacyText());
    // The specs: everything the fixture records but the retired token.
    Declare("specs", "ci-push");
    Declare("specs", "deployer", "acme", "teams/deployer.json");
    Declare("specs", "half-made");
    Declare("specs", "intent");
    Declare("specs", "lost-secret");
  }

  std::string LegacyText() {
    return ReadFile(std::string(CRTOKEN_SOURCE_DIR) + "/tests/daemon/app/legacy/ownership.json");
  }
  void WriteOldSecret(const std::string& file, const std::string& user,
                      const std::string& password) {
    const fs::path path = dir_ / "secrets" / file;
    WriteFile(path, "{\"auths\":{\"" + std::string(kHost) + "\":{\"username\":\"" + user +
                        "\",\"password\":\"" + password + "\",\"auth\":\"" +
                        Base64Encode(user + ":" + password) + "\"}}}");
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write);
  }

  json legacy_;
  std::map<std::string, std::string> ids_;
  std::map<std::string, std::string> old_passwords_;
};

TEST_F(UpgradeE2eTest, PlanSaysWhatTheMigrationWouldDoAndWritesNothing) {
  const auto before = Tokens();
  CommandResult plan = Crtoken("plan", "specs", "secrets", {"--state-dir", Path("state")});
  EXPECT_EQ(plan.exit_code, 2) << plan.out << plan.err;
  EXPECT_NE(plan.err.find("--state-dir is deprecated and ignored"), std::string::npos) << plan.err;
  // One line per token, then the pass planned as if the migration were done: the delivered two
  // are in sync, the others created again, and the retired token's old secret deleted.
  for (const std::string& line : std::vector<std::string>{
           "migrate acme/ci-push (token " + ids_["ci-push"] +
               "): its password is in file:ci-push.json: token kept, would record it in the secret",
           "migrate acme/deployer (token " + ids_["deployer"] +
               "): its password is in file:teams/deployer.json: token kept, would record it",
           "migrate acme/half-made (token " + ids_["half-made"] +
               "): its password never reached the secret (phase created): would delete the token",
           "migrate acme/intent (token " + ids_["intent"] +
               "): its password never reached the secret (phase creating): would delete the token",
           "migrate acme/lost-secret (token " + ids_["lost-secret"] +
               "): its secret is gone: would delete the token",
           "migrate acme/retired (token " + ids_["retired"] +
               "): no longer in the registry; its old secret file:retired.json would record the "
               "gone token",
           "would migrate " + Path("state/ownership.json") +
               ": 2 kept (secret stamped), 3 deleted (password never delivered), 1 already gone; "
               "would rename it to ownership.json.migrated",
           "create acme/half-made", "create acme/intent", "create acme/lost-secret",
           "Plan: 3 to create, 0 to reissue, 0 to update, 1 to delete; 2 in sync"}) {
    EXPECT_NE(plan.out.find(line), std::string::npos) << line << "\nnot in:\n" << plan.out;
  }
  EXPECT_EQ(plan.out.find("\nreissue "), std::string::npos) << plan.out;
  EXPECT_EQ(Tokens(), before);
  EXPECT_EQ(ReadFile(dir_ / "state" / "ownership.json"), LegacyText());
  EXPECT_FALSE(fs::exists(dir_ / "state" / "ownership.json.migrated"));
  EXPECT_FALSE(Secret("secrets", "ci-push.json").contains("crtoken"));
}

TEST_F(UpgradeE2eTest, ApplyKeepsTheDeliveredReissuesTheRestAndRenamesTheFile) {
  CommandResult apply = Crtoken("apply", "specs", "secrets", {"--state-dir", Path("state")});
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  // What was done, one line per token.
  for (const std::string& line : std::vector<std::string>{
           "migrate acme/ci-push (token " + ids_["ci-push"] +
               "): its password is in file:ci-push.json: token kept, recorded it in the secret",
           "migrate acme/half-made (token " + ids_["half-made"] +
               "): its password never reached the secret (phase created): deleted the token",
           "migrate acme/retired (token " + ids_["retired"] + "): no longer in the registry",
           "migrated " + Path("state/ownership.json") +
               ": 2 kept (secret stamped), 3 deleted (password never delivered), 1 already gone; "
               "renamed to ownership.json.migrated"}) {
    EXPECT_NE(apply.out.find(line), std::string::npos) << line << "\nnot in:\n" << apply.out;
  }
  EXPECT_NE(apply.out.find("converged"), std::string::npos) << apply.out;

  // The delivered tokens keep their id and password: no re-issue; their secrets record them now.
  auto tokens = Tokens();
  for (const std::string name : {"ci-push", "deployer"}) {
    EXPECT_EQ(tokens.at(name)["id"], ids_[name]) << name;
    EXPECT_EQ(tokens.at(name)["password"], old_passwords_[name]) << name;
  }
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
  ExpectDelivered("secrets", "teams/deployer.json", "deployer");
  // The undelivered are issued again, under new ids, with their secrets written.
  for (const std::string name : {"half-made", "intent", "lost-secret"}) {
    ASSERT_TRUE(tokens.count(name)) << name;
    EXPECT_NE(tokens.at(name)["id"], ids_[name]) << name;
    ExpectDelivered("secrets", name + ".json", name);
  }
  EXPECT_EQ(TokenNames(), (std::vector<std::string>{"ci-push", "deployer", "half-made", "intent",
                                                    "lost-secret"}));
  // The retired token's old secret is gone with it.
  EXPECT_FALSE(fs::exists(dir_ / "secrets" / "retired.json"));
  // The file is renamed, byte for byte (renaming it back restores it for a downgrade).
  EXPECT_FALSE(fs::exists(dir_ / "state" / "ownership.json"));
  EXPECT_EQ(ReadFile(dir_ / "state" / "ownership.json.migrated"), LegacyText());

  // Done once: the next runs (with or without the flag) have nothing to migrate or do.
  CommandResult again = Crtoken("apply", "specs", "secrets", {"--state-dir", Path("state")});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out.find("migrate"), std::string::npos) << again.out;
  EXPECT_EQ(Crtoken("plan", "specs", "secrets").exit_code, 0);
  EXPECT_EQ(Tokens().at("ci-push")["password"], old_passwords_["ci-push"]);
}

TEST_F(UpgradeE2eTest, RunMigratesBeforeItsFirstPassAndLogsWhatItDid) {
  ASSERT_TRUE(StartRun("specs", "secrets", {"--state-dir", Path("state")}));
  ASSERT_TRUE(WaitUntil([&] { return Ready(); })) << daemon_->Log();
  const std::string log = daemon_->Log();
  for (const std::string& line : std::vector<std::string>{
           "--state-dir is deprecated and ignored",
           "migrate acme/deployer (token " + ids_["deployer"] +
               "): its password is in file:teams/deployer.json: token kept, recorded it in the "
               "secret",
           "migrate acme/lost-secret (token " + ids_["lost-secret"] +
               "): its secret is gone: deleted the token",
           "migrated " + Path("state/ownership.json") + ": 2 kept"}) {
    EXPECT_NE(log.find(line), std::string::npos) << line;
  }
  // The migration came before the first pass: no pass ever saw the legacy tokens as not crtoken's.
  EXPECT_EQ(log.find("does not own"), std::string::npos);
  EXPECT_LT(log.find("migrated " + Path("state/ownership.json")), log.find("reconcile pass done"));
  EXPECT_TRUE(fs::exists(dir_ / "state" / "ownership.json.migrated"));
  EXPECT_EQ(Tokens().at("deployer")["id"], ids_["deployer"]);
  ExpectDelivered("secrets", "teams/deployer.json", "deployer");
  ASSERT_TRUE(WaitUntil([&] { return Secret("secrets", "lost-secret.json").is_object(); }));
  ExpectDelivered("secrets", "lost-secret.json", "lost-secret");
}

TEST_F(UpgradeE2eTest, TheOldDefaultStateDirIsMigratedWithoutTheFlag) {
  // ./.crtoken in the working directory, where the earlier version kept it by default.
  fs::create_directories(dir_ / ".crtoken");
  fs::rename(dir_ / "state" / "ownership.json", dir_ / ".crtoken" / "ownership.json");
  CommandResult apply = Crtoken("apply", "specs", "secrets");
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  EXPECT_EQ(apply.err.find("deprecated"), std::string::npos) << apply.err;
  EXPECT_NE(apply.out.find("migrated ./.crtoken/ownership.json: 2 kept"), std::string::npos)
      << apply.out;
  EXPECT_TRUE(fs::exists(dir_ / ".crtoken" / "ownership.json.migrated"));
  EXPECT_EQ(Tokens().at("ci-push")["id"], ids_["ci-push"]);
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
}

TEST_F(UpgradeE2eTest, AMigrationThatCannotFinishKeepsTheFileAndFailsTheCommand) {
  // The API refuses the DELETE of an undelivered token for a while.
  emu_.AddFault({{"method", "DELETE"}, {"path", "/tokens/" + ids_["half-made"]}, {"status", 403}});
  CommandResult apply = Crtoken("apply", "specs", "secrets", {"--state-dir", Path("state")});
  EXPECT_EQ(apply.exit_code, 1) << apply.out << apply.err;
  EXPECT_NE(apply.err.find("migrate acme/half-made (token " + ids_["half-made"] +
                           "): its password never reached the secret (phase created); cannot "
                           "delete the token"),
            std::string::npos)
      << apply.err;
  EXPECT_NE(apply.err.find("1 failed: the file stays, the next start migrates again"),
            std::string::npos)
      << apply.err;
  EXPECT_EQ(ReadFile(dir_ / "state" / "ownership.json"), LegacyText());
  EXPECT_FALSE(Tokens().count("intent"));  // the steps that could be done were done

  emu_.ClearFaults();
  CommandResult retried = Crtoken("apply", "specs", "secrets", {"--state-dir", Path("state")});
  ASSERT_EQ(retried.exit_code, 0) << retried.out << retried.err;
  EXPECT_TRUE(fs::exists(dir_ / "state" / "ownership.json.migrated"));
  EXPECT_EQ(Tokens().at("ci-push")["id"], ids_["ci-push"]);
  ExpectDelivered("secrets", "half-made.json", "half-made");
  ExpectDelivered("secrets", "intent.json", "intent");
}

}  // namespace
}  // namespace crtoken::test
