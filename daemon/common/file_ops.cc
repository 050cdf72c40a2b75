#include "daemon/common/file_ops.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <regex>

namespace crtoken {

int FileOps::OpenAt(int dirfd, const char* path, int flags, mode_t mode) {
  return ::openat(dirfd, path, flags, mode);
}
int FileOps::MkdirAt(int dirfd, const char* path, mode_t mode) {
  return ::mkdirat(dirfd, path, mode);
}
ssize_t FileOps::Write(int fd, const void* data, size_t size) { return ::write(fd, data, size); }
int FileOps::Fsync(int fd) { return ::fsync(fd); }
int FileOps::Syncfs(int fd) { return ::syncfs(fd); }
int FileOps::RenameAt(int old_dirfd, const char* old_path, int new_dirfd, const char* new_path) {
  return ::renameat(old_dirfd, old_path, new_dirfd, new_path);
}
int FileOps::UnlinkAt(int dirfd, const char* path, int flags) {
  return ::unlinkat(dirfd, path, flags);
}
int FileOps::Close(int fd) { return ::close(fd); }

FileOps& FileOps::Real() {
  static FileOps real;
  return real;
}

ScopedFd& ScopedFd::operator=(ScopedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0 && ops_) ops_->Close(fd_);
    ops_ = other.ops_;
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

ScopedFd::~ScopedFd() {
  if (fd_ >= 0 && ops_) ops_->Close(fd_);
}

Error IoError(const std::string& what, const std::string& path, int err) {
  return Error{ErrorKind::kIo, what + " " + path + ": " + std::strerror(err)};
}

std::string FileTypeName(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "an unknown kind of file";
}

Status WriteFileAtomic(FileOps& ops, int dirfd, const std::string& name, const std::string& content,
                       mode_t mode, const std::string& display_path, Durability durability) {
  // Only a regular file is replaced: anything else there was not written by us (the rename would
  // silently swap a FIFO or a socket that something else is using for a file).
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kIo, "refusing to write " + display_path + ": it is " +
                                     FileTypeName(st.st_mode) + ", not a regular file"};
  }
  // A name unique within the process and across processes: pid plus a counter.
  static std::atomic<unsigned long> counter{0};
  const std::string temp = "." + name.substr(name.rfind('/') + 1) + ".tmp." +
                           std::to_string(::getpid()) + "." + std::to_string(counter++);
  ScopedFd fd(&ops, ops.OpenAt(dirfd, temp.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
  if (!fd.valid()) return IoError("cannot create a temporary file for", display_path, errno);
  auto fail = [&](const std::string& what) -> Status {
    Error error = IoError(what, display_path, errno);
    ops.UnlinkAt(dirfd, temp.c_str(), 0);
    return error;
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("cannot set the mode of");
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ops.Write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  const bool now = durability == Durability::kNow;
  if (now && ops.Fsync(fd.get()) != 0) return fail("cannot fsync");
  fd = ScopedFd();  // closed before the rename
  if (ops.RenameAt(dirfd, temp.c_str(), dirfd, name.c_str()) != 0)
    return fail("cannot rename onto");
  if (now && ops.Fsync(dirfd) != 0) {
    // The new content is in place but its directory entry may not survive a power loss.
    return IoError("cannot fsync the directory of", display_path, errno);
  }
  return Status::Ok();
}

Result<std::string> ReadFileAt(FileOps& ops, int dirfd, const std::string& name,
                               const std::string& display_path, size_t max_bytes, Follow follow,
                               struct stat* stat_out) {
  auto not_regular = [&](mode_t mode) {
    return Error{ErrorKind::kIo, "refusing to read " + display_path + ": it is " +
                                     FileTypeName(mode) + ", not a regular file"};
  };
  // Anything but a regular file is refused before it is opened (opening a device can have effects
  // of its own, and a socket cannot be opened at all), and again after (it may have been swapped).
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, follow == Follow::kNoSymlink ? AT_SYMLINK_NOFOLLOW : 0) ==
          0 &&
      !S_ISREG(st.st_mode)) {
    return not_regular(st.st_mode);
  }
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, forever.
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (follow == Follow::kNoSymlink) flags |= O_NOFOLLOW;
  ScopedFd fd(&ops, ops.OpenAt(dirfd, name.c_str(), flags, 0));
  if (!fd.valid()) {
    if (errno == ENOENT) return Error{ErrorKind::kNotFound, display_path + " does not exist"};
    if (errno == ELOOP && follow == Follow::kNoSymlink) return not_regular(S_IFLNK);
    return IoError("cannot open", display_path, errno);
  }
  if (::fstat(fd.get(), &st) != 0) return IoError("cannot stat", display_path, errno);
  if (!S_ISREG(st.st_mode)) return not_regular(st.st_mode);
  const std::string limit = "the limit of " + std::to_string(max_bytes) + " bytes";
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > max_bytes) {
    return Error{ErrorKind::kIo, "refusing to read " + display_path + ": it is " +
                                     std::to_string(st.st_size) + " bytes, over " + limit};
  }
  if (stat_out != nullptr) *stat_out = st;
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", display_path, errno);
    }
    if (n == 0) break;
    // The file may grow after the fstat: the limit holds for what is read too.
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return Error{ErrorKind::kIo,
                   "refusing to read " + display_path + ": it grew over " + limit + " while read"};
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<DirectoryLock> LockDirectory(const std::string& path) {
  FileOps& ops = FileOps::Real();
  ScopedFd fd(&ops, ops.OpenAt(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!fd.valid()) {
    if (errno == ENOENT)
      return Error{ErrorKind::kNotFound, "cannot lock " + path + ": it does not exist"};
    return IoError("cannot open the directory to lock", path, errno);
  }
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) {
      return Error{ErrorKind::kConflict,
                   "cannot lock " + path +
                       ": another crtoken apply or run holds it (one process writes a secret "
                       "directory at a time); wait for it to finish, or stop it"};
    }
    return IoError("cannot lock", path, errno);
  }
  return DirectoryLock(std::move(fd));
}

Result<int> RemoveStaleTempFiles(const std::string& dir, int max_depth) {
  namespace fs = std::filesystem;
  static const std::regex temp_name(R"(\..+\.tmp\.([0-9]+)\.[0-9]+)");
  const std::string own = std::to_string(::getpid());
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, ec), end;
  if (ec) {
    if (ec == std::errc::no_such_file_or_directory) return 0;
    return Error{ErrorKind::kIo, "cannot read directory " + dir + ": " + ec.message()};
  }
  int removed = 0;
  std::string failed;
  for (; it != end; it.increment(ec)) {
    if (ec) return Error{ErrorKind::kIo, "cannot read directory " + dir + ": " + ec.message()};
    const fs::file_status status = it->symlink_status(ec);
    if (ec) continue;  // removed since it was listed
    if (fs::is_directory(status) && it.depth() + 1 >= max_depth) it.disable_recursion_pending();
    if (!fs::is_regular_file(status)) continue;
    std::smatch m;
    const std::string name = it->path().filename().string();
    if (!std::regex_match(name, m, temp_name) || m[1].str() == own) continue;
    if (fs::remove(it->path(), ec)) {
      ++removed;
    } else if (ec && failed.empty()) {
      failed = "cannot remove " + it->path().string() + ": " + ec.message();
    }
  }
  if (!failed.empty()) return Error{ErrorKind::kIo, failed};
  return removed;
}

}  // namespace crtoken
