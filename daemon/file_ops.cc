#include "daemon/file_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

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

Status WriteFileAtomic(FileOps& ops, int dirfd, const std::string& name, const std::string& content,
                       mode_t mode, const std::string& display_path, Durability durability) {
  struct stat st;
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      return Error{ErrorKind::kIo, "refusing to write " + display_path + ": it is a symlink"};
    }
    if (S_ISDIR(st.st_mode)) {
      return Error{ErrorKind::kIo, "cannot write " + display_path + ": it is a directory"};
    }
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
                               const std::string& display_path) {
  ScopedFd fd(&ops, ops.OpenAt(dirfd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0));
  if (!fd.valid()) {
    if (errno == ENOENT) return Error{ErrorKind::kNotFound, display_path + " does not exist"};
    if (errno == ELOOP) {
      return Error{ErrorKind::kIo, "refusing to read " + display_path + ": it is a symlink"};
    }
    return IoError("cannot open", display_path, errno);
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("cannot read", display_path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace crtoken
