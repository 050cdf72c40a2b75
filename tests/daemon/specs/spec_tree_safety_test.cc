// Parts of the spec tree that cannot be read, with real files: each is an error and holds pruning
// back (SpecSet::unread, DesiredState::prune.unread); and what the watcher tells the daemon about
// a tree that is still being written (storms coalesce, open writes are known).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "daemon/specs/spec_loader.h"
#include "daemon/specs/spec_tracker.h"
#include "daemon/specs/spec_watcher.h"
#include "tests/support/file_capabilities.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using test::TempDir;
using test::WithoutFileCapabilities;
using test::WriteFile;

std::string Token(const std::string& name) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme-prod\n  scopes:\n    - {name: \"*\", type: repository, "
         "actions: [pull]}\n  secret:\n    file: " +
         name + ".json\n";
}

std::vector<std::string> ErrorStrings(const std::vector<SpecError>& errors) {
  std::vector<std::string> out;
  for (const SpecError& e : errors) out.push_back(e.ToString());
  return out;
}

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout = milliseconds(10000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

// A Unix socket bound at `path` (closed with the object; the file stays).
class BoundSocket {
 public:
  explicit BoundSocket(const fs::path& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~BoundSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return ok_; }

 private:
  int fd_;
  bool ok_ = false;
};

// --- The loader --------------------------------------------------------------------------------

TEST(SpecTree, AWholeReadableTreeAllowsPruning) {
  TempDir dir;
  WriteFile(dir / "specs/a.yaml", Token("a-token"));
  WriteFile(dir / "specs/sub/b.yaml", Token("b-token"));
  WriteFile(dir / "specs/README", "not a spec");
  fs::create_directory(dir / "specs/empty-subdir");
  const SpecSet set = LoadSpecs({(dir / "specs").string()});
  EXPECT_TRUE(set.ok()) << ::testing::PrintToString(ErrorStrings(set.errors));
  EXPECT_TRUE(set.unread.empty()) << ::testing::PrintToString(set.unread);
  EXPECT_EQ(set.specs.size(), 2u);
}

TEST(SpecTree, RootsThatCannotBeReadAreErrorsThatHoldPruning) {
  TempDir dir;
  WriteFile(dir / "specs/a.yaml", Token("a-token"));
  const std::string typo = (dir / "spces").string();
  fs::create_directory_symlink(dir / "gone", dir / "current");  // git-sync's link, target removed
  fs::create_directory_symlink(dir / "loop", dir / "loop");     // a symlink loop
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  const struct {
    std::string path;
    std::string error;
  } cases[] = {
      {typo, typo + ": no such file or directory"},
      {(dir / "current").string(), (dir / "current").string() + ": broken symlink"},
      {(dir / "loop").string(),
       (dir / "loop").string() + ": cannot read: Too many levels of symbolic links"},
      {(dir / "fifo").string(),
       (dir / "fifo").string() + ": not a regular file or directory (a FIFO)"},
      {(dir / "tokens.yaml").string(),
       (dir / "tokens.yaml").string() + ": no such file or directory"},
  };
  for (const auto& c : cases) {
    const SpecSet set = LoadSpecs({(dir / "specs").string(), c.path});
    EXPECT_EQ(ErrorStrings(set.errors), std::vector<std::string>{c.error});
    EXPECT_EQ(set.unread, std::vector<std::string>{c.error});
    EXPECT_EQ(set.specs.size(), 1u) << "the readable root still counts";
  }
}

TEST(SpecTree, EntriesThatCannotBeReadAreErrorsWhateverTheirName) {
  TempDir dir;
  const fs::path specs = dir / "specs";
  WriteFile(specs / "a.yaml", Token("a-token"));
  ASSERT_EQ(::mkfifo((specs / "fifo.yaml").c_str(), 0600), 0);  // a spec file replaced by a FIFO
  BoundSocket socket(specs / "sock.yml");
  ASSERT_TRUE(socket.ok());
  fs::create_directory_symlink(dir / "team-checkout", specs / "team");  // a dangling dir link
  fs::create_symlink("self.yaml", specs / "self.yaml");                 // a loop
  ASSERT_EQ(::mkfifo((specs / "notes.fifo").c_str(), 0600), 0);         // not a spec name: ignored
  const SpecSet set = LoadSpecs({specs.string()});
  const std::vector<std::string> want = {
      (specs / "fifo.yaml").string() + ": cannot read: not a regular file (a FIFO)",
      (specs / "self.yaml").string() + ": cannot read: Too many levels of symbolic links",
      (specs / "sock.yml").string() + ": cannot read: not a regular file (a socket)",
      (specs / "team").string() + ": cannot read: broken symlink",
  };
  EXPECT_EQ(ErrorStrings(set.errors), want);
  EXPECT_EQ(set.unread, want);
  ASSERT_EQ(set.specs.size(), 1u);
  EXPECT_EQ(set.specs[0].name, "a-token");
}

TEST(SpecTree, AnUnreadableSubdirectoryIsAnError) {
  TempDir dir;
  const fs::path specs = dir / "specs";
  WriteFile(specs / "a.yaml", Token("a-token"));
  WriteFile(specs / "sub/b.yaml", Token("b-token"));
  fs::permissions(specs / "sub", fs::perms::none);
  SpecSet set;
  {
    WithoutFileCapabilities as_a_user;
    if (!as_a_user.ok()) {
      fs::permissions(specs / "sub", fs::perms::owner_all);
      GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
    }
    set = LoadSpecs({specs.string()});
  }
  fs::permissions(specs / "sub", fs::perms::owner_all);
  const std::string want = (specs / "sub").string() + ": cannot read directory: Permission denied";
  EXPECT_EQ(ErrorStrings(set.errors), std::vector<std::string>{want});
  EXPECT_EQ(set.unread, std::vector<std::string>{want});
  EXPECT_EQ(set.specs.size(), 1u);
}

TEST(SpecTree, AnEmptyRootHoldsPruningButIsNoError) {
  TempDir dir;
  const fs::path specs = dir / "specs";
  fs::create_directories(specs / "sub");
  WriteFile(specs / "README.md", "# specs live here\n");
  SpecSet set = LoadSpecs({specs.string()});
  EXPECT_TRUE(set.ok());
  EXPECT_EQ(set.unread,
            std::vector<std::string>{specs.string() + ": holds no spec file (*.yaml, *.yml)"});
  // Named twice, it is still one empty root.
  set = LoadSpecs({specs.string(), specs.string()});
  EXPECT_EQ(set.unread.size(), 1u);
  // A spec file that declares nothing says "nothing declared" on purpose.
  WriteFile(specs / "tokens.yaml", "# nothing declared\n");
  set = LoadSpecs({specs.string()});
  EXPECT_TRUE(set.ok());
  EXPECT_TRUE(set.unread.empty()) << ::testing::PrintToString(set.unread);
  EXPECT_TRUE(set.specs.empty());
}

TEST(SpecTree, AnInvalidFileIsNotUnread) {
  TempDir dir;
  WriteFile(dir / "specs/a.yaml", Token("a-token") + "  bogus: 1\n");
  const SpecSet set = LoadSpecs({(dir / "specs").string()});
  EXPECT_FALSE(set.ok());
  EXPECT_TRUE(set.unread.empty()) << "a file that was read protects its own tokens only";
}

// --- The daemon's tracker -----------------------------------------------------------------------

TEST(SpecTree, TheTrackerReportsAMissingRootAndItsReturn) {
  TempDir dir;
  const fs::path specs = dir / "specs";
  WriteFile(specs / "a.yaml", Token("a-token"));
  SpecTracker tracker({specs.string()});
  SpecSnapshot first = tracker.Load();
  EXPECT_TRUE(first.desired.prune.unread.empty());
  ASSERT_EQ(first.desired.specs.size(), 1u);

  fs::rename(specs, dir / "moved-away");
  SpecSnapshot gone = tracker.Load();
  EXPECT_TRUE(gone.desired.specs.empty());
  EXPECT_EQ(gone.desired.prune.unread,
            std::vector<std::string>{specs.string() + ": no such file or directory"});
  EXPECT_EQ(ErrorStrings(gone.errors), gone.desired.prune.unread);
  EXPECT_FALSE(SameDeclarations(first.desired, gone.desired));

  fs::create_directory(specs);  // recreated empty: still nothing to prune on
  SpecSnapshot empty = tracker.Load();
  EXPECT_TRUE(empty.errors.empty());
  EXPECT_EQ(empty.desired.prune.unread,
            std::vector<std::string>{specs.string() + ": holds no spec file (*.yaml, *.yml)"});

  fs::remove(specs);
  fs::rename(dir / "moved-away", specs);
  SpecSnapshot back = tracker.Load();
  EXPECT_TRUE(back.desired.prune.unread.empty());
  EXPECT_TRUE(SameDeclarations(first.desired, back.desired));
}

TEST(SpecTree, TheTrackerReportsAFileThatBecameAFifo) {
  TempDir dir;
  const fs::path specs = dir / "specs";
  WriteFile(specs / "a.yaml", Token("a-token"));
  WriteFile(specs / "b.yaml", Token("b-token"));
  SpecTracker tracker({specs.string()});
  ASSERT_EQ(tracker.Load().desired.specs.size(), 2u);
  fs::remove(specs / "b.yaml");
  ASSERT_EQ(::mkfifo((specs / "b.yaml").c_str(), 0600), 0);
  const SpecSnapshot snap = tracker.Load();
  EXPECT_EQ(snap.desired.prune.unread,
            std::vector<std::string>{(specs / "b.yaml").string() +
                                     ": cannot read: not a regular file (a FIFO)"});
  EXPECT_EQ(snap.desired.failed_files.count((specs / "b.yaml").string()), 1u);
}

// --- The watcher -------------------------------------------------------------------------------

TEST(SpecTreeWatcher, AStormOfSavesIsReadAboutOnceASecond) {
  TempDir dir;
  const fs::path file = dir / "specs/a.yaml";
  WriteFile(file, Token("a-token"));
  std::atomic<int> changes{0};
  SpecWatcherOptions o;
  o.paths = {(dir / "specs").string()};
  o.mode = SpecWatcherOptions::Mode::kInotify;
  SpecWatcher watcher(o, [&] { ++changes; });
  ASSERT_TRUE(watcher.Start().ok());
  // An editor saving 100 times a second: truncate, write, close, each time a new comment.
  constexpr int kSaves = 150;
  for (int i = 0; i < kSaves; ++i) {
    {
      std::ofstream out(file, std::ios::trunc);
      out << "# save " << i << "\n" << Token("a-token");
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  // The end of the storm is read once it is quiet.
  ASSERT_TRUE(WaitUntil([&] { return changes.load() >= 1; }));
  const uint64_t final_fp = SpecFingerprint(o.paths);
  ASSERT_TRUE(
      WaitUntil([&] { return watcher.changes() > 0 && SpecFingerprint(o.paths) == final_fp; }));
  std::this_thread::sleep_for(milliseconds(300));
  watcher.Stop();
  // Each save completes with a close, which alone used to trigger a read 10 ms later: one read
  // per save. In a storm every save waits the full debounce, and a burst is cut every second.
  EXPECT_LE(changes.load(), kSaves / 10) << changes.load() << " reads for " << kSaves << " saves";
}

TEST(SpecTreeWatcher, KnowsWhichFilesAreOpenForWritingAndWhenTheTreeLastChanged) {
  TempDir dir;
  const fs::path file = dir / "specs/a.yaml";
  WriteFile(file, Token("a-token"));
  SpecWatcherOptions o;
  o.paths = {(dir / "specs").string()};
  o.mode = SpecWatcherOptions::Mode::kInotify;
  SpecWatcher watcher(o, [] {});
  ASSERT_TRUE(watcher.Start().ok());
  EXPECT_EQ(watcher.last_activity(), std::chrono::steady_clock::time_point{});
  const auto before = std::chrono::steady_clock::now();
  {
    std::ofstream out(file, std::ios::app);
    out << "# one more line\n" << std::flush;
    ASSERT_TRUE(WaitUntil([&] { return !watcher.FilesBeingWritten(milliseconds(60000)).empty(); }));
    EXPECT_EQ(watcher.FilesBeingWritten(milliseconds(60000)),
              std::vector<std::string>{file.string()});
    EXPECT_GE(watcher.last_activity(), before);
    // A writer that went quiet long enough no longer counts.
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_TRUE(watcher.FilesBeingWritten(milliseconds(20)).empty());
  }
  ASSERT_TRUE(WaitUntil([&] { return watcher.FilesBeingWritten(milliseconds(60000)).empty(); }));
  watcher.Stop();
}

}  // namespace
}  // namespace crtoken
