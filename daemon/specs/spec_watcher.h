// Watches the --specs paths and calls back when what they hold may have changed.
//
// Mechanism: inotify on every directory of the spec trees (recursive, new subdirectories picked
// up), on the parent of each spec path and on the parent of every symlink along each path, so that
// the ways files really change are all seen:
//   - editors that write a temp file and rename it over the original, or rename the original away
//     and write a new file (vim);
//   - kubelet ConfigMap volumes, where `..data` is a symlink swapped atomically to a new
//     `..<timestamp>` directory and every file is a symlink through `..data`;
//   - git-sync checkouts, where a directory symlink along the path is swapped;
//   - files and whole directories deleted and recreated.
// After every burst of events the watch set is rebuilt from scratch, so a directory that was
// replaced is watched again under its new inode.
//
// Debounce: after an event that leaves a file incomplete (a write in progress, a file renamed away
// or deleted) the watcher waits `debounce` of quiet; after an event that completes a change (a
// close after writing, a rename into place, a symlink swap) it waits only a short settle time, so
// an atomic edit is seen within milliseconds while a multi-step one is seen once, at its end.
// Storms coalesce: a change within `debounce` after a callback starts a storm, in which every
// event, completing or not, waits `debounce` of quiet, until the tree has been quiet that long; a
// burst is cut at max(1s, 10 x debounce). A file saved 100 times a second is read about once a
// second, not once per save; an edit after a quiet moment is still seen within milliseconds.
//
// For callers that must wait until the tree is stable (the daemon prunes only then), the watcher
// tells when it last saw the tree change (last_activity) and which spec files were written to and
// not closed since (FilesBeingWritten; inotify only).
//
// Every burst ends with a content fingerprint (paths and contents of every *.yaml / *.yml reached,
// skipping hidden entries, `..data` included, as the loader does; the kind of each spec path, so
// that an empty directory differs from a missing one; every entry the loader cannot read); the
// callback runs only when it differs from the previous one, so noise in watched parent
// directories costs a hash, never a reload.
//
// Where inotify is unavailable (or when forced, e.g. for tests) the watcher polls the fingerprint
// every `poll_interval`.
//
// One read per change: the fingerprint reads every file through `read`; with `lend_to`, the bytes
// of the check that found a change are lent to the reads its callback makes (SpecReadLoan, in
// spec_files.h), so that the tracker the callback reloads parses them without reading the files
// again. Nothing is lent outside the callback: a check that finds no change, and in polling mode
// a change not yet confirmed by a second poll, lend nothing.
//
// Thread-safety: Start and Stop from one thread. The callback runs on the watcher's own thread,
// never twice at once. last_activity, FilesBeingWritten and the counters may be read from any
// thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "daemon/specs/spec_files.h"
#include "reconciler/error.h"

namespace crtoken {

struct SpecWatcherOptions {
  std::vector<std::string> paths;
  std::chrono::milliseconds debounce = std::chrono::milliseconds(100);
  // After a completing event (see above): min(settle, debounce).
  std::chrono::milliseconds settle = std::chrono::milliseconds(10);
  enum class Mode { kAuto, kInotify, kPoll };
  Mode mode = Mode::kAuto;  // kAuto: inotify, else polling
  std::chrono::milliseconds poll_interval = std::chrono::seconds(1);
  // Reads each spec file for the fingerprint.
  SpecFileReader read = ReadSpecFile;
  // When set, lent the bytes of the check that called back, while the callback runs. Not owned;
  // must outlive the watcher.
  SpecReadLoan* lend_to = nullptr;
};

// The fingerprint of everything the spec loader would read under `paths`, and of what it would
// report as unreadable (0 when no path exists). Each file is read through `read`; with `reads`,
// what each read returned is kept there by path.
uint64_t SpecFingerprint(const std::vector<std::string>& paths,
                         const SpecFileReader& read = ReadSpecFile,
                         std::map<std::string, SpecFileText>* reads = nullptr);

class SpecWatcher {
 public:
  using Callback = std::function<void()>;

  SpecWatcher(SpecWatcherOptions options, Callback on_change);
  ~SpecWatcher();  // Stop()
  SpecWatcher(const SpecWatcher&) = delete;
  SpecWatcher& operator=(const SpecWatcher&) = delete;

  // Takes the baseline fingerprint and starts the thread. An error only when mode is kInotify and
  // inotify cannot be used.
  Status Start();
  void Stop();

  bool polling() const { return polling_; }
  // When the watcher last saw the tree change: an event that matters (inotify), or a poll that
  // found a new fingerprint. The clock's epoch before any.
  std::chrono::steady_clock::time_point last_activity() const;
  // Spec files (and spec paths' ancestors) written to and not closed, renamed or deleted since,
  // inotify only. A file with no event for `stale` no longer counts: a writer that keeps a file
  // open without writing must not hold the caller back forever.
  std::vector<std::string> FilesBeingWritten(std::chrono::milliseconds stale) const;
  // How many times the callback ran; how many inotify watches are held (tests, logs).
  uint64_t changes() const { return changes_.load(); }
  size_t watch_count() const;

 private:
  struct WatchInfo {
    std::string path;
    bool tree = false;                // a directory of a spec tree: every yaml or dir name counts
    std::set<std::string> ancestors;  // names that matter in this parent directory
  };

  void RunInotify();
  void RunPolling();
  // Rebuilds the watch set; returns false if inotify refused a watch for lack of resources.
  bool RebuildWatches();
  // How long to wait after this event before checking; 0 = the event does not matter.
  std::chrono::milliseconds DelayFor(int wd, uint32_t mask, const std::string& name);
  // Keeps writing_ and last_activity_ up to date for an event that matters.
  void Track(int wd, uint32_t mask, const std::string& name);
  void CheckAndNotify();
  // Runs the callback, with `reads` lent to it when options_.lend_to is set.
  void Notify(std::map<std::string, SpecFileText> reads);
  // The fingerprint now; the reads kept in `reads` when they may be lent.
  uint64_t Fingerprint(std::map<std::string, SpecFileText>* reads) const;

  SpecWatcherOptions options_;
  Callback on_change_;
  std::thread thread_;
  int inotify_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Stop() wakes the thread
  std::atomic<bool> stop_{false};
  std::atomic<bool> polling_{false};
  std::atomic<uint64_t> changes_{0};
  uint64_t fingerprint_ = 0;
  std::chrono::steady_clock::time_point last_notify_{};  // the watcher thread's own
  std::atomic<std::chrono::steady_clock::rep> last_activity_{0};
  mutable std::mutex mu_;  // guards watches_ and writing_
  std::map<int, WatchInfo> watches_;
  std::map<std::string, std::chrono::steady_clock::time_point> writing_;  // path -> last write
};

}  // namespace crtoken
