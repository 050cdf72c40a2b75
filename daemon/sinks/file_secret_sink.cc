#include "daemon/sinks/file_secret_sink.h"

#include <fcntl.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "daemon/sinks/docker_config.h"

namespace crtoken {
namespace {

// The real path of an open directory, through /proc (Linux).
std::string RealPathOfFd(int fd) {
  char buf[PATH_MAX + 1];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buf, PATH_MAX);
  if (n < 0) return "";
  return std::string(buf, static_cast<size_t>(n));
}

bool Under(const std::string& path, const std::string& root) {
  if (root == "/") return true;
  return path == root || (path.size() > root.size() && path.compare(0, root.size(), root) == 0 &&
                          path[root.size()] == '/');
}

}  // namespace

FileSecretSink::FileSecretSink(std::string secret_dir, FileOps* ops)
    : secret_dir_(std::move(secret_dir)), ops_(ops ? ops : &FileOps::Real()) {
  while (secret_dir_.size() > 1 && secret_dir_.back() == '/') secret_dir_.pop_back();
  if (secret_dir_.empty()) secret_dir_ = ".";
}

Result<ScopedFd> FileSecretSink::OpenParent(const std::string& relative, bool create,
                                            std::string* leaf) {
  const std::string display = secret_dir_ + "/" + relative;
  if (relative.empty()) return Error{ErrorKind::kInvalid, "empty secret file path"};
  if (relative.front() == '/') {
    return Error{ErrorKind::kInvalid,
                 "secret file " + relative + " is absolute: it must be relative to the secret dir"};
  }
  if (relative.back() == '/') {
    return Error{ErrorKind::kInvalid, "secret file " + relative + " names a directory"};
  }
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= relative.size()) {
    size_t slash = relative.find('/', start);
    if (slash == std::string::npos) slash = relative.size();
    std::string part = relative.substr(start, slash - start);
    if (part == "..") {
      return Error{ErrorKind::kInvalid, "secret file " + relative +
                                            " contains '..': it must stay inside the secret dir"};
    }
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    start = slash + 1;
  }
  if (parts.empty()) return Error{ErrorKind::kInvalid, "secret file " + relative + " has no name"};
  *leaf = parts.back();
  parts.pop_back();

  auto open_root = [&] {
    return ScopedFd(
        ops_, ops_->OpenAt(AT_FDCWD, secret_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  };
  ScopedFd dir = open_root();
  if (!dir.valid() && errno == ENOENT && create) {
    // mkdir -p the secret dir itself: it is the operator's configured location, not confined.
    for (size_t i = 1; i <= secret_dir_.size(); ++i) {
      if (i == secret_dir_.size() || secret_dir_[i] == '/') {
        const std::string prefix = secret_dir_.substr(0, i);
        if (ops_->MkdirAt(AT_FDCWD, prefix.c_str(), 0700) != 0 && errno != EEXIST) {
          return IoError("cannot create the secret dir", prefix, errno);
        }
      }
    }
    dir = open_root();
  }
  if (!dir.valid()) {
    if (errno == ENOENT) return Error{ErrorKind::kNotFound, secret_dir_ + " does not exist"};
    return IoError("cannot open the secret dir", secret_dir_, errno);
  }
  const std::string root = RealPathOfFd(dir.get());
  if (root.empty()) return IoError("cannot resolve the secret dir", secret_dir_, errno);

  std::string walked = secret_dir_;
  for (const auto& part : parts) {
    walked += "/" + part;
    int fd = ops_->OpenAt(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0 && errno == ENOENT) {
      if (!create) return Error{ErrorKind::kNotFound, walked + " does not exist"};
      if (ops_->MkdirAt(dir.get(), part.c_str(), 0700) != 0 && errno != EEXIST) {
        return IoError("cannot create directory", walked, errno);
      }
      // Made durable by Flush with the file written into it: both are on this file system.
      fd = ops_->OpenAt(dir.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    }
    if (fd < 0) return IoError("cannot open directory", walked, errno);
    ScopedFd next(ops_, fd);
    if (!Under(RealPathOfFd(next.get()), root)) {
      return Error{
          ErrorKind::kInvalid,
          "secret file " + display + " escapes the secret dir through a symlink at " + walked};
    }
    dir = std::move(next);
  }
  return dir;
}

Status FileSecretSink::Write(const SecretRef& ref, const DockerCredential& credential) {
  if (ref.kind != SecretRef::Kind::kFile) {
    return Error{ErrorKind::kInvalid, "the file sink cannot write " + ref.ToString()};
  }
  if (credential.hostname.empty() || credential.password.empty()) {
    return Error{ErrorKind::kInvalid,
                 "secret " + ref.ToString() + ": a registry hostname and a password are required"};
  }
  std::string leaf;
  auto dir = OpenParent(ref.file, /*create=*/true, &leaf);
  if (!dir.ok()) return dir.error();
  Status written = WriteFileAtomic(*ops_, dir.value().get(), leaf, DockerConfigJson(credential),
                                   0600, secret_dir_ + "/" + ref.file, Durability::kLater);
  if (written.ok()) MarkUnsynced(dir.value().get());
  return written;
}

void FileSecretSink::MarkUnsynced(int dirfd) {
  struct stat st;
  if (::fstat(dirfd, &st) != 0) st.st_dev = 0;  // cannot happen on an open fd; sync it anyway
  std::lock_guard<std::mutex> lock(unsynced_mu_);
  if (unsynced_.count(st.st_dev)) return;
  unsynced_.emplace(st.st_dev, ScopedFd(ops_, ::fcntl(dirfd, F_DUPFD_CLOEXEC, 0)));
}

Status FileSecretSink::Flush() {
  std::map<dev_t, ScopedFd> unsynced;
  {
    std::lock_guard<std::mutex> lock(unsynced_mu_);
    unsynced.swap(unsynced_);
  }
  for (const auto& [dev, fd] : unsynced) {
    // A failed dup leaves no fd: report it rather than claim durability.
    if (!fd.valid() || ops_->Syncfs(fd.get()) != 0) {
      Error error =
          IoError("cannot sync the file system of", secret_dir_, fd.valid() ? errno : EBADF);
      std::lock_guard<std::mutex> lock(unsynced_mu_);
      unsynced.merge(unsynced_);  // still unsynced: the next Flush tries again
      unsynced_.swap(unsynced);
      return error;
    }
  }
  return Status::Ok();
}

Result<SecretState> FileSecretSink::Inspect(const SecretRef& ref) {
  if (ref.kind != SecretRef::Kind::kFile) {
    return Error{ErrorKind::kInvalid, "the file sink cannot read " + ref.ToString()};
  }
  std::string leaf;
  auto dir = OpenParent(ref.file, /*create=*/false, &leaf);
  if (!dir.ok()) {
    if (dir.error().kind == ErrorKind::kNotFound) return SecretState{};
    return dir.error();
  }
  const std::string display = secret_dir_ + "/" + ref.file;
  // Something other than a regular file holds the place: crtoken must not replace it.
  struct stat st;
  if (::fstatat(dir.value().get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !S_ISREG(st.st_mode)) {
    SecretState state;
    state.exists = true;
    state.conflict = display + " is " + FileTypeName(st.st_mode) +
                     ", not a secret file: remove it, or point secret.file elsewhere";
    return state;
  }
  auto content = ReadFileAt(*ops_, dir.value().get(), leaf, display, kMaxSecretFileBytes,
                            Follow::kNoSymlink, &st);
  if (!content.ok()) {
    if (content.error().kind == ErrorKind::kNotFound) return SecretState{};
    return content.error();
  }
  const bool loose = (st.st_mode & 077) != 0 || st.st_uid != ::geteuid();
  {
    std::lock_guard<std::mutex> lock(warned_mu_);
    if (!loose) {
      warned_.erase(display);
    } else if (warned_.insert(display).second) {
      spdlog::warn(
          "secret file {} has mode {:04o} and owner uid {} (crtoken runs as uid {}): other users "
          "may read or replace it; crtoken writes its secrets 0600 as its own user, so chown "
          "and chmod 600 it",
          display, st.st_mode & 07777, st.st_uid, ::geteuid());
    }
  }
  return ParseDockerConfigJson(content.value());
}

Status FileSecretSink::Delete(const SecretRef& ref) {
  if (ref.kind != SecretRef::Kind::kFile) {
    return Error{ErrorKind::kInvalid, "the file sink cannot delete " + ref.ToString()};
  }
  std::string leaf;
  auto dir = OpenParent(ref.file, /*create=*/false, &leaf);
  if (!dir.ok()) {
    if (dir.error().kind == ErrorKind::kNotFound) return Status::Ok();
    return dir.error();
  }
  const std::string display = secret_dir_ + "/" + ref.file;
  if (ops_->UnlinkAt(dir.value().get(), leaf.c_str(), 0) != 0 && errno != ENOENT) {
    return IoError("cannot delete", display, errno);
  }
  // Also when already absent: an earlier unlink may not have reached the disk.
  MarkUnsynced(dir.value().get());
  return Status::Ok();
}

}  // namespace crtoken
