// The files of a spec tree: which files the --specs paths hold (the one walker: the loader, the
// tracker and the watcher's fingerprint all use it), reading one file's bytes within the limits,
// and handing bytes just read on to the next reader (SpecReadLoan). Nothing here parses: see
// spec_validator.h.
//
// Thread-safety: pure apart from reading the file system; may be called from several threads.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "daemon/specs/spec_result.h"

namespace crtoken {

// Larger files are refused unread (a spec file is a few hundred bytes per token).
inline constexpr std::size_t kMaxSpecFileBytes = 8 << 20;

// True for the names a directory walk takes as spec files: `*.yaml` and `*.yml`.
bool IsSpecFileName(const std::string& name);

// The bytes of one spec file, or why they cannot be had.
struct SpecFileText {
  std::string text;
  // Set when the file could not be read: the FileSpecs to report instead (an error at FILE; marked
  // `unreadable` when missing, irregular or failing to read, not when too large).
  std::optional<FileSpecs> problem;
};

// Reads one file (any extension), at most kMaxSpecFileBytes.
SpecFileText ReadSpecFile(const std::string& path);

// Reads one spec file's bytes: ReadSpecFile, or what stands in for it (a test's counting reader,
// a SpecReadLoan).
using SpecFileReader = std::function<SpecFileText(const std::string& path)>;

// Bytes just read, lent to the next reader of the same file, so that one read serves two users.
// In `crtoken run` the spec watcher reads every spec file to see whether anything changed, and
// when it did, the tracker that its callback reloads parses those same bytes instead of reading
// each file a second time (SpecWatcherOptions::lend_to, SpecTracker's reader).
//
// A loan lasts from Lend to EndLoan (the watcher: while its callback runs). During it, the first
// Read of a lent path returns the lent bytes (or the lent read failure) and ends the loan of that
// path; a second Read of it, a Read of a path not lent, and every Read outside a loan read the
// file through `read`. So a reader never gets bytes older than the loan, and nothing lent
// outlives it. Paths are compared as absolute, lexically normal paths (the watcher and the
// tracker may name the same file differently: "specs/a.yaml", "/srv/specs/./a.yaml").
// Thread-safe.
class SpecReadLoan {
 public:
  explicit SpecReadLoan(SpecFileReader read = ReadSpecFile) : read_(std::move(read)) {}
  SpecReadLoan(const SpecReadLoan&) = delete;
  SpecReadLoan& operator=(const SpecReadLoan&) = delete;

  // The lent bytes of `path`, once, during a loan; else what `read` returns.
  SpecFileText Read(const std::string& path);
  // A SpecFileReader that calls Read; valid while this object lives.
  SpecFileReader reader() {
    return [this](const std::string& path) { return Read(path); };
  }
  // Starts a loan of `reads` (path -> what reading it returned just now), replacing any before.
  void Lend(std::map<std::string, SpecFileText> reads);
  // Ends the loan: what was not read is dropped.
  void EndLoan();

 private:
  SpecFileReader read_;
  std::mutex mu_;
  std::map<std::string, SpecFileText> lent_;  // by normalised path
};

// The spec files under `paths`, in reading order: a file path is taken as given (any extension);
// a directory is walked recursively in byte order of names, taking `*.yaml` and `*.yml` files,
// following symlinks (each file and directory is visited once), and skipping entries whose names
// start with "." (hidden files, editor lock files, `.git`, and the kubelet's `..data` and
// `..<timestamp>` directories: the ConfigMap's visible symlinks into them are read instead).
// Every path of the tree that cannot be read becomes a FileSpecs marked `unreadable` with an error
// in `problems`: a path given that does not exist (or is a broken symlink, a symlink loop, a
// FIFO), a directory that cannot be listed, an entry of any name that is a broken symlink or
// cannot be examined, and a `*.yaml`/`*.yml` entry that is not a regular file. `empty_roots`
// (when given) receives each directory of `paths` that holds no spec file at all.
//
// This is the one walk of the spec tree: the loader, the tracker and the watcher (which also
// watches `dirs`) all see the tree through WalkSpecTree, which returns all of the above at once.
struct SpecTree {
  std::vector<std::string> files;        // the spec files, in reading order
  std::vector<FileSpecs> problems;       // every path that cannot be read, marked `unreadable`
  std::vector<std::string> empty_roots;  // the directories of `paths` that hold no spec file
  std::vector<std::string> dirs;         // every directory listed (or tried), each once
};
SpecTree WalkSpecTree(const std::vector<std::string>& paths);

std::vector<std::string> FindSpecFiles(const std::vector<std::string>& paths,
                                       std::vector<FileSpecs>* problems,
                                       std::vector<std::string>* empty_roots = nullptr);

// Why nothing may be pruned, one line per reason: "PATH: why" for every `unreadable` entry of
// `files`, and "ROOT: holds no spec file (*.yaml, *.yml)" for each empty root. An empty root
// directory looks exactly like a volume that failed to mount or a checkout that is not there
// yet; a root that should declare nothing holds a spec file that declares nothing.
std::vector<std::string> UnreadPaths(const std::vector<FileSpecs>& files,
                                     const std::vector<std::string>& empty_roots);

}  // namespace crtoken
