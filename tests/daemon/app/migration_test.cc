// The migration from ownership.json, over the fakes: which tokens are kept (secret stamped), which
// are deleted, what a dry run shows the pass, and that a failure keeps the file for the next start.
#include "daemon/app/migration.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::FakeRegistryApi;
using test::FileRef;
using test::MemorySecretSink;
using test::TempDir;
using Outcome = MigrationReport::Outcome;
using Phase = LegacyRecord::Phase;
namespace fs = std::filesystem;

constexpr char kHost[] = "acme.cr.de-fra.ionos.com";

class MigrationTest : public ::testing::Test {
 protected:
  MigrationTest() { registry_ = api_.AddRegistry("acme", kHost); }

  // A token the old crtoken made: PUT under `id`, its record, and (when `delivered`) its secret
  // as the old file sink wrote it (no record in it).
  LegacyRecord Made(const std::string& name, const std::string& id, Phase phase, bool delivered) {
    TokenFields fields;
    fields.name = name;
    auto created = api_.CreateToken(registry_, id, fields);
    EXPECT_TRUE(created.ok()) << created.error().message;
    if (delivered && created.ok()) {
      EXPECT_TRUE(sink_
                      .Write(FileRef(name + ".json"),
                             DockerCredential{kHost, name, std::move(created.value().password),
                                              SecretRecord{}})
                      .ok());
    }
    LegacyRecord r;
    r.registry_id = registry_;
    r.registry_name = "acme";
    r.token_name = name;
    r.token_id = id;
    r.phase = phase;
    r.secret = FileRef(name + ".json");
    r.source_file = "/specs/" + name + ".yaml";
    return r;
  }
  std::string Password(const std::string& name) { return api_.Find(registry_, name)->password; }
  SecretRecord Mine(const LegacyRecord& r) {
    return SecretRecord{"ci-eu", r.registry_id, r.token_name, r.token_id};
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  std::string registry_;
};

TEST_F(MigrationTest, ADeliveredTokenIsKeptAndItsSecretStampedWithTheSamePassword) {
  LegacyRecord r = Made("ci-push", "11111111-2222-5333-8444-000000000001", Phase::kReady, true);
  const std::string password = Password("ci-push");

  MigrationReport report = MigrateRecords({r}, api_, sink_, "ci-eu", /*dry_run=*/false);

  ASSERT_EQ(report.steps.size(), 1u);
  EXPECT_EQ(report.steps[0].outcome, Outcome::kStamped);
  EXPECT_EQ(report.steps[0].line,
            "migrate acme/ci-push (token 11111111-2222-5333-8444-000000000001): its password is "
            "in file:ci-push.json: token kept, recorded it in the secret");
  EXPECT_TRUE(report.complete());
  // The token is untouched; the secret keeps its password and now records the token.
  ASSERT_TRUE(api_.Find(registry_, "ci-push").has_value());
  EXPECT_EQ(api_.deletes.load(), 0);
  auto secret = sink_.Get("file:ci-push.json");
  ASSERT_TRUE(secret.has_value());
  EXPECT_EQ(secret->password.Reveal(), password);
  EXPECT_EQ(secret->record, Mine(r));
  auto listed = sink_.List("ci-eu");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value().size(), 1u);
  EXPECT_EQ(listed.value()[0].record.token_id, r.token_id);
}

