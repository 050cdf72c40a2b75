#include "daemon/specs/spec_watcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>

#include "daemon/specs/spec_files.h"

namespace crtoken {
namespace fs = std::filesystem;
namespace {

using Ms = std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM |
                                IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF;

struct Walk {
  std::vector<fs::path> dirs;   // every directory of the spec trees
  std::vector<fs::path> files;  // every file the loader would read
  // (parent directory, name) pairs whose change matters: spec paths, symlinks along them, and
  // targets of symlinked files.
  std::vector<std::pair<fs::path, std::string>> parents;
  // What else the loader reports, so that a change in it is a change: each spec path that exists
  // and its kind, and every entry the loader cannot read (a dangling symlink, a directory that
  // cannot be listed, a spec name that is not a regular file).
  std::vector<std::string> states;
};

// Adds (parent, name) for every symlink met while resolving `path`: the symlinks along it, and
// those along each link's target in turn (vol/tokens.yaml -> ..data/tokens.yaml, ..data -> ..t2).
void AddSymlinkChain(fs::path path, Walk& out) {
  for (int hop = 0; hop < 8; ++hop) {
    fs::path prefix = path.root_path();
    for (const auto& part : path.relative_path()) {
      const fs::path parent = prefix;
      prefix /= part;
      struct stat lst {};
      if (::lstat(prefix.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) {
        out.parents.emplace_back(parent, part.string());
      }
    }
    struct stat lst {};
    if (::lstat(path.c_str(), &lst) != 0 || !S_ISLNK(lst.st_mode)) return;
    std::error_code ec;
    fs::path target = fs::read_symlink(path, ec);
    if (ec) return;
    path = (target.is_absolute() ? target : path.parent_path() / target).lexically_normal();
  }
}

// The loader's walk (WalkSpecTree) plus what watching needs: the parents of the spec paths and of
// the symlinks along them, and the kinds of the spec paths.
Walk WalkSpecs(const std::vector<std::string>& paths) {
  Walk out;
  std::vector<std::string> roots;
  for (const std::string& raw : paths) {
    std::error_code ec;
    fs::path p = fs::absolute(raw, ec).lexically_normal();
    if (ec) continue;
    if (!p.has_filename() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
    // The parent of every symlink along the path: git-sync swaps a directory symlink there.
    AddSymlinkChain(p, out);
    fs::path prefix = p.root_path();
    for (const auto& part : p.relative_path()) {
      const fs::path parent = prefix;
      prefix /= part;
      struct stat lst {};
      if (::lstat(prefix.c_str(), &lst) != 0) {
        // Not there (yet): watch the nearest existing ancestor for it to appear.
        out.parents.emplace_back(parent, part.string());
        break;
      }
    }
    if (p.has_parent_path()) out.parents.emplace_back(p.parent_path(), p.filename().string());
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) continue;  // missing: nothing to read, nothing to report
    if (S_ISDIR(st.st_mode)) {
      out.states.push_back("directory " + p.string());  // an empty one differs from none
    } else if (!S_ISREG(st.st_mode)) {
      out.states.push_back("irregular " + p.string());
      continue;
    }
    roots.push_back(p.string());
  }
  SpecTree tree = WalkSpecTree(roots);
  for (const std::string& dir : tree.dirs) out.dirs.emplace_back(dir);
  for (const std::string& file : tree.files) {
    out.files.emplace_back(file);
    struct stat lst {};
    if (::lstat(file.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode)) AddSymlinkChain(file, out);
  }
  // Every entry the loader cannot read (a dangling symlink, a directory that cannot be listed, a
  // spec name that is not a regular file).
  for (const FileSpecs& problem : tree.problems) {
    if (!problem.errors.empty()) out.states.push_back(problem.errors.front().ToString());
  }
  return out;
}

constexpr uint64_t kFnvOffset = 1469598103934665603ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;

void Mix(uint64_t& h, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<unsigned char>(data[i]);
    h *= kFnvPrime;
  }
}

}  // namespace

uint64_t SpecFingerprint(const std::vector<std::string>& paths, const SpecFileReader& read_file,
                         std::map<std::string, SpecFileText>* reads) {
  Walk walk = WalkSpecs(paths);
  if (walk.files.empty() && walk.states.empty()) return 0;
  uint64_t h = kFnvOffset;
  for (const std::string& state : walk.states) Mix(h, state.data(), state.size() + 1);
  for (const fs::path& f : walk.files) {
    const std::string name = f.string();
    Mix(h, name.data(), name.size() + 1);
    // Read as the loader reads it, within its limits.
    SpecFileText read = read_file(name);
    if (read.problem) {
      const std::string why = read.problem->errors.empty()
                                  ? std::string("unreadable")
                                  : read.problem->errors.front().ToString();
      Mix(h, "\x01", 1);
      Mix(h, why.data(), why.size() + 1);
    } else {
      Mix(h, read.text.data(), read.text.size());
      Mix(h, "\0", 1);
    }
    if (reads != nullptr) (*reads)[name] = std::move(read);
  }
  return h == 0 ? 1 : h;
}

SpecWatcher::SpecWatcher(SpecWatcherOptions options, Callback on_change)
    : options_(std::move(options)), on_change_(std::move(on_change)) {}

SpecWatcher::~SpecWatcher() { Stop(); }

std::chrono::steady_clock::time_point SpecWatcher::last_activity() const {
  return SteadyClock::time_point(SteadyClock::duration(last_activity_.load()));
}

std::vector<std::string> SpecWatcher::FilesBeingWritten(std::chrono::milliseconds stale) const {
  const auto now = SteadyClock::now();
  std::vector<std::string> out;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [path, at] : writing_) {
    if (now - at < stale) out.push_back(path);
  }
  return out;
}

