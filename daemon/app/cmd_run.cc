// crtoken run: the long-running operator.
//
//   specs --(SpecWatcher, SIGHUP)--> SpecTracker --(changed registries)--> WorkQueue
//   WorkQueue --(N workers)--> Reconciler::Reconcile(desired, {registry}) --> requeue:
//       converged: at min(--resync, nearest expiry, the pass's requeue_after)
//       failed:    per-registry exponential backoff (1s .. 5m, jittered)
//   HttpServer: /metrics, /healthz, /readyz (ready once every registry finished its first pass)
//
// Signals are blocked in every thread and taken by the main thread with sigwaitinfo: SIGHUP
// reloads the specs; the first SIGTERM or SIGINT stops taking work and waits up to
// --shutdown-timeout for passes in flight (API calls and secret writes) to finish, then exits 0;
// a second one exits at once.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "daemon/app/commands.h"
#include "daemon/app/http_server.h"
#include "daemon/app/logging.h"
#include "daemon/app/runtime.h"
#include "daemon/specs/spec_tracker.h"
#include "daemon/specs/spec_watcher.h"
#include "reconciler/log_fields.h"
#include "reconciler/reconciler.h"
#include "reconciler/work_queue.h"

namespace crtoken {
namespace {

using Ms = std::chrono::milliseconds;

constexpr Ms kVerifyAfterWrites(2000);

std::string Seconds(Ms d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

class Daemon {
 public:
  Daemon(const Options& options, Reconciler& reconciler, Metrics& metrics, const Clock& clock)
      : options_(options),
        reconciler_(reconciler),
        metrics_(metrics),
        clock_(clock),
        tracker_(options.specs),
        queue_(clock) {}

  void set_http(HttpServer* http) { http_ = http; }

  // Reads the specs and enqueues the registries whose declarations changed (all, the first time).
  void Reload(const char* why) {
    std::lock_guard<std::mutex> lock(reload_mu_);
    SpecSnapshot snap = tracker_.Load();
    metrics_.SetSpecErrors(static_cast<int>(snap.errors.size()));
    for (const SpecError& e : snap.errors) spdlog::error("spec error: {}", e.ToString());
    for (const std::string& f : snap.stale_files) {
      spdlog::warn(
          WithFields("spec file has errors; its last good version stays in force", {{"file", f}}));
    }
    auto desired = std::make_shared<const DesiredState>(std::move(snap.desired));
    std::shared_ptr<const DesiredState> before;
    {
      std::lock_guard<std::mutex> l(mu_);
      before = desired_;
      desired_ = desired;
    }
    std::set<std::string> changed;
    if (before) {
      changed = ChangedRegistryRefs(*before, *desired);
    } else {
      for (const TokenSpec& s : desired->specs) changed.insert(RegistryRefOf(s));
    }
    // Undeclared registries that still hold tokens crtoken owns (they must be pruned).
    auto refs = reconciler_.RegistryRefs(*desired);
    if (refs.ok()) {
      std::lock_guard<std::mutex> l(mu_);
      for (const std::string& r : refs.value()) {
        if (!before || known_.count(r) == 0) changed.insert(r);
      }
      known_.insert(refs.value().begin(), refs.value().end());
    } else {
      spdlog::error("cannot read the ownership records: {}", refs.error().ToString());
    }
    spdlog::info(
        WithFields("specs loaded", {{"reason", why},
                                    {"files", std::to_string(snap.files)},
                                    {"tokens", std::to_string(desired->specs.size())},
                                    {"errors", std::to_string(snap.errors.size())},
                                    {"registries_affected", std::to_string(changed.size())}}));
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!first_load_done_) {
        first_load_done_ = true;
        awaiting_first_pass_ = changed;
        if (awaiting_first_pass_.empty()) MarkReadyLocked();
      }
    }
    for (const std::string& key : changed) queue_.Add(key);
  }

  // Re-checks every known registry now (SIGHUP).
  void EnqueueAll() {
    std::lock_guard<std::mutex> l(mu_);
    for (const std::string& key : known_) queue_.Add(key);
  }