TEST_F(MigrationTest, ATokenWhosePasswordNeverReachedItsSecretIsDeleted) {
  struct Case {
    std::string name;
    Phase phase;
    bool delivered;
    std::string why;
  };
  const std::vector<Case> cases = {
      {"creating", Phase::kCreating, false,
       "its password never reached the secret (phase creating)"},
      {"created", Phase::kCreated, false, "its password never reached the secret (phase created)"},
      // A record that says "ready" for a secret that is gone (deleted by hand, a fresh volume).
      {"lost", Phase::kReady, false, "its secret is gone"},
  };
  std::vector<LegacyRecord> records;
  int n = 0;
  for (const Case& c : cases) {
    records.push_back(Made(c.name, "11111111-2222-5333-8444-00000000001" + std::to_string(n++),
                           c.phase, c.delivered));
  }
  // A secret that holds another token's credential, and one recording another token.
  LegacyRecord other =
      Made("other-user", "11111111-2222-5333-8444-000000000020", Phase::kReady, false);
  ASSERT_TRUE(sink_
                  .Write(other.secret, DockerCredential{kHost, "someone-else",
                                                        crtoken::Password("pw"), SecretRecord{}})
                  .ok());
  LegacyRecord recorded =
      Made("recorded", "11111111-2222-5333-8444-000000000021", Phase::kReady, false);
  ASSERT_TRUE(sink_
                  .Write(recorded.secret, DockerCredential{kHost, "recorded",
                                                           crtoken::Password("pw"), SecretRecord{}})
                  .ok());
  ASSERT_TRUE(sink_
                  .Stamp(recorded.secret, SecretRecord{"ci-eu", registry_, "recorded",
                                                       "0badc0de-0000-4000-8000-000000000000"})
                  .ok());
  // Created again after a re-issue, but the crash came before the new password was written: the
  // secret still holds the password of the token the re-issue deleted.
  LegacyRecord stale =
      Made("stale", "11111111-2222-5333-8444-000000000022", Phase::kCreated, false);
  ASSERT_TRUE(
      sink_
          .Write(stale.secret, DockerCredential{kHost, "stale", crtoken::Password("old-generation"),
                                                SecretRecord{}})
          .ok());
  records.push_back(other);
  records.push_back(recorded);
  records.push_back(stale);

  MigrationReport report = MigrateRecords(records, api_, sink_, "ci-eu", /*dry_run=*/false);

  ASSERT_EQ(report.steps.size(), 6u);
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(report.steps[i].outcome, Outcome::kDeleted) << cases[i].name;
    EXPECT_NE(report.steps[i].line.find(": " + cases[i].why + ": deleted the token"),
              std::string::npos)
        << report.steps[i].line;
    EXPECT_FALSE(api_.Find(registry_, cases[i].name).has_value()) << cases[i].name;
  }
  EXPECT_EQ(report.steps[3].outcome, Outcome::kDeleted);
  EXPECT_NE(report.steps[3].line.find("its secret is for \"someone-else\""), std::string::npos);
  EXPECT_EQ(report.steps[4].outcome, Outcome::kDeleted);
  EXPECT_NE(report.steps[4].line.find("its secret records another token (0badc0de-"),
            std::string::npos);
  EXPECT_EQ(report.steps[5].outcome, Outcome::kDeleted);
  EXPECT_EQ(report.steps[5].line,
            "migrate acme/stale (token 11111111-2222-5333-8444-000000000022): its password never "
            "reached the secret (phase created): deleted the token (the pass creates it again "
            "where it is declared); its old secret file:stale.json records the gone token, for "
            "the pass to rewrite or delete");
  EXPECT_EQ(api_.TokenCount(registry_), 0u);
  // Only the stale secret was stamped (with the deleted token, so nothing believes its password);
  // a secret for another name, or recording another token, is left as it is.
  EXPECT_EQ(sink_.Get("file:stale.json")->record, Mine(stale));
  EXPECT_EQ(sink_.Get("file:stale.json")->password.Reveal(), "old-generation");
  EXPECT_EQ(sink_.Get("file:other-user.json")->record, SecretRecord{});
  EXPECT_EQ(sink_.Get("file:recorded.json")->record.token_id,
            "0badc0de-0000-4000-8000-000000000000");
}

