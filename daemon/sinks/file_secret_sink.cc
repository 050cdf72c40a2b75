#include "daemon/sinks/file_secret_sink.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
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

// How deep List descends below the secret dir before it gives up (a bind mount of a directory
// inside itself would otherwise never end).
constexpr int kMaxListDepth = 64;

// "DISPLAY is a symlink, not a secret file": what holds a secret's place that crtoken must not
// replace or remove.
std::string NotASecretFile(const std::string& display, mode_t mode) {
  return display + " is " + FileTypeName(mode) + ", not a secret file";
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
  std::lock_guard<std::mutex> serialize(StripeFor(ref));
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
    state.conflict =
        NotASecretFile(display, st.st_mode) + ": remove it, or point secret.file elsewhere";
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
  std::lock_guard<std::mutex> serialize(StripeFor(ref));
  std::string leaf;
  auto dir = OpenParent(ref.file, /*create=*/false, &leaf);
  if (!dir.ok()) {
    if (dir.error().kind == ErrorKind::kNotFound) return Status::Ok();
    return dir.error();
  }
  const std::string display = secret_dir_ + "/" + ref.file;
  // What Inspect reports as a conflict is not crtoken's to remove (unlinking a symlink would not
  // even remove the secret it points to).
  struct stat st;
  if (::fstatat(dir.value().get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kConflict,
                 NotASecretFile(display, st.st_mode) + ": refusing to delete it"};
  }
  if (ops_->UnlinkAt(dir.value().get(), leaf.c_str(), 0) != 0 && errno != ENOENT) {
    return IoError("cannot delete", display, errno);
  }
  // Also when already absent: an earlier unlink may not have reached the disk.
  MarkUnsynced(dir.value().get());
  return Status::Ok();
}

Status FileSecretSink::Stamp(const SecretRef& ref, const SecretRecord& record) {
  if (ref.kind != SecretRef::Kind::kFile) {
    return Error{ErrorKind::kInvalid, "the file sink cannot stamp " + ref.ToString()};
  }
  std::lock_guard<std::mutex> serialize(StripeFor(ref));
  const std::string display = secret_dir_ + "/" + ref.file;
  std::string leaf;
  auto dir = OpenParent(ref.file, /*create=*/false, &leaf);
  if (!dir.ok()) {
    if (dir.error().kind == ErrorKind::kNotFound) {
      return Error{ErrorKind::kNotFound, "no secret file " + display + " to stamp"};
    }
    return dir.error();
  }
  struct stat st;
  if (::fstatat(dir.value().get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
      !S_ISREG(st.st_mode)) {
    return Error{ErrorKind::kConflict,
                 NotASecretFile(display, st.st_mode) + ": refusing to stamp it"};
  }
  auto content = ReadFileAt(*ops_, dir.value().get(), leaf, display, kMaxSecretFileBytes);
  if (!content.ok()) {
    if (content.error().kind == ErrorKind::kNotFound) {
      return Error{ErrorKind::kNotFound, "no secret file " + display + " to stamp"};
    }
    return content.error();
  }
  std::optional<DockerCredential> credential = ReadDockerCredential(content.value());
  if (!credential) {
    return Error{ErrorKind::kInvalid, display +
                                          " holds no credential to keep (a dockerconfigjson with "
                                          "one \"auths\" entry and its password): not stamped"};
  }
  credential->record = record;
  Status written = WriteFileAtomic(*ops_, dir.value().get(), leaf, DockerConfigJson(*credential),
                                   0600, display, Durability::kLater);
  if (written.ok()) MarkUnsynced(dir.value().get());
  return written;
}

Result<std::vector<ListedSecret>> FileSecretSink::List(const std::string& owner) {
  const int root =
      ops_->OpenAt(AT_FDCWD, secret_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  if (root < 0) {
    if (errno == ENOENT) return std::vector<ListedSecret>{};  // nothing written yet
    return IoError("cannot list the secret dir", secret_dir_, errno);
  }
  std::vector<ListedSecret> out;
  Status listed = ListDirectory(root, "", 0, owner, &out);
  if (!listed.ok()) return listed.error();
  std::sort(out.begin(), out.end(),
            [](const ListedSecret& a, const ListedSecret& b) { return a.ref < b.ref; });
  return out;
}

Status FileSecretSink::ListDirectory(int fd, const std::string& prefix, int depth,
                                     const std::string& owner, std::vector<ListedSecret>* out) {
  const std::string here = prefix.empty() ? secret_dir_ : secret_dir_ + "/" + prefix;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(fd), &::closedir);
  if (!dir) {
    Error error = IoError("cannot read directory", here, errno);
    ops_->Close(fd);
    return error;
  }
  const int dirfd = ::dirfd(dir.get());
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir.get());
    if (entry == nullptr) {
      if (errno != 0) return IoError("cannot read directory", here, errno);
      return Status::Ok();
    }
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string relative = prefix + name;
    const std::string display = secret_dir_ + "/" + relative;
    struct stat st;
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // removed since it was listed
      return IoError("cannot stat", display, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      if (depth + 1 > kMaxListDepth) {
        return Error{ErrorKind::kIo, "cannot list " + display + ": more than " +
                                         std::to_string(kMaxListDepth) +
                                         " directory levels below the secret dir"};
      }
      const int sub =
          ops_->OpenAt(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
      if (sub < 0) {
        if (errno == ENOENT) continue;
        return IoError("cannot open directory", display, errno);
      }
      Status listed = ListDirectory(sub, relative + "/", depth + 1, owner, out);
      if (!listed.ok()) return listed;
      continue;
    }
    // Symlinks, FIFOs, sockets and devices hold no secret of crtoken's; neither does a file larger
    // than any secret file crtoken writes.
    if (!S_ISREG(st.st_mode) || static_cast<uint64_t>(st.st_size) > kMaxSecretFileBytes) continue;
    auto content = ReadFileAt(*ops_, dirfd, name, display, kMaxSecretFileBytes);
    if (!content.ok()) {
      if (content.error().kind == ErrorKind::kNotFound) continue;
      return content.error();
    }
    SecretRecord record = ParseDockerConfigJson(content.value()).record;
    if (record.empty() || record.owner != owner) continue;
    SecretRef ref;
    ref.kind = SecretRef::Kind::kFile;
    ref.file = relative;
    out->push_back(ListedSecret{std::move(ref), std::move(record)});
  }
}

std::mutex& FileSecretSink::StripeFor(const SecretRef& ref) {
  return stripes_[std::hash<std::string>{}(ref.file) % stripes_.size()];
}

}  // namespace crtoken