void SpecWatcher::Track(int wd, uint32_t mask, const std::string& name) {
  const auto now = SteadyClock::now();
  last_activity_ = now.time_since_epoch().count();
  std::lock_guard<std::mutex> lock(mu_);
  if (mask & IN_Q_OVERFLOW) {
    writing_.clear();  // events were lost: what is open is unknown; the next writes say
    return;
  }
  auto it = watches_.find(wd);
  if (name.empty() || it == watches_.end()) return;
  const std::string path = it->second.path + "/" + name;
  if (mask & (IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)) {
    writing_.erase(path);
  } else if ((mask & IN_MODIFY) || ((mask & IN_CREATE) && !(mask & IN_ISDIR))) {
    struct stat lst {};
    if ((mask & IN_MODIFY) || (::lstat(path.c_str(), &lst) == 0 && S_ISREG(lst.st_mode))) {
      writing_[path] = now;
    }
  }
}

size_t SpecWatcher::watch_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watches_.size();
}

Status SpecWatcher::Start() {
  if (thread_.joinable()) return Status::Ok();
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    return Error{ErrorKind::kInternal, std::string("eventfd: ") + std::strerror(errno)};
  }
  fingerprint_ = Fingerprint(nullptr);
  bool use_inotify = options_.mode != SpecWatcherOptions::Mode::kPoll;
  if (use_inotify) {
    inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (inotify_fd_ < 0 || !RebuildWatches()) {
      const std::string why =
          inotify_fd_ < 0 ? std::strerror(errno) : "the inotify watch limit is reached";
      if (options_.mode == SpecWatcherOptions::Mode::kInotify) {
        return Error{ErrorKind::kInternal, "inotify unavailable: " + why};
      }
      spdlog::warn("spec watcher: inotify unavailable ({}); polling every {} ms", why,
                   options_.poll_interval.count());
      if (inotify_fd_ >= 0) ::close(inotify_fd_);
      inotify_fd_ = -1;
      use_inotify = false;
    }
  }
  polling_ = !use_inotify;
  thread_ = std::thread([this] {
    if (polling_) {
      RunPolling();
    } else {
      RunInotify();
    }
  });
  return Status::Ok();
}

void SpecWatcher::Stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  inotify_fd_ = wake_fd_ = -1;
}

bool SpecWatcher::RebuildWatches() {
  Walk walk = WalkSpecs(options_.paths);
  std::map<int, WatchInfo> next;
  bool ok = true;
  auto add = [&](const fs::path& dir) -> WatchInfo* {
    int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kWatchMask);
    if (wd < 0) {
      if (errno == ENOSPC || errno == ENOMEM) ok = false;
      return nullptr;  // gone meanwhile, or not readable: the next rebuild tries again
    }
    WatchInfo& info = next[wd];
    if (info.path.empty()) info.path = dir.string();
    return &info;
  };
  for (const fs::path& d : walk.dirs) {
    if (WatchInfo* info = add(d)) info->tree = true;
  }
  for (const auto& [dir, name] : walk.parents) {
    if (WatchInfo* info = add(dir)) info->ancestors.insert(name);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [wd, info] : watches_) {
    if (next.count(wd) == 0) ::inotify_rm_watch(inotify_fd_, wd);
  }
  watches_ = std::move(next);
  return ok;
}

std::chrono::milliseconds SpecWatcher::DelayFor(int wd, uint32_t mask, const std::string& name) {
  const Ms settle = std::min(options_.settle, options_.debounce);
  if (mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF)) return options_.debounce;
  bool relevant = false;
  std::string dir;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = watches_.find(wd);
    // Unknown: a watch the last rebuild removed (its IN_IGNORED arrives afterwards).
    if (it == watches_.end()) return Ms::zero();
    // A watched directory went away: rebuild soon.
    if (mask & IN_IGNORED) return settle;
    const WatchInfo& info = it->second;
    dir = info.path;
    if (info.tree) {
      const bool hidden = name.empty() || name[0] == '.';
      relevant = (IsSpecFileName(name) && !hidden) || name == "..data" ||
                 ((mask & IN_ISDIR) != 0 && !hidden);
    }
    if (info.ancestors.count(name) != 0) relevant = true;
  }
  if (!relevant) return Ms::zero();
  if (mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) return settle;
  if (mask & IN_CREATE) {
    // A new directory or symlink is complete when it appears; a new regular file is still being
    // written until it is closed.
    struct stat lst {};
    const fs::path p = fs::path(dir) / name;
    if ((mask & IN_ISDIR) || (::lstat(p.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode))) {
      return settle;
    }
  }
  return options_.debounce;
}