TEST_F(MigrationTest, ATokenNoLongerInTheRegistryIsLeftAloneAndAListGapIsConfirmedByGet) {
  LegacyRecord gone = Made("retired", "11111111-2222-5333-8444-000000000030", Phase::kReady, true);
  api_.DeleteByHand(registry_, "retired");
  LegacyRecord hidden = Made("hidden", "11111111-2222-5333-8444-000000000031", Phase::kReady, true);
  api_.hide_from_list.insert(hidden.token_id);  // a paging gap: listed nowhere, yet alive
  LegacyRecord no_registry = gone;
  no_registry.registry_id = "00000000-0000-4000-8000-00000000dead";
  no_registry.token_name = "elsewhere";
  no_registry.secret = FileRef("elsewhere.json");

  MigrationReport report =
      MigrateRecords({gone, hidden, no_registry}, api_, sink_, "ci-eu", /*dry_run=*/false);

  EXPECT_EQ(report.steps[0].outcome, Outcome::kGone);
  EXPECT_EQ(report.steps[0].line,
            "migrate acme/retired (token 11111111-2222-5333-8444-000000000030): no longer in the "
            "registry; its old secret file:retired.json records the gone token, for the pass to "
            "rewrite or delete");
  EXPECT_EQ(report.steps[1].outcome, Outcome::kStamped);
  EXPECT_EQ(sink_.Get("file:hidden.json")->record, Mine(hidden));
  EXPECT_EQ(report.steps[2].outcome, Outcome::kGone);
  EXPECT_NE(report.steps[2].line.find("no longer in the registry; nothing to do"),
            std::string::npos)
      << report.steps[2].line;
  EXPECT_TRUE(report.complete());
  EXPECT_EQ(api_.deletes.load(), 0);
  // The secret of the gone token, with its dead password, now records that token: the pass
  // rewrites it where the token is declared, and deletes it where it is not.
  auto retired = sink_.Get("file:retired.json");
  ASSERT_TRUE(retired.has_value());
  EXPECT_EQ(retired->record, Mine(gone));
  EXPECT_EQ(retired->password.Reveal().rfind("pw-", 0), 0u);
}

TEST_F(MigrationTest, AFailedStepIsReportedAndTheOthersStillRun) {
  LegacyRecord a = Made("a-token", "11111111-2222-5333-8444-000000000040", Phase::kReady, true);
  LegacyRecord b = Made("b-token", "11111111-2222-5333-8444-000000000041", Phase::kCreated, false);
  sink_.SetForeign("file:a-token.json", "a directory is in the way");
  api_.FailNext("DELETE", Error{ErrorKind::kUnavailable, "503 from the API"});

  MigrationReport report = MigrateRecords({a, b}, api_, sink_, "ci-eu", /*dry_run=*/false);

  EXPECT_FALSE(report.complete());
  EXPECT_EQ(report.Count(Outcome::kFailed), 1);
  // a: its place is not crtoken's, so it is not delivered: delete, which failed.
  EXPECT_EQ(report.steps[0].outcome, Outcome::kFailed);
  EXPECT_NE(report.steps[0].line.find("cannot delete the token: 503 from the API"),
            std::string::npos)
      << report.steps[0].line;
  EXPECT_TRUE(api_.Find(registry_, "a-token").has_value());
  EXPECT_EQ(report.steps[1].outcome, Outcome::kDeleted);
  EXPECT_NE(report.Summary().find("1 failed: the file stays, the next start migrates again"),
            std::string::npos)
      << report.Summary();

  // A list that fails is a failure of every record of the registry, never "gone".
  api_.fail_list[registry_] = Error{ErrorKind::kUnavailable, "list timed out"};
  MigrationReport again = MigrateRecords({a}, api_, sink_, "ci-eu", false);
  EXPECT_EQ(again.steps[0].outcome, Outcome::kFailed);
  EXPECT_NE(again.steps[0].line.find("cannot tell whether the token still exists: list timed out"),
            std::string::npos)
      << again.steps[0].line;
  EXPECT_TRUE(api_.Find(registry_, "a-token").has_value());
}

TEST_F(MigrationTest, ASecondRunAfterACrashMidwayFinishesWithoutRedoingAnything) {
  LegacyRecord a = Made("a-token", "11111111-2222-5333-8444-000000000050", Phase::kReady, true);
  LegacyRecord b = Made("b-token", "11111111-2222-5333-8444-000000000051", Phase::kCreated, false);
  const std::string password = Password("a-token");
  ASSERT_TRUE(MigrateRecords({a, b}, api_, sink_, "ci-eu", false).complete());
  const int writes = api_.Writes();

  MigrationReport again = MigrateRecords({a, b}, api_, sink_, "ci-eu", false);

  EXPECT_TRUE(again.complete());
  EXPECT_EQ(again.steps[0].outcome, Outcome::kStamped);
  EXPECT_NE(again.steps[0].line.find("the secret already records it"), std::string::npos);
  EXPECT_EQ(again.steps[1].outcome, Outcome::kGone);
  EXPECT_EQ(api_.Writes(), writes);
  EXPECT_EQ(sink_.Get("file:a-token.json")->password.Reveal(), password);
}

