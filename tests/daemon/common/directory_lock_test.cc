// LockDirectory: one writer per directory. The lock is flock(2) on a descriptor of the directory
// itself, so it belongs to that open descriptor: a second lock conflicts in the same process as in
// another one, and the lock ends with its object (or with the process).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "daemon/common/file_ops.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::TempDir;
using test::WriteFile;

TEST(DirectoryLockTest, ASecondLockOfTheSameDirectoryIsRefusedNamingIt) {
  TempDir dir;
  auto first = LockDirectory(dir.path());
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  EXPECT_TRUE(first.value().held());

  auto second = LockDirectory(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(second.error().message,
            "cannot lock " + dir.path().string() +
                ": another crtoken apply or run holds it (one process writes a secret directory "
                "at a time); wait for it to finish, or stop it");
  // The lock is on the directory itself: nothing was created in it.
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(DirectoryLockTest, TheLockEndsWithItsObjectAndMovesWithIt) {
  TempDir dir;
  {
    auto first = LockDirectory(dir.path());
    ASSERT_TRUE(first.ok());
    DirectoryLock moved = std::move(first.value());
    EXPECT_TRUE(moved.held());
    EXPECT_FALSE(LockDirectory(dir.path()).ok());  // still held, by `moved`
  }
  auto again = LockDirectory(dir.path());
  EXPECT_TRUE(again.ok()) << again.error().ToString();
}

TEST(DirectoryLockTest, AnotherProcessIsRefusedWhileTheLockIsHeld) {
  TempDir dir;
  auto held = LockDirectory(dir.path());
  ASSERT_TRUE(held.ok());
  auto child_tries = [&] {
    const pid_t pid = ::fork();
    if (pid == 0) {
      auto lock = LockDirectory(dir.path());
      ::_exit(lock.ok() ? 0 : lock.error().kind == ErrorKind::kConflict ? 3 : 4);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(child_tries(), 3);  // refused as a conflict
  held = Error{ErrorKind::kInternal, "released"};
  EXPECT_EQ(child_tries(), 0);
}

TEST(DirectoryLockTest, AMissingDirectoryOrAFileIsAnErrorNamingIt) {
  TempDir dir;
  auto missing = LockDirectory(dir / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(missing.error().message,
            "cannot lock " + (dir / "nope").string() + ": it does not exist");

  WriteFile(dir / "file", "x");
  auto file = LockDirectory(dir / "file");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().kind, ErrorKind::kIo);
  EXPECT_EQ(file.error().message,
            "cannot open the directory to lock " + (dir / "file").string() + ": Not a directory");
}

}  // namespace
}  // namespace crtoken
