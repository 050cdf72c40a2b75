// crtoken run: the long-running operator. This file holds the process: flags, signals, the
// wiring and the lifecycle; the control loop itself is the Controller (daemon/controller.h).
//
//   specs --(SpecWatcher, SIGHUP)--> Controller::Reload --(changed registries)--> WorkQueue
//   WorkQueue --(N workers)--> Controller::Pass --> Reconciler::Reconcile --> requeue or backoff
//   HttpServer: /metrics, /healthz, /readyz (ready once every registry finished its first pass)
//   --leader-elect: Leadership (leadership.h) runs the election; the passes run on the leader only,
//   and every write is fenced; /readyz is "can take over" (the Lease answers)
//
// Signals are blocked in every thread and taken by the main thread with sigwaitinfo: SIGHUP
// reloads the specs; the first SIGTERM or SIGINT stops taking work and waits up to
// --shutdown-timeout for passes in flight (API calls and secret writes) to finish, then exits 0;
// a second one exits at once. A leader keeps renewing its Lease while that work finishes, then
// releases it, so that a standby takes over at its next try.
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "daemon/app/commands.h"
#include "daemon/app/controller.h"
#include "daemon/app/http_server.h"
#include "daemon/app/leadership.h"
#include "daemon/app/logging.h"
#include "daemon/app/runtime.h"
#include "daemon/specs/spec_tracker.h"
#include "daemon/specs/spec_watcher.h"
#include "reconciler/log_fields.h"
#include "reconciler/work_queue.h"

namespace crtoken {
namespace {

// The spec watcher as the controller's view of the spec files between loads.
class WatcherActivity : public SpecActivity {
 public:
  explicit WatcherActivity(const SpecWatcher& watcher) : watcher_(watcher) {}
  std::chrono::steady_clock::time_point LastActivity() const override {
    return watcher_.last_activity();
  }
  std::vector<std::string> FilesBeingWritten(std::chrono::milliseconds stale) const override {
    return watcher_.FilesBeingWritten(stale);
  }

 private:
  const SpecWatcher& watcher_;
};

SpecWatcherOptions::Mode WatchMode(const std::string& watch) {
  if (watch == "inotify") return SpecWatcherOptions::Mode::kInotify;
  if (watch == "poll") return SpecWatcherOptions::Mode::kPoll;
  return SpecWatcherOptions::Mode::kAuto;
}

// Follows the cluster for fan-out secrets: every `interval` it reads the Kubernetes sink's digest
// of the namespaces, crtoken's Secrets and the ServiceAccounts, and on a change (a namespace
// created, labelled, terminating; a copy deleted by hand; a ServiceAccount created) has every
// registry reconciled at once. A poll, not a watch: three lists per interval cost little, need no
// stream to keep alive or resume after a 410, and bound the latency at the interval. Nothing is
// read until the sink has met a fan-out secret; a failed read is logged once and retried.
class ClusterFollower {
 public:
  using Digest = std::function<Result<std::optional<std::string>>()>;
  ClusterFollower(Digest digest, std::chrono::milliseconds interval, std::function<void()> changed)
      : digest_(std::move(digest)), interval_(interval), changed_(std::move(changed)) {
    if (digest_ && interval_.count() > 0) thread_ = std::thread([this] { Loop(); });
  }
  ~ClusterFollower() { Stop(); }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Loop() {
    std::optional<std::string> last;
    bool failing = false;
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      auto now = digest_();
      if (!now.ok()) {
        if (!failing) {
          spdlog::warn("fan-out: cannot read namespaces, Secrets and ServiceAccounts: {}",
                       now.error().ToString());
        }
        failing = true;
      } else if (now.value()) {
        failing = false;
        if (last && *last != *now.value()) {
          spdlog::info("fan-out: namespaces, Secrets or ServiceAccounts changed: reconciling");
          changed_();
        }
        last = now.value();
      }
      lock.lock();
    }
  }