  WorkOutcome Pass(const std::string& key) {
    std::shared_ptr<const DesiredState> desired;
    {
      std::lock_guard<std::mutex> l(mu_);
      desired = desired_;
    }
    const auto start = clock_.Monotonic();
    PassResult result = reconciler_.Reconcile(*desired, {key});
    const Ms took = std::chrono::duration_cast<Ms>(clock_.Monotonic() - start);

    WorkOutcome outcome;
    // In --dry-run a pending plan is the expected state, not a failure to back off from.
    outcome.success = result.converged || (options_.dry_run && result.errors.empty());
    Ms next = options_.resync;
    if (result.requeue_after) next = std::min(next, *result.requeue_after);
    if (result.next_expiry) {
      // Come back just after the nearest expiry: the service deletes the token then.
      auto until = std::chrono::duration_cast<Ms>(*result.next_expiry - clock_.Now()) + Ms(1000);
      next = std::min(next, std::max(until, Ms(1000)));
    }
    // A pass that wrote is verified by a quick no-change pass: level-based confirmation that the
    // registry holds what was written, and gauges (crtoken_tokens) that show the state after the
    // writes rather than the plan before them.
    if (result.converged && result.write_requests > 0 && !options_.dry_run) {
      next = std::min(next, kVerifyAfterWrites);
    }
    outcome.requeue_after = next;

    // A registry that is neither declared nor holds owned tokens any more is dropped.
    bool still_wanted = true;
    auto refs = reconciler_.RegistryRefs(*desired);
    if (refs.ok()) {
      still_wanted = std::find(refs.value().begin(), refs.value().end(), key) != refs.value().end();
    }
    if (!still_wanted && result.converged) {
      std::lock_guard<std::mutex> l(mu_);
      known_.erase(key);
      outcome.requeue_after.reset();
    }

    const std::string errors = std::to_string(result.errors.size());
    if (result.converged) {
      spdlog::debug(WithFields(
          "registry reconciled",
          {{"registry", key},
           {"actions", std::to_string(result.plan.actions.size())},
           {"duration", Seconds(took)},
           {"next", still_wanted ? Seconds(*outcome.requeue_after) : std::string("never")}}));
    } else {
      spdlog::warn(WithFields("registry not converged; retrying with backoff",
                              {{"registry", key},
                               {"errors", errors},
                               {"failures", std::to_string(queue_.Failures(key) + 1)}}));
      for (const std::string& e : result.errors) {
        spdlog::warn(WithFields(e, {{"registry", key}}));
      }
    }
    {
      std::lock_guard<std::mutex> l(mu_);
      if (awaiting_first_pass_.erase(key) > 0 && awaiting_first_pass_.empty()) MarkReadyLocked();
    }
    return outcome;
  }

  WorkQueue& queue() { return queue_; }

 private:
  void MarkReadyLocked() {
    if (ready_) return;
    ready_ = true;
    if (http_) http_->SetReady(true);
    spdlog::info("ready: the first full reconcile pass finished");
  }

  const Options& options_;
  Reconciler& reconciler_;
  Metrics& metrics_;
  const Clock& clock_;
  HttpServer* http_ = nullptr;
  SpecTracker tracker_;
  WorkQueue queue_;

  std::mutex reload_mu_;  // serialises Reload (watcher thread, main thread on SIGHUP)
  std::mutex mu_;         // guards the members below
  std::shared_ptr<const DesiredState> desired_;
  std::set<std::string> known_;
  bool first_load_done_ = false;
  std::set<std::string> awaiting_first_pass_;
  bool ready_ = false;
};

SpecWatcherOptions::Mode WatchMode(const std::string& watch) {
  if (watch == "inotify") return SpecWatcherOptions::Mode::kInotify;
  if (watch == "poll") return SpecWatcherOptions::Mode::kPoll;
  return SpecWatcherOptions::Mode::kAuto;
}

}  // namespace

