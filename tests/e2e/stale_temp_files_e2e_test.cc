// A crtoken killed between creating a secret's temporary file and renaming it leaves that file
// behind; the next `crtoken apply` (or `crtoken run`) that takes the secret dir's lock removes it,
// and only such files.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;

TEST(StaleTempFilesE2eTest, ApplyRemovesTheTempFilesOfADeadWriter) {
  EmulatorProcess emu({"--registry", "acme-prod", "--token", "t"});
  TempDir dir("crtoken-stale-temp");
  WriteFile(dir / "specs" / "ci.yaml", TokenSpecYaml("ci"));
  // What a writer killed mid-write leaves: its pid is long gone.
  WriteFile(dir / "secrets" / ".ci.json.tmp.999999.0", "{\"auths\":");
  WriteFile(dir / "secrets" / "team" / ".old.json.tmp.999999.7", "");
  WriteFile(dir / "secrets" / "notes.txt", "kept");

  CommandResult r = RunCrtoken(
      OneShotArgs("apply", emu.base_url(), dir.path(), {"--specs", (dir / "specs").string()}),
      {{"IONOS_TOKEN", "t"}}, dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_FALSE(fs::exists(dir / "secrets" / ".ci.json.tmp.999999.0"));
  EXPECT_FALSE(fs::exists(dir / "secrets" / "team" / ".old.json.tmp.999999.7"));
  EXPECT_TRUE(fs::exists(dir / "secrets" / "ci.json"));
  EXPECT_EQ(ReadFile(dir / "secrets" / "notes.txt"), "kept");
  EXPECT_NE(r.err.find("removed 2 temporary files a crtoken left in"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace crtoken::test
