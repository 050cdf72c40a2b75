// The tracker sees the tree through the loader's one walker and reads each spec file once per
// Load: the bytes it compares and the bytes it parses are the same read.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "daemon/specs/spec_tracker.h"
#include "daemon/specs/spec_watcher.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::TempDir;
using test::WriteFile;

std::string Token(const std::string& name, const std::string& status = "enabled") {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme\n  status: " + status +
         "\n  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: [pull]\n"
         "  secret:\n    file: " +
         name + ".json\n";
}

// Reads through ReadSpecFile and counts the reads of each path.
struct CountingReader {
  std::map<std::string, int> reads;
  SpecFileReader reader() {
    return [this](const std::string& path) {
      ++reads[path];
      return ReadSpecFile(path);
    };
  }
};

TEST(SpecTrackerReadsTest, EachLoadReadsEveryFileOnceAndParsesOnlyChangedBytes) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("tok-a"));
  WriteFile(dir / "b.yaml", Token("tok-b"));
  WriteFile(dir / "sub/c.yml", Token("tok-c"));
  CountingReader counter;
  SpecTracker tracker({dir.path().string()}, counter.reader());

  SpecSnapshot first = tracker.Load();
  EXPECT_TRUE(first.errors.empty());
  EXPECT_EQ(first.files, 3);
  EXPECT_EQ(first.parsed, 3);
  ASSERT_EQ(counter.reads.size(), 3u);
  for (const auto& [path, n] : counter.reads) EXPECT_EQ(n, 1) << path;

  SpecSnapshot same = tracker.Load();
  EXPECT_EQ(same.parsed, 0) << "unchanged bytes are not parsed again";
  EXPECT_EQ(same.desired.specs.size(), 3u);
  for (const auto& [path, n] : counter.reads) EXPECT_EQ(n, 2) << path;

  WriteFile(dir / "b.yaml", Token("tok-b", "disabled"));
  SpecSnapshot changed = tracker.Load();
  EXPECT_EQ(changed.parsed, 1);
  for (const auto& [path, n] : counter.reads) EXPECT_EQ(n, 3) << path;
  ASSERT_EQ(changed.desired.specs.size(), 3u);
  for (const TokenSpec& s : changed.desired.specs) {
    EXPECT_EQ(s.status, s.name == "tok-b" ? TokenStatus::kDisabled : TokenStatus::kEnabled)
        << s.name;
  }
  EXPECT_EQ(ChangedRegistryRefs(first.desired, changed.desired), (std::set<std::string>{"acme"}));
}

// What the snapshot declares is what the one read returned, not a second look at the disk: a file
// that changes between the read and a (now absent) second read cannot give a snapshot whose bytes
// nobody compared.
TEST(SpecTrackerReadsTest, TheSnapshotComesFromTheBytesOfTheOneRead) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("tok-a"));
  int reads = 0;
  SpecTracker tracker({dir.path().string()}, [&](const std::string& path) {
    ++reads;
    SpecFileText read = ReadSpecFile(path);
    // The file changes on disk right after this read.
    WriteFile(dir / "a.yaml", Token("tok-a", "disabled"));
    return read;
  });
  SpecSnapshot snap = tracker.Load();
  EXPECT_EQ(reads, 1);
  ASSERT_EQ(snap.desired.specs.size(), 1u);
  EXPECT_EQ(snap.desired.specs[0].status, TokenStatus::kEnabled);
  // The next Load reads the new bytes, once, and parses them.
  SpecSnapshot next = tracker.Load();
  EXPECT_EQ(reads, 2);
  EXPECT_EQ(next.parsed, 1);
  ASSERT_EQ(next.desired.specs.size(), 1u);
  EXPECT_EQ(next.desired.specs[0].status, TokenStatus::kDisabled);
}

// A read that fails is reported as the walker and reader say, and holds back pruning.
TEST(SpecTrackerReadsTest, AFailedReadIsAnUnreadablePath) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("tok-a"));
  SpecTracker tracker({dir.path().string()}, [](const std::string& path) {
    SpecFileText read;
    read.problem = FileSpecs{};
    read.problem->file = path;
    read.problem->unreadable = true;
    read.problem->errors.push_back(SpecError{SourceLocation{path, 0, 0}, "cannot read: EIO"});
    return read;
  });
  SpecSnapshot snap = tracker.Load();
  EXPECT_TRUE(snap.desired.specs.empty());
  EXPECT_EQ(snap.desired.failed_files.count((dir / "a.yaml").string()), 1u);
  ASSERT_EQ(snap.desired.prune.unread.size(), 1u);
  EXPECT_NE(snap.desired.prune.unread[0].find("cannot read: EIO"), std::string::npos);
}

// The watcher's fingerprint walks the tree the loader's way: an entry the loader reports as
// unreadable changes it, a hidden one does not, and a file the loader refuses as too large is
// not read for it.
TEST(SpecTrackerReadsTest, TheWatcherFingerprintFollowsTheLoadersWalk) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("tok-a"));
  const uint64_t base = SpecFingerprint({dir.path().string()});
  ASSERT_NE(base, 0u);
  WriteFile(dir / ".hidden/x.yaml", Token("tok-x"));
  EXPECT_EQ(SpecFingerprint({dir.path().string()}), base);
  std::filesystem::create_symlink(dir / "missing.yaml", dir / "dangling.yaml");
  const uint64_t broken = SpecFingerprint({dir.path().string()});
  EXPECT_NE(broken, base);
  std::filesystem::remove(dir / "dangling.yaml");
  EXPECT_EQ(SpecFingerprint({dir.path().string()}), base);
}

}  // namespace
}  // namespace crtoken