TEST_F(MigrationTest, ADryRunWritesNothingAndItsViewShowsTheOutcome) {
  LegacyRecord kept = Made("kept", "11111111-2222-5333-8444-000000000060", Phase::kReady, true);
  LegacyRecord dropped =
      Made("dropped", "11111111-2222-5333-8444-000000000061", Phase::kCreated, false);
  LegacyRecord gone = Made("gone", "11111111-2222-5333-8444-000000000062", Phase::kReady, true);
  api_.DeleteByHand(registry_, "gone");

  MigrationReport report =
      MigrateRecords({kept, dropped, gone}, api_, sink_, "ci-eu", /*dry_run=*/true);

  EXPECT_EQ(report.steps[0].outcome, Outcome::kStamped);
  EXPECT_NE(report.steps[0].line.find("token kept, would record it in the secret"),
            std::string::npos);
  EXPECT_EQ(report.steps[1].outcome, Outcome::kDeleted);
  EXPECT_NE(report.steps[1].line.find(": would delete the token"), std::string::npos);
  EXPECT_EQ(report.steps[2].outcome, Outcome::kGone);
  EXPECT_NE(report.steps[2].line.find("its old secret file:gone.json would record the gone token"),
            std::string::npos)
      << report.steps[2].line;
  // Nothing changed.
  EXPECT_EQ(api_.deletes.load(), 0);
  EXPECT_EQ(api_.TokenCount(registry_), 2u);
  EXPECT_EQ(sink_.Get("file:kept.json")->record, SecretRecord{});
  EXPECT_EQ(sink_.Get("file:gone.json")->record, SecretRecord{});
  EXPECT_TRUE(sink_.List("ci-eu").value().empty());

  // The view: the stamped secret records its token, the deleted token is gone from list and GET.
  MigrationView view(api_, sink_, report);
  auto state = view.sink().Inspect(kept.secret);
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state.value().record, Mine(kept));
  EXPECT_TRUE(state.value().has_password);
  EXPECT_EQ(view.sink().Inspect(gone.secret).value().record, Mine(gone));
  auto listed = view.sink().List("ci-eu");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed.value().size(), 2u);
  EXPECT_EQ(listed.value()[0].ref, gone.secret);  // in ref order
  EXPECT_EQ(listed.value()[1].ref, kept.secret);
  EXPECT_TRUE(view.sink().List("another-owner").value().empty());
  auto tokens = view.api().ListTokens(registry_);
  ASSERT_TRUE(tokens.ok());
  ASSERT_EQ(tokens.value().size(), 1u);
  EXPECT_EQ(tokens.value()[0].name, "kept");
  auto got = view.api().GetToken(registry_, dropped.token_id);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().kind, ErrorKind::kNotFound);
  EXPECT_TRUE(view.api().GetToken(registry_, kept.token_id).ok());
  // Still nothing changed underneath.
  EXPECT_EQ(api_.TokenCount(registry_), 2u);
  EXPECT_EQ(sink_.Get("file:kept.json")->record, SecretRecord{});
}

// The whole unit over a file: read, migrate, rename; a dry run and an incomplete run keep it.
class MigrateLegacyStateTest : public MigrationTest {
 protected:
  void WriteState(const std::vector<LegacyRecord>& records) {
    std::string text = "{\"version\": 1, \"records\": [";
    for (size_t i = 0; i < records.size(); ++i) {
      const LegacyRecord& r = records[i];
      text += std::string(i ? "," : "") + "\n  {\"registryId\": \"" + r.registry_id +
              "\", \"registryName\": \"acme\", \"tokenName\": \"" + r.token_name +
              "\", \"tokenId\": \"" + r.token_id + "\", \"generation\": 0, \"phase\": \"" +
              LegacyPhaseName(r.phase) + "\", \"secret\": {\"file\": \"" + r.secret.file +
              "\"}, \"sourceFile\": \"/specs/x.yaml\"}";
    }
    test::WriteFile(dir_ / "ownership.json", text + "\n]}\n");
  }
  TempDir dir_{"crtoken-migration"};
};

