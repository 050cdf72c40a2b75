// RemoveStaleTempFiles: the temporary files WriteFileAtomic leaves when its process dies between
// creating one and renaming it go, in the directory and below; this process's own, every other
// file, and anything behind a symlink stay.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "daemon/common/file_ops.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::WriteFile;

TEST(StaleTempFilesTest, RemovesOtherProcessesTempFilesAndNothingElse) {
  TempDir dir, outside;
  const std::string own = std::to_string(::getpid());
  WriteFile(dir / ".ci.json.tmp.4242.0", "{}");
  WriteFile(dir / "acme" / ".push.json.tmp.77.12", "{}");
  WriteFile(dir / "acme" / "deep" / ".x.json.tmp.1.3", "{}");
  // Kept: this process's write in progress, the secrets, look-alikes, what a symlink leads to.
  WriteFile(dir / (".mine.json.tmp." + own + ".5"), "{}");
  WriteFile(dir / "ci.json", "{}");
  WriteFile(dir / ".hidden", "x");
  WriteFile(dir / "ci.json.tmp.4242.0", "x");         // no leading dot
  WriteFile(dir / ".ci.json.tmp.pid.0", "x");         // not a pid
  WriteFile(dir / ".ci.json.tmp.4242", "x");          // no counter
  fs::create_directories(dir / ".dir.json.tmp.9.9");  // a directory
  WriteFile(outside / ".far.json.tmp.4242.0", "{}");
  fs::create_directory_symlink(outside.path(), dir / "link");

  auto removed = RemoveStaleTempFiles(dir.path());
  ASSERT_TRUE(removed.ok()) << removed.error().ToString();
  EXPECT_EQ(removed.value(), 3);
  EXPECT_FALSE(fs::exists(dir / ".ci.json.tmp.4242.0"));
  EXPECT_FALSE(fs::exists(dir / "acme" / ".push.json.tmp.77.12"));
  EXPECT_FALSE(fs::exists(dir / "acme" / "deep" / ".x.json.tmp.1.3"));
  for (const char* kept : {"ci.json", ".hidden", "ci.json.tmp.4242.0", ".ci.json.tmp.pid.0",
                           ".ci.json.tmp.4242", ".dir.json.tmp.9.9"}) {
    EXPECT_TRUE(fs::exists(dir / kept)) << kept;
  }
  EXPECT_TRUE(fs::exists(dir / (".mine.json.tmp." + own + ".5")));
  EXPECT_TRUE(fs::exists(outside / ".far.json.tmp.4242.0"));

  // A second call finds nothing more; a missing directory is nothing to do.
  EXPECT_EQ(RemoveStaleTempFiles(dir.path()).value(), 0);
  EXPECT_EQ(RemoveStaleTempFiles((dir / "missing").string()).value(), 0);
}

TEST(StaleTempFilesTest, StopsAtTheDepthGiven) {
  TempDir dir;
  WriteFile(dir / "a" / ".one.json.tmp.5.0", "{}");
  WriteFile(dir / "a" / "b" / ".two.json.tmp.5.0", "{}");
  auto removed = RemoveStaleTempFiles(dir.path(), /*max_depth=*/2);
  ASSERT_TRUE(removed.ok()) << removed.error().ToString();
  EXPECT_EQ(removed.value(), 1);
  EXPECT_FALSE(fs::exists(dir / "a" / ".one.json.tmp.5.0"));
  EXPECT_TRUE(fs::exists(dir / "a" / "b" / ".two.json.tmp.5.0"));
}

}  // namespace
}  // namespace crtoken
