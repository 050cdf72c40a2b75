// FileSecretSink::Inspect reports a secret file's place that crtoken must not write (a directory,
// a symlink, a FIFO) as SecretState::conflict, so the planner can stop the token before a create.
// Write refuses directories and symlinks too (its rename would replace a FIFO: the planner's
// problem is what keeps crtoken from doing so). Inspecting a FIFO returns at once, never opening
// it (an open for reading would wait for a writer).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "daemon/sinks/file_secret_sink.h"
#include "tests/support/fakes.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::FileRef;
using test::SampleCredential;
using test::TempDir;
using test::WriteFile;

TEST(FileSecretSinkConflictTest, ADirectoryASymlinkAndAFifoAreConflictsNamingThePath) {
  TempDir dir;
  std::filesystem::create_directories(dir / "sub/dir.json");
  WriteFile(dir / "target.json", "{}");
  ASSERT_EQ(::symlink((dir / "target.json").c_str(), (dir / "link.json").c_str()), 0);
  ASSERT_EQ(::mkfifo((dir / "fifo.json").c_str(), 0600), 0);
  FileSecretSink sink(dir.path());
  const std::pair<const char*, const char*> cases[] = {
      {"sub/dir.json", "a directory"}, {"link.json", "a symlink"}, {"fifo.json", "a FIFO"}};
  for (const auto& [file, kind] : cases) {
    SCOPED_TRACE(file);
    auto state = sink.Inspect(FileRef(file));
    ASSERT_TRUE(state.ok()) << state.error().ToString();
    EXPECT_TRUE(state.value().exists);
    EXPECT_EQ(state.value().conflict, (dir / file).string() + " is " + kind +
                                          ", not a secret file: remove it, or point "
                                          "secret.file elsewhere");
    EXPECT_FALSE(state.value().has_password);
    if (std::string(kind) != "a FIFO") {
      EXPECT_FALSE(
          sink.Write(FileRef(file), SampleCredential()).ok());  // what the conflict foretells
    }
  }
  EXPECT_EQ(std::filesystem::read_symlink(dir / "link.json"), dir / "target.json");
}

TEST(FileSecretSinkConflictTest, ARegularFileOrNoFileIsNoConflict) {
  TempDir dir;
  FileSecretSink sink(dir.path());
  auto absent = sink.Inspect(FileRef("ci.json"));
  ASSERT_TRUE(absent.ok());
  EXPECT_FALSE(absent.value().exists);
  EXPECT_EQ(absent.value().conflict, "");
  ASSERT_TRUE(sink.Write(FileRef("ci.json"), SampleCredential()).ok());
  auto written = sink.Inspect(FileRef("ci.json"));
  ASSERT_TRUE(written.ok());
  EXPECT_TRUE(written.value().has_password);
  EXPECT_EQ(written.value().conflict, "");
  // Not a dockerconfigjson, but a regular file: crtoken's to rewrite (the spec names the path).
  WriteFile(dir / "other.json", "not json");
  auto other = sink.Inspect(FileRef("other.json"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other.value().conflict, "");
}

}  // namespace
}  // namespace crtoken
