#include "daemon/specs/spec_watcher.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using test::TempDir;
using test::WriteFile;

constexpr auto kGenerous = std::chrono::seconds(10);

// Counts callbacks; lets the test wait for the n-th with a generous timeout.
class ChangeCounter {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    count_++;
    cv_.notify_all();
  }
  bool WaitFor(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kGenerous, [&] { return count_ >= n; });
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

void Symlink(const fs::path& target, const fs::path& link) {
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << link;
}

// Atomically points `link` at `target`, as kubelet and git-sync do (new symlink, rename over).
void SwapSymlink(const fs::path& target, const fs::path& link) {
  fs::path tmp = link;
  tmp += "_tmp";
  Symlink(target, tmp);
  fs::rename(tmp, link);
}

class SpecWatcherTest : public ::testing::TestWithParam<SpecWatcherOptions::Mode> {
 protected:
  void StartOn(std::vector<std::string> paths) {
    SpecWatcherOptions o;
    o.paths = std::move(paths);
    o.debounce = milliseconds(50);
    o.mode = GetParam();
    o.poll_interval = milliseconds(30);
    watcher_ = std::make_unique<SpecWatcher>(o, [this] { changes_.Notify(); });
    ASSERT_TRUE(watcher_->Start().ok());
    ASSERT_EQ(watcher_->polling(), GetParam() == SpecWatcherOptions::Mode::kPoll);
  }
  void TearDown() override {
    if (watcher_) watcher_->Stop();
  }

  TempDir dir_;
  ChangeCounter changes_;
  std::unique_ptr<SpecWatcher> watcher_;
};

TEST_P(SpecWatcherTest, InPlaceEdit) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  StartOn({(dir_ / "specs").string()});
  WriteFile(dir_ / "specs/a.yaml", "v: 2\n");
  EXPECT_TRUE(changes_.WaitFor(1));
}

TEST_P(SpecWatcherTest, EditorTempFileAndRename) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  StartOn({(dir_ / "specs").string()});
  WriteFile(dir_ / "specs/.a.yaml.swp", "junk");
  WriteFile(dir_ / "specs/a.yaml.tmp123", "v: 2\n");
  fs::rename(dir_ / "specs/a.yaml.tmp123", dir_ / "specs/a.yaml");
  ASSERT_TRUE(changes_.WaitFor(1));
  // vim's way: rename the original away, write a new file, delete the backup.
  fs::rename(dir_ / "specs/a.yaml", dir_ / "specs/a.yaml~");
  WriteFile(dir_ / "specs/a.yaml", "v: 3\n");
  fs::remove(dir_ / "specs/a.yaml~");
  EXPECT_TRUE(changes_.WaitFor(2));
}

TEST_P(SpecWatcherTest, DeletedAndRecreated) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  WriteFile(dir_ / "specs/b.yaml", "w: 1\n");
  StartOn({(dir_ / "specs").string()});
  fs::remove(dir_ / "specs/a.yaml");
  ASSERT_TRUE(changes_.WaitFor(1));
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  EXPECT_TRUE(changes_.WaitFor(2));
}

TEST_P(SpecWatcherTest, WholeDirectoryDeletedAndRecreated) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  StartOn({(dir_ / "specs").string()});
  fs::remove_all(dir_ / "specs");
  ASSERT_TRUE(changes_.WaitFor(1));
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  ASSERT_TRUE(changes_.WaitFor(2));
  // The new directory is watched in turn.
  WriteFile(dir_ / "specs/a.yaml", "v: 2\n");
  EXPECT_TRUE(changes_.WaitFor(3));
}

TEST_P(SpecWatcherTest, NewSubdirectoryIsWatched) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  StartOn({(dir_ / "specs").string()});
  WriteFile(dir_ / "specs/team/x/b.yaml", "w: 1\n");
  ASSERT_TRUE(changes_.WaitFor(1));
  WriteFile(dir_ / "specs/team/x/b.yaml", "w: 2\n");
  EXPECT_TRUE(changes_.WaitFor(2));
}

TEST_P(SpecWatcherTest, RenameWithinTree) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  StartOn({(dir_ / "specs").string()});
  fs::rename(dir_ / "specs/a.yaml", dir_ / "specs/renamed.yaml");
  EXPECT_TRUE(changes_.WaitFor(1));
}

TEST_P(SpecWatcherTest, KubeletConfigMapDataSwap) {
  // The kubelet's layout: files are symlinks through `..data` into a timestamped directory.
  const fs::path vol = dir_ / "vol";
  WriteFile(vol / "..2026_01_01_00_00_00.1/tokens.yaml", "v: 1\n");
  Symlink("..2026_01_01_00_00_00.1", vol / "..data");
  Symlink("..data/tokens.yaml", vol / "tokens.yaml");
  StartOn({vol.string()});
  WriteFile(vol / "..2026_01_01_00_01_00.2/tokens.yaml", "v: 2\n");
  SwapSymlink("..2026_01_01_00_01_00.2", vol / "..data");
  fs::remove_all(vol / "..2026_01_01_00_00_00.1");
  ASSERT_TRUE(changes_.WaitFor(1));
  // And again: the watch set follows the new directory.
  WriteFile(vol / "..2026_01_01_00_02_00.3/tokens.yaml", "v: 3\n");
  SwapSymlink("..2026_01_01_00_02_00.3", vol / "..data");
  fs::remove_all(vol / "..2026_01_01_00_01_00.2");
  EXPECT_TRUE(changes_.WaitFor(2));
}

