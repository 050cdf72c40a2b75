// FileSecretSink: each secret is a dockerconfigjson file under --secret-dir (format in
// daemon/sinks/docker_config.h, with the secret's record in its "crtoken" member), written with
// mode 0600 atomically (temp file in the same directory, rename). Parent directories are created
// with mode 0700. Durability comes from Flush:
// one syncfs(2) per file system written since the last Flush, instead of two fsyncs per file (a
// 1,000-secret batch on ext4: one sync instead of 2,000).
//
// Confinement: a ref's path is relative to the secret dir and must stay inside it. Absolute paths,
// `..` components and empty paths are refused; every parent directory is opened one component at a
// time and its real path must lie under the secret dir's real path (a symlinked directory that
// points inside is fine, one that points outside is refused); a symlink as the final component is
// never written through, read or followed. Inspect reports a final component that is not a
// regular file (a directory, a symlink, a FIFO...) as SecretState::conflict, without opening it, so
// that no token is created for a place crtoken must not take (Write refuses directories and
// symlinks itself).
//
// Only regular files: Inspect opens without blocking (a FIFO at the path cannot hang a pass) and
// reads nothing that fstat does not show to be a regular file of at most kMaxSecretFileBytes; Write
// replaces only a regular file (a FIFO, socket, device or directory there is refused, never
// replaced). Each refusal is a kIo error naming the path and what is there. A write always makes a
// fresh 0600 file owned by this process (temp file and rename), so a secret file left readable by
// others, or planted by another user, is replaced rather than written into; Inspect logs a warning
// (once per path) for a secret that is readable by group or others or owned by another user.
//
// Delete and Stamp refuse what Inspect reports as a conflict (kConflict naming the path): a symlink
// there is never unlinked, a directory never touched. Stamp rewrites the file (as Write does) in
// crtoken's format with the credential it holds (hostname, username and password unchanged) and
// the new record; members a hand edit added are not kept. A file without a credential (no
// password) is not stamped (kInvalid).
//
// List scans the whole secret dir, recursively: regular files only (a symlink, to a file or to a
// directory, is never followed; FIFOs, sockets and devices are never opened), files over
// kMaxSecretFileBytes and files that are not a dockerconfigjson with a complete record are skipped
// (they record nothing). A directory or file that cannot be read makes the whole List an error
// naming it: a partial list is never returned. A missing secret dir lists nothing.
//
// Errors: kInvalid for a path that is not allowed (or a kubernetes ref); kIo naming the path and
// the system's reason (EROFS, ENOSPC, EACCES, ...). Thread-safe (Write, Stamp and Delete of one
// secret file take turns); never throws.
#pragma once

#include <sys/types.h>

#include <array>
#include <map>
#include <mutex>
#include <set>
#include <string>

#include "daemon/common/file_ops.h"
#include "reconciler/secret_sink.h"

namespace crtoken {

class FileSecretSink : public SecretSink {
 public:
  // A dockerconfigjson with one entry is a few hundred bytes.
  static constexpr size_t kMaxSecretFileBytes = size_t{1} << 20;

  // `secret_dir` need not exist yet: it is created (0700) on the first write. `ops` defaults to the
  // real file system.
  explicit FileSecretSink(std::string secret_dir, FileOps* ops = nullptr);

  Status Write(const SecretRef& ref, const DockerCredential& credential) override;
  Result<SecretState> Inspect(const SecretRef& ref) override;
  Status Delete(const SecretRef& ref) override;
  Result<std::vector<ListedSecret>> List(const std::string& owner) override;
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override;
  Status Flush() override;

 private:
  // Opens the directory that holds `relative`'s final component, checking confinement; creates
  // missing directories when `create`. kNotFound when a directory is missing and !create.
  Result<ScopedFd> OpenParent(const std::string& relative, bool create, std::string* leaf);

  // Remembers that `dirfd`'s file system has writes the next Flush must sync.
  void MarkUnsynced(int dirfd);

  // Adds the secrets of `owner` in the directory `fd` (taken over and closed) to `out`; `prefix`
  // is its path relative to the secret dir ("" or ending in '/').
  Status ListDirectory(int fd, const std::string& prefix, int depth, const std::string& owner,
                       std::vector<ListedSecret>* out);

  // The lock that Write, Stamp and Delete of `ref` hold while they work on its file.
  std::mutex& StripeFor(const SecretRef& ref);

  std::string secret_dir_;
  FileOps* ops_;
  std::mutex unsynced_mu_;
  std::map<dev_t, ScopedFd> unsynced_;  // a directory on each file system written since Flush
  std::mutex warned_mu_;
  std::set<std::string> warned_;  // secret files already warned about (loose mode or owner)
  std::array<std::mutex, 64> stripes_;
};

}  // namespace crtoken
