// The few file-system calls the file sink and the legacy state reader make, behind one small seam
// so that tests can inject the failures a root-run test cannot provoke for real (EROFS, ENOSPC,
// EIO).
// Each method has the POSIX call's signature and semantics: -1 with errno set on failure.
//
// Thread-safe: the real implementation is stateless; fault-injecting test doubles must be too.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

#include "reconciler/error.h"

namespace crtoken {

class FileOps {
 public:
  virtual ~FileOps() = default;
  virtual int OpenAt(int dirfd, const char* path, int flags, mode_t mode);
  virtual int MkdirAt(int dirfd, const char* path, mode_t mode);
  virtual ssize_t Write(int fd, const void* data, size_t size);
  virtual int Fsync(int fd);
  virtual int Syncfs(int fd);  // syncfs(2): flushes the whole file system that holds fd
  virtual int RenameAt(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path);
  virtual int UnlinkAt(int dirfd, const char* path, int flags);
  virtual int Close(int fd);

  // The process-wide real implementation.
  static FileOps& Real();
};

// An open file descriptor, closed on destruction.
class ScopedFd {
 public:
  ScopedFd() = default;
  ScopedFd(FileOps* ops, int fd) : ops_(ops), fd_(fd) {}
  ScopedFd(ScopedFd&& other) noexcept : ops_(other.ops_), fd_(other.fd_) { other.fd_ = -1; }
  ScopedFd& operator=(ScopedFd&& other) noexcept;
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd();
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

 private:
  FileOps* ops_ = nullptr;
  int fd_ = -1;
};

// "what PATH: strerror(errno)" as a kIo error; call right after the failing call.
Error IoError(const std::string& what, const std::string& path, int err);

// When a write becomes durable: kNow fsyncs the file before the rename and the directory after it;
// kLater leaves that to the caller, who syncs the file system once for a batch of writes.
enum class Durability { kNow, kLater };

// Writes `content` to `name` inside the open directory `dirfd` atomically: a temp file in the same
// directory (O_EXCL, `mode`), write, rename over `name` (with `durability` kNow: fsync before the
// rename, and of the directory after it). A reader sees the old content or the new one, never a
// mix; the temp file never outlives a failure. `display_path` names the file in errors. Replaces
// only a regular file: a symlink, directory, FIFO, socket or device at `name` is refused (kIo).
// The new file is always a fresh inode with `mode`, owned by this process, whatever was there.
Status WriteFileAtomic(FileOps& ops, int dirfd, const std::string& name, const std::string& content,
                       mode_t mode, const std::string& display_path,
                       Durability durability = Durability::kNow);

enum class Follow { kNoSymlink, kSymlinks };

// Reads a whole regular file of at most `max_bytes`, in bounded time: the open never blocks
// (O_NONBLOCK, so a FIFO without a writer cannot hang it) and nothing is read before fstat shows a
// regular file no larger than `max_bytes` (a huge or sparse file is refused unread). kNotFound
// when it does not exist; kIo, naming `display_path`, for a FIFO, socket, device or directory, a
// file over the limit, a symlink with Follow::kNoSymlink (O_NOFOLLOW), or a failed call. `stat_out`
// (may be null) receives the open file's fstat.
Result<std::string> ReadFileAt(FileOps& ops, int dirfd, const std::string& name,
                               const std::string& display_path, size_t max_bytes,
                               Follow follow = Follow::kNoSymlink, struct stat* stat_out = nullptr);

// "a directory", "a FIFO", "a socket", "a symlink", ... for the file type in `mode` (st_mode).
std::string FileTypeName(mode_t mode);

// An exclusive lock on a directory, held until this object is destroyed (or the process ends, or
// is killed: the kernel drops it with the descriptor). Move-only.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  explicit DirectoryLock(ScopedFd fd) : fd_(std::move(fd)) {}
  bool held() const { return fd_.valid(); }

 private:
  ScopedFd fd_;
};

// One writer per directory: flock(LOCK_EX | LOCK_NB) on an O_RDONLY | O_DIRECTORY descriptor of
// `path` itself (no file is created in it; the descriptor is not inherited by child processes).
// The lock belongs to that open descriptor, so a second LockDirectory of the same directory fails
// even in the same process, and it covers every process on this host that takes it. Never waits.
// Errors name `path`: kConflict when another crtoken apply or run holds it; kNotFound when it does
// not exist (the caller creates it first); kIo for anything else (not a directory, no access, a
// file system without flock).
Result<DirectoryLock> LockDirectory(const std::string& path);

// Removes, in `dir` and its subdirectories (symlinks are not followed; at most `max_depth` levels
// down), the temporary files that WriteFileAtomic leaves behind when its process dies between
// creating one and renaming it onto its target: regular files named ".NAME.tmp.PID.N" of another
// PID than this process's. Only the holder of `dir`'s LockDirectory may call it (another
// writer's file in progress would go). Returns the number removed; an error names the path that
// could not be read or removed (the others are still removed). A missing `dir` removes nothing.
Result<int> RemoveStaleTempFiles(const std::string& dir, int max_depth = 16);

}  // namespace crtoken