  Digest digest_;
  std::chrono::milliseconds interval_;
  std::function<void()> changed_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

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
  // One writer per secret directory, before anything is read; held until the process ends.
  auto lock = LockSecretDir(options);
  if (!lock.ok()) {
    spdlog::critical("crtoken run: {}", lock.error().message);
    return 1;
  }
  std::unique_ptr<Leadership> leadership;
  if (options.leader_elect) {
    auto made = MakeLeadership(options);
    if (!made.ok()) {
      spdlog::critical("crtoken run: {}", made.error().message);
      return 1;
    }
    leadership = std::move(made.value());
  }
  RuntimeHooks hooks;
  if (leadership) hooks.write_guard = leadership->guard();
  auto runtime = MakeRuntime(options, /*dry_run=*/false, hooks);
  if (!runtime.ok()) {
    spdlog::critical("crtoken run: {}", runtime.error().message);
    return 1;
  }
  Runtime& rt = *runtime.value();
  if (rt.migration) {
    for (const MigrationReport::Step& step : rt.migration->steps) {
      if (step.outcome == MigrationReport::Outcome::kFailed) {
        spdlog::error("{}", step.line);
      } else {
        spdlog::info("{}", step.line);
      }
    }
    if (!rt.migration->complete()) {
      // No pass on a half-migrated state: the supervisor's restart migrates again.
      spdlog::critical("crtoken run: {}", rt.migration->Summary());
      return 1;
    }
    spdlog::info("{}", rt.migration->Summary());
  }
  auto http = HttpServer::Start(options.metrics_addr, options.health_addr, rt.metrics->registry());
  if (!http.ok()) {
    spdlog::critical("crtoken run: {}", http.error().message);
    return 1;
  }

  ControllerOptions co;
  co.resync = options.resync;
  co.prune_settle = options.prune_settle;
  co.dry_run = options.dry_run;
  // A change is read once: the watcher's check lends the bytes it read to the reload it calls.
  SpecReadLoan watcher_reads;
  // Loaded only by the controller, which serialises Load.
  SpecTracker tracker(options.specs, watcher_reads.reader());
  const bool leader_elect = options.leader_elect;
  Controller controller(
      co,
      [&tracker, leader_elect] {
        SpecSnapshot snapshot = tracker.Load();
        if (leader_elect) RefuseFileSecrets(snapshot);
        return snapshot;
      },
      *rt.reconciler, *rt.metrics, *rt.clock);
  HttpServer* server = http.value().get();
  if (!leadership) controller.set_on_ready([server] { server->SetReady(true); });
  server->SetStatus([&controller] { return StatusJson(controller.Status()); });
  // On a return while the server still runs, the controller goes first: /status stops reading it.
  struct StatusSourceReset {
    std::unique_ptr<HttpServer>& server;
    ~StatusSourceReset() {
      if (server) server->SetStatus(nullptr);
    }
  } status_source_reset{http.value()};

  SpecWatcherOptions wo;
  wo.paths = options.specs;
  wo.debounce = options.debounce;
  wo.mode = WatchMode(options.watch);
  wo.poll_interval = options.poll_interval;
  wo.lend_to = &watcher_reads;
  // The watcher starts before the first load, so that no change can fall between the two.
  SpecWatcher watcher(wo, [&controller] { controller.Reload("files changed", true); });
  WatcherActivity activity(watcher);
  controller.set_activity(&activity);
  if (Status s = watcher.Start(); !s.ok()) {
    spdlog::critical("crtoken run: {}", s.error().message);
    return 1;
  }
  spdlog::info(
      WithFields("crtoken run started", {{"version", CRTOKEN_VERSION},
                                         {"metrics", "http://" + options.metrics_addr + "/metrics"},
                                         {"health", "http://" + options.health_addr + "/healthz"},
                                         {"watch", watcher.polling() ? "poll" : "inotify"},
                                         {"resync", FormatSeconds(options.resync)},
                                         {"concurrency", std::to_string(options.concurrency)},
                                         {"prune_settle", FormatSeconds(options.prune_settle)},
                                         {"dry_run", options.dry_run ? "true" : "false"}}));
  controller.Reload("start", true);
  if (leadership) {
    leadership->Start(
        *rt.metrics, [&controller] { controller.Resync(); },
        [server](bool ready) { server->SetReady(ready); });
  } else {
    rt.metrics->SetLeader(true);
  }

  ClusterFollower follower(rt.cluster_digest, options.cluster_poll,
                           [&controller] { controller.Resync(); });

  Leadership* gate = leadership.get();
  WorkerPool pool(controller.queue(), options.concurrency,
                  [&controller, gate](const std::string& key) {
                    return gate ? gate->Pass(controller, key) : controller.Pass(key);
                  });

  while (true) {
    siginfo_t info{};
    const int sig = sigwaitinfo(&signals, &info);
    if (sig < 0) continue;  // EINTR
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: reloading the specs");
      controller.Reload("SIGHUP", false);
      controller.Resync();
      continue;
    }
    break;
  }

  spdlog::info(WithFields("shutting down: finishing work in flight",
                          {{"in_flight", std::to_string(pool.InFlight())},
                           {"deadline", FormatSeconds(options.shutdown_timeout)}}));
  watcher.Stop();
  follower.Stop();
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
                  FormatSeconds(options.shutdown_timeout));
    spdlog::default_logger()->flush();
    std::_Exit(1);
  }
  if (leadership) leadership->Shutdown();
  http.value().reset();
  spdlog::info("stopped cleanly");
  return 0;
}

}  // namespace crtoken