TEST_P(SpecWatcherTest, KubeletSingleFileMount) {
  // --specs pointing at one file of a ConfigMap volume.
  const fs::path vol = dir_ / "vol";
  WriteFile(vol / "..t1/tokens.yaml", "v: 1\n");
  Symlink("..t1", vol / "..data");
  Symlink("..data/tokens.yaml", vol / "tokens.yaml");
  StartOn({(vol / "tokens.yaml").string()});
  WriteFile(vol / "..t2/tokens.yaml", "v: 2\n");
  SwapSymlink("..t2", vol / "..data");
  EXPECT_TRUE(changes_.WaitFor(1));
}

TEST_P(SpecWatcherTest, GitSyncDirectorySymlinkSwap) {
  // git-sync: <root>/current -> worktrees/<hash>; the specs live below the symlink.
  const fs::path root = dir_ / "git";
  WriteFile(root / "worktrees/aaa/manifests/t.yaml", "v: 1\n");
  Symlink("worktrees/aaa", root / "current");
  StartOn({(root / "current/manifests").string()});
  WriteFile(root / "worktrees/bbb/manifests/t.yaml", "v: 2\n");
  SwapSymlink("worktrees/bbb", root / "current");
  fs::remove_all(root / "worktrees/aaa");
  ASSERT_TRUE(changes_.WaitFor(1));
  // An edit in the new checkout is seen too.
  WriteFile(root / "worktrees/bbb/manifests/t.yaml", "v: 3\n");
  EXPECT_TRUE(changes_.WaitFor(2));
}

TEST_P(SpecWatcherTest, SpecPathCreatedAfterStart) {
  StartOn({(dir_ / "later/specs").string()});
  WriteFile(dir_ / "later/specs/a.yaml", "v: 1\n");
  EXPECT_TRUE(changes_.WaitFor(1));
}

TEST_P(SpecWatcherTest, IrrelevantChangesDoNotNotify) {
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");
  StartOn({(dir_ / "specs").string()});
  WriteFile(dir_ / "specs/notes.txt", "hello");
  WriteFile(dir_ / "specs/a.yaml", "v: 1\n");  // same content rewritten
  WriteFile(dir_ / "specs/..hidden/x.yaml", "v: 1\n");
  WriteFile(dir_ / "specs/.hidden.yaml", "v: 1\n");
  WriteFile(dir_ / "specs/.git/y.yaml", "v: 1\n");
  WriteFile(dir_ / "specs/b.yaml", "new\n");  // the one real change
  ASSERT_TRUE(changes_.WaitFor(1));
  // The real change was seen after the others; none of them produced a callback of its own.
  EXPECT_EQ(changes_.count(), 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, SpecWatcherTest,
                         ::testing::Values(SpecWatcherOptions::Mode::kInotify,
                                           SpecWatcherOptions::Mode::kPoll),
                         [](const auto& info) {
                           return info.param == SpecWatcherOptions::Mode::kPoll ? "Poll"
                                                                                : "Inotify";
                         });

TEST(SpecFingerprintTest, TracksContentPathsAndSkipsDotDotDirs) {
  TempDir dir;
  WriteFile(dir / "a.yaml", "x");
  const std::vector<std::string> paths = {dir.path().string()};
  const uint64_t base = SpecFingerprint(paths);
  EXPECT_NE(base, 0u);
  WriteFile(dir / "..2026/a.yaml", "y");
  WriteFile(dir / "readme.md", "y");
  EXPECT_EQ(SpecFingerprint(paths), base);
  WriteFile(dir / "a.yaml", "z");
  EXPECT_NE(SpecFingerprint(paths), base);
  WriteFile(dir / "a.yaml", "x");
  EXPECT_EQ(SpecFingerprint(paths), base);
  fs::rename(dir / "a.yaml", dir / "b.yml");
  EXPECT_NE(SpecFingerprint(paths), base);
  EXPECT_EQ(SpecFingerprint({(dir / "missing").string()}), 0u);
}

TEST(SpecFingerprintTest, SymlinkLoopTerminates) {
  TempDir dir;
  WriteFile(dir / "d/a.yaml", "x");
  Symlink("..", dir / "d/loop");
  EXPECT_NE(SpecFingerprint({(dir / "d").string()}), 0u);
}

}  // namespace
}  // namespace crtoken