uint64_t SpecWatcher::Fingerprint(std::map<std::string, SpecFileText>* reads) const {
  return SpecFingerprint(options_.paths, options_.read,
                         options_.lend_to != nullptr ? reads : nullptr);
}

void SpecWatcher::Notify(std::map<std::string, SpecFileText> reads) {
  changes_++;
  if (options_.lend_to == nullptr) {
    on_change_();
    return;
  }
  options_.lend_to->Lend(std::move(reads));
  struct EndLoan {
    SpecReadLoan* loan;
    ~EndLoan() { loan->EndLoan(); }
  } end{options_.lend_to};
  on_change_();
}

void SpecWatcher::CheckAndNotify() {
  std::map<std::string, SpecFileText> reads;
  const uint64_t fp = Fingerprint(&reads);
  if (fp == fingerprint_) return;
  fingerprint_ = fp;
  Notify(std::move(reads));
  last_notify_ = SteadyClock::now();
}

void SpecWatcher::RunInotify() {
  alignas(inotify_event) char buf[64 * 1024];
  // A burst is armed from its first relevant event until its check.
  bool armed = false;
  bool storm = false;
  SteadyClock::time_point last_event{};
  SteadyClock::time_point deadline{};
  SteadyClock::time_point burst_start{};
  // A directory written to without pause must not postpone the check forever.
  const Ms max_burst = std::max<Ms>(Ms(1000), options_.debounce * 10);
  while (!stop_) {
    int timeout = -1;
    if (armed) {
      auto left = std::chrono::duration_cast<Ms>(deadline - SteadyClock::now()).count();
      timeout = static_cast<int>(std::max<int64_t>(0, left + 1));
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout);
    if (stop_) break;
    if (n < 0 && errno != EINTR) {
      spdlog::error("spec watcher: poll: {}; switching to polling", std::strerror(errno));
      polling_ = true;
      RunPolling();
      return;
    }
    if (n > 0 && (fds[0].revents & POLLIN)) {
      while (true) {
        ssize_t len = ::read(inotify_fd_, buf, sizeof buf);
        if (len <= 0) break;
        for (char* p = buf; p < buf + len;) {
          auto* ev = reinterpret_cast<inotify_event*>(p);
          p += sizeof(inotify_event) + ev->len;
          const std::string name = ev->len > 0 ? std::string(ev->name) : std::string();
          Ms delay = DelayFor(ev->wd, ev->mask, name);
          if (delay == Ms::zero()) continue;
          Track(ev->wd, ev->mask, name);
          const auto now = SteadyClock::now();
          // A change soon after the last callback starts a storm: until the tree has been quiet
          // for a full debounce, every event waits the full debounce (and a long burst is cut at
          // max_burst), so that saves in quick succession are read about once a second.
          if (now - last_notify_ < options_.debounce) storm = true;
          if (storm) delay = options_.debounce;
          last_event = now;
          if (!armed) burst_start = now;
          armed = true;
          // The last event decides: a completing event shortens the wait, an incomplete one
          // extends it; a long burst is cut at max_burst.
          deadline = std::min(now + delay, burst_start + max_burst);
          spdlog::trace("spec watcher: event {:#x} {} -> check in {} ms", ev->mask, name,
                        delay.count());
        }
      }
    }
    if (armed && SteadyClock::now() >= deadline) {
      armed = false;
      if (SteadyClock::now() - last_event >= options_.debounce) storm = false;
      if (!RebuildWatches() && options_.mode == SpecWatcherOptions::Mode::kAuto) {
        spdlog::warn("spec watcher: the inotify watch limit is reached; polling every {} ms",
                     options_.poll_interval.count());
        polling_ = true;
        CheckAndNotify();
        RunPolling();
        return;
      }
      CheckAndNotify();
    }
  }
}

void SpecWatcher::RunPolling() {
  // A change counts once two polls in a row agree on it, so that a file caught half-written is
  // never reported (its tokens would look undeclared).
  uint64_t previous = fingerprint_;
  while (!stop_) {
    pollfd fd = {wake_fd_, POLLIN, 0};
    ::poll(&fd, 1, static_cast<int>(options_.poll_interval.count()));
    if (stop_) break;
    std::map<std::string, SpecFileText> reads;
    const uint64_t fp = Fingerprint(&reads);
    if (fp != previous) last_activity_ = SteadyClock::now().time_since_epoch().count();
    if (fp != fingerprint_ && fp == previous) {
      fingerprint_ = fp;
      Notify(std::move(reads));
    }
    previous = fp;
  }
}

}  // namespace crtoken