TEST_F(MigrateLegacyStateTest, NoFileIsNothingToDo) {
  auto result = MigrateLegacyState((dir_ / "absent").string(), api_, sink_, "ci-eu", false);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_FALSE(result.value().has_value());
  EXPECT_FALSE(fs::exists(dir_ / "absent"));
}

TEST_F(MigrateLegacyStateTest, ACompleteMigrationRenamesTheFile) {
  LegacyRecord a = Made("a-token", "11111111-2222-5333-8444-000000000070", Phase::kReady, true);
  LegacyRecord b = Made("b-token", "11111111-2222-5333-8444-000000000071", Phase::kCreated, false);
  WriteState({a, b});
  const std::string content = test::ReadFile(dir_ / "ownership.json");

  auto result = MigrateLegacyState(dir_.path().string(), api_, sink_, "ci-eu", false);

  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_TRUE(result.value().has_value());
  const MigrationReport& report = *result.value();
  EXPECT_TRUE(report.renamed);
  EXPECT_FALSE(fs::exists(dir_ / "ownership.json"));
  EXPECT_EQ(test::ReadFile(dir_ / "ownership.json.migrated"), content);
  EXPECT_EQ(report.Summary(), "migrated " + (dir_ / "ownership.json").string() +
                                  ": 1 kept (secret stamped), 1 deleted (password never "
                                  "delivered), 0 already gone; renamed to ownership.json.migrated");
  // Started again: nothing left to migrate.
  auto again = MigrateLegacyState(dir_.path().string(), api_, sink_, "ci-eu", false);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again.value().has_value());
}

TEST_F(MigrateLegacyStateTest, ADryRunOrAFailedStepKeepsTheFile) {
  LegacyRecord a = Made("a-token", "11111111-2222-5333-8444-000000000080", Phase::kReady, true);
  WriteState({a});

  auto dry = MigrateLegacyState(dir_.path().string(), api_, sink_, "ci-eu", /*dry_run=*/true);
  ASSERT_TRUE(dry.ok());
  EXPECT_FALSE(dry.value()->renamed);
  EXPECT_TRUE(fs::exists(dir_ / "ownership.json"));
  EXPECT_FALSE(fs::exists(dir_ / "ownership.json.migrated"));
  EXPECT_EQ(dry.value()->Summary(),
            "would migrate " + (dir_ / "ownership.json").string() +
                ": 1 kept (secret stamped), 0 deleted (password never delivered), 0 already "
                "gone; would rename it to ownership.json.migrated");
  EXPECT_EQ(sink_.Get("file:a-token.json")->record, SecretRecord{});

  api_.FailNext("LIST", Error{ErrorKind::kUnavailable, "503"});
  auto failed = MigrateLegacyState(dir_.path().string(), api_, sink_, "ci-eu", false);
  ASSERT_TRUE(failed.ok());
  EXPECT_FALSE(failed.value()->complete());
  EXPECT_FALSE(failed.value()->renamed);
  EXPECT_TRUE(fs::exists(dir_ / "ownership.json"));

  auto done = MigrateLegacyState(dir_.path().string(), api_, sink_, "ci-eu", false);
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done.value()->complete());
  EXPECT_TRUE(done.value()->renamed);
}

TEST_F(MigrateLegacyStateTest, ACorruptFileIsAnErrorAndChangesNothing) {
  LegacyRecord a = Made("a-token", "11111111-2222-5333-8444-000000000090", Phase::kCreated, false);
  test::WriteFile(dir_ / "ownership.json", "{\"version\": 1, \"records\": [{\"registryId\": 7}]}");
  auto result = MigrateLegacyState(dir_.path().string(), api_, sink_, "ci-eu", false);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().message,
            "state file " + (dir_ / "ownership.json").string() +
                " is corrupt (record 0: bad registryId); it records which tokens an earlier "
                "crtoken owned, to be migrated: restore it from a backup or, if nothing is "
                "owned, remove it");
  EXPECT_TRUE(api_.Find(registry_, "a-token").has_value());
  EXPECT_TRUE(fs::exists(dir_ / "ownership.json"));
}

}  // namespace
}  // namespace crtoken
