// The tracker sees the tree through the loader's one walker and reads each spec file once per
// Load: the bytes it compares and the bytes it parses are the same read. In `crtoken run` a change
// is read once in all: the watcher's read of it is what the tracker parses (SpecReadLoan).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <map>
#include <mutex>
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

// Reads through ReadSpecFile and counts the reads of each path (from any thread).
struct CountingReader {
  std::map<std::string, int> reads;
  SpecFileReader reader() {
    return [this](const std::string& path) {
      {
        std::lock_guard<std::mutex> lock(mu);
        ++reads[path];
      }
      return ReadSpecFile(path);
    };
  }
  std::map<std::string, int> Counts() {
    std::lock_guard<std::mutex> lock(mu);
    return reads;
  }
  void Reset() {
    std::lock_guard<std::mutex> lock(mu);
    reads.clear();
  }
  std::mutex mu;
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

// A loan hands each lent read on once, to the first reader of that file however it names the file,
// and only while it lasts; every other read goes to the disk.
TEST(SpecTrackerReadsTest, ALoanServesEachLentReadOnceAndOnlyWhileItLasts) {
  TempDir dir;
  WriteFile(dir / "a.yaml", "on disk\n");
  CountingReader disk;
  SpecReadLoan loan(disk.reader());
  std::map<std::string, SpecFileText> reads;
  reads[(dir / "sub/../a.yaml").string()].text = "lent\n";
  loan.Lend(std::move(reads));
  EXPECT_EQ(loan.Read((dir / "a.yaml").string()).text, "lent\n");
  EXPECT_EQ(disk.Counts().size(), 0u);
  EXPECT_EQ(loan.Read((dir / "a.yaml").string()).text, "on disk\n") << "lent once only";
  EXPECT_EQ(disk.Counts()[(dir / "a.yaml").string()], 1);

  std::map<std::string, SpecFileText> again;
  again[(dir / "a.yaml").string()].text = "lent again\n";
  loan.Lend(std::move(again));
  loan.EndLoan();
  EXPECT_EQ(loan.Read((dir / "a.yaml").string()).text, "on disk\n") << "nothing outlives the loan";
  EXPECT_EQ(disk.Counts()[(dir / "a.yaml").string()], 2);
}

// The watcher and the tracker wired as `crtoken run` wires them: the watcher's check reads the
// files to see that they changed, and the reload its callback makes parses those same bytes. A
// change costs the tracker no read at all; with inotify, each file is read exactly once for it.
class SpecChangeReadsTest : public ::testing::TestWithParam<SpecWatcherOptions::Mode> {};

TEST_P(SpecChangeReadsTest, AChangeIsReadOnceForTheWatcherAndTheTrackerTogether) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("tok-a"));
  WriteFile(dir / "b.yaml", Token("tok-b"));
  const std::string a = (dir / "a.yaml").string();
  const std::string b = (dir / "b.yaml").string();
  CountingReader watcher_disk;
  CountingReader tracker_disk;
  SpecReadLoan loan(tracker_disk.reader());
  SpecTracker tracker({dir.path().string()}, loan.reader());

  std::mutex mu;
  std::condition_variable cv;
  std::vector<SpecSnapshot> loads;
  SpecWatcherOptions o;
  o.paths = {dir.path().string()};
  o.debounce = std::chrono::milliseconds(50);
  o.mode = GetParam();
  o.poll_interval = std::chrono::milliseconds(30);
  o.read = watcher_disk.reader();
  o.lend_to = &loan;
  SpecWatcher watcher(o, [&] {
    SpecSnapshot snap = tracker.Load();
    std::lock_guard<std::mutex> lock(mu);
    loads.push_back(std::move(snap));
    cv.notify_all();
  });
  ASSERT_TRUE(watcher.Start().ok());
  ASSERT_EQ(tracker.Load().desired.specs.size(), 2u);  // the first load, as at the start
  EXPECT_EQ(tracker_disk.Counts(), (std::map<std::string, int>{{a, 1}, {b, 1}}));
  watcher_disk.Reset();
  tracker_disk.Reset();

  // An atomic edit (a temp file renamed over the original): one event, one check.
  WriteFile(dir / ".a.yaml.tmp", Token("tok-a", "disabled"));
  std::filesystem::rename(dir / ".a.yaml.tmp", dir / "a.yaml");
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !loads.empty(); }))
        << "the change was not seen";
  }
  const std::map<std::string, int> watcher_reads = watcher_disk.Counts();
  const std::map<std::string, int> tracker_reads = tracker_disk.Counts();
  watcher.Stop();

  ASSERT_EQ(loads.size(), 1u);
  const SpecSnapshot& changed = loads.front();
  EXPECT_EQ(changed.files, 2);
  EXPECT_EQ(changed.parsed, 1);
  ASSERT_EQ(changed.desired.specs.size(), 2u);
  for (const TokenSpec& s : changed.desired.specs) {
    EXPECT_EQ(s.status, s.name == "tok-a" ? TokenStatus::kDisabled : TokenStatus::kEnabled)
        << s.name;
  }
  EXPECT_TRUE(tracker_reads.empty())
      << "the reload read " << tracker_reads.size() << " file(s) the watcher had just read";
  if (GetParam() == SpecWatcherOptions::Mode::kInotify) {
    EXPECT_EQ(watcher_reads, (std::map<std::string, int>{{a, 1}, {b, 1}}));
  }

  // A load outside the callback (SIGHUP, the settle check) reads the disk as it is now.
  WriteFile(dir / "b.yaml", Token("tok-b", "disabled"));
  SpecSnapshot later = tracker.Load();
  EXPECT_EQ(tracker_disk.Counts(), (std::map<std::string, int>{{a, 1}, {b, 1}}));
  ASSERT_EQ(later.desired.specs.size(), 2u);
  for (const TokenSpec& s : later.desired.specs) EXPECT_EQ(s.status, TokenStatus::kDisabled);
}

INSTANTIATE_TEST_SUITE_P(Modes, SpecChangeReadsTest,
                         ::testing::Values(SpecWatcherOptions::Mode::kInotify,
                                           SpecWatcherOptions::Mode::kPoll),
                         [](const ::testing::TestParamInfo<SpecWatcherOptions::Mode>& info) {
                           return info.param == SpecWatcherOptions::Mode::kPoll ? "Poll"
                                                                                : "Inotify";
                         });

}  // namespace
}  // namespace crtoken