int RunCommand(const Options& options) {
  // Block the signals we take synchronously before any thread exists, so that every thread
  // inherits the mask and only sigwaitinfo below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A shell starts background jobs with SIGINT ignored, and an ignored signal is discarded even
  // while blocked: restore the defaults so that sigwaitinfo sees every one of them.
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::signal(sig, SIG_DFL);
  ::signal(SIGPIPE, SIG_IGN);
  // glibc gives each thread that allocates its own arena (up to 8 per core), and freed memory
  // stays in the arena it came from; with the HTTP client's thread pool that made the peak RSS
  // of a 10,000-token first pass 2.7 times larger (bench/daemon: 219 MB with the default, 128 MB
  // with two arenas, 82 MB with one, at the same speed: the daemon waits on I/O, not on malloc).
  // An explicit $MALLOC_ARENA_MAX still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 1);

  if (Status s = SetupLogging(options.log_format, options.log_level); !s.ok()) {
    std::fprintf(stderr, "crtoken run: %s\n", s.error().message.c_str());
    return 1;
  }
  auto runtime = MakeRuntime(options);
  if (!runtime.ok()) {
    spdlog::critical("crtoken run: {}", runtime.error().message);
    return 1;
  }
  Runtime& rt = *runtime.value();
  auto http = HttpServer::Start(options.metrics_addr, options.health_addr, rt.metrics->registry());
  if (!http.ok()) {
    spdlog::critical("crtoken run: {}", http.error().message);
    return 1;
  }

  Daemon daemon(options, *rt.reconciler, *rt.metrics, *rt.clock);
  daemon.set_http(http.value().get());

  SpecWatcherOptions wo;
  wo.paths = options.specs;
  wo.debounce = options.debounce;
  wo.mode = WatchMode(options.watch);
  wo.poll_interval = options.poll_interval;
  // The watcher starts before the first load, so that no change can fall between the two.
  SpecWatcher watcher(wo, [&daemon] { daemon.Reload("files changed"); });
  if (Status s = watcher.Start(); !s.ok()) {
    spdlog::critical("crtoken run: {}", s.error().message);
    return 1;
  }
  spdlog::info(
      WithFields("crtoken run started", {{"version", CRTOKEN_VERSION},
                                         {"metrics", "http://" + options.metrics_addr + "/metrics"},
                                         {"health", "http://" + options.health_addr + "/healthz"},
                                         {"watch", watcher.polling() ? "poll" : "inotify"},
                                         {"resync", Seconds(options.resync)},
                                         {"concurrency", std::to_string(options.concurrency)},
                                         {"dry_run", options.dry_run ? "true" : "false"}}));
  daemon.Reload("start");

  WorkerPool pool(daemon.queue(), options.concurrency,
                  [&daemon](const std::string& key) { return daemon.Pass(key); });

  while (true) {
    siginfo_t info{};
    const int sig = sigwaitinfo(&signals, &info);
    if (sig < 0) continue;  // EINTR
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading the specs");
      daemon.Reload("SIGHUP");
      daemon.EnqueueAll();
      continue;
    }
    break;
  }

  spdlog::info(WithFields("shutting down: finishing work in flight",
                          {{"in_flight", std::to_string(pool.InFlight())},
                           {"deadline", Seconds(options.shutdown_timeout)}}));
  watcher.Stop();
  std::atomic<int> stop_result{-1};  // -1 running, 0 missed the deadline, 1 done
  std::thread stopper([&] { stop_result = pool.Stop(options.shutdown_timeout) ? 1 : 0; });
  // A second SIGTERM or SIGINT exits at once; SIGHUP is ignored from now on. Halfway to the
  // deadline, retries and rate-limit waits are cut short (an attempt in flight still finishes), so
  // a pass stuck retrying an unreachable API ends in time; the next start repairs what it left.
  const auto cut_retries_at = std::chrono::steady_clock::now() + options.shutdown_timeout / 2;
  bool retries_cut = false;
  while (stop_result.load() < 0) {
    if (!retries_cut && std::chrono::steady_clock::now() >= cut_retries_at) {
      spdlog::warn("work in flight is still retrying; cutting API retries short");
      rt.api->Shutdown();
      retries_cut = true;
    }
    timespec tick{0, 50 * 1000 * 1000};
    siginfo_t info{};
    const int sig = sigtimedwait(&signals, &info, &tick);
    if (sig == SIGTERM || sig == SIGINT) {
      spdlog::warn("second signal: exiting now, work in flight is abandoned");
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }
  }
  stopper.join();
  if (stop_result.load() == 0) {
    spdlog::error("work in flight did not finish within {}; exiting",
                  Seconds(options.shutdown_timeout));
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }
  http.value().reset();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace crtoken
