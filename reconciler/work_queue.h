// A work queue keyed by string (the daemon uses registry refs), in the manner of client-go's
// rate-limited delaying queue, driven by an injected Clock so that tests need no sleeps.
//
// Rules:
//  - Deduplicated: a key is handed to at most one worker at a time; repeated Adds of a waiting key
//    collapse into one; an Add while the key is running makes it run exactly once more afterwards.
//  - Add(key) makes the key ready now, even if it was waiting on a backoff or a schedule (a spec
//    change must not wait for a backoff).
//  - AddAfter(key, d) schedules the key; a key scheduled twice keeps the earlier time; a key that
//  is
//    already ready stays ready.
//  - Done(key, outcome): success resets the key's backoff and schedules outcome.requeue_after if
//    set; failure schedules the key after an exponential backoff with jitter (base * 2^(n-1),
//    capped at max, n = consecutive failures), or after requeue_after if that is later.
//  - ShutDown(): Get() returns nothing from then on; items already handed out may still be Done.
//
// Thread-safe: every method may be called from any thread. Get() blocks; with a fake clock, call
// Wake() after advancing it so that blocked Get() calls re-read the time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "reconciler/clock.h"

namespace crtoken {

struct BackoffPolicy {
  std::chrono::milliseconds base = std::chrono::seconds(1);
  std::chrono::milliseconds max = std::chrono::minutes(5);
  // Each delay is multiplied by a uniform factor in [1, 1 + jitter): keys that failed together do
  // not retry together. 0 gives exact delays (tests).
  double jitter = 0.2;
  uint64_t seed = 0;  // 0: seeded from std::random_device
};

struct WorkOutcome {
  bool success = true;
  // Success: run again after this (next resync, nearest expiry). Failure: at least this long.
  std::optional<std::chrono::milliseconds> requeue_after;
};

class WorkQueue {
 public:
  using Duration = std::chrono::milliseconds;
  using TimePoint = std::chrono::steady_clock::time_point;

  WorkQueue(const Clock& clock, BackoffPolicy backoff = {});
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void Add(const std::string& key);
  void AddAfter(const std::string& key, Duration delay);
  // Blocks until a key is ready (then marks it running) or the queue is shut down (nullopt).
  std::optional<std::string> Get();
  // Non-blocking: a ready key (marked running), or nullopt.
  std::optional<std::string> TryGet();
  void Done(const std::string& key, const WorkOutcome& outcome);
  // Drops a key that is no longer wanted: its schedule and backoff are forgotten. A running key
  // finishes, but is not re-run or rescheduled by its Done.
  void Forget(const std::string& key);
  void ShutDown();
  bool shutting_down() const;
  // Re-evaluates the time in blocked Get() calls (after a fake clock moved).
  void Wake();

  // Introspection (tests, logs).
  size_t ReadyCount() const;
  size_t RunningCount() const;
  int Failures(const std::string& key) const;
  // When the key is scheduled to become ready, if it is.
  std::optional<TimePoint> DueAt(const std::string& key) const;
  // The backoff for the n-th consecutive failure (n >= 1), jitter included.
  Duration BackoffFor(int failures);

 private:
  struct Entry {
    bool queued = false;   // in ready_
    bool running = false;  // handed to a worker
    bool rerun = false;    // became ready while running: run again after Done
    bool forgotten = false;
    std::optional<TimePoint> due;
    int failures = 0;
  };

  void MakeReadyLocked(const std::string& key, Entry& e);
  void ScheduleLocked(const std::string& key, Entry& e, TimePoint at);
  // Moves due keys to ready_; returns the earliest remaining due time.
  std::optional<TimePoint> PromoteLocked();
  std::optional<std::string> PopLocked();
  void MaybeEraseLocked(const std::string& key);

  const Clock& clock_;
  BackoffPolicy backoff_;
  std::mt19937_64 rng_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> entries_;
  std::deque<std::string> ready_;
  bool shutting_down_ = false;
  uint64_t wake_generation_ = 0;
};

// N workers draining a WorkQueue into a handler. The handler runs on the worker threads; it is
// never called twice at once for the same key.
class WorkerPool {
 public:
  using Handler = std::function<WorkOutcome(const std::string& key)>;

  WorkerPool(WorkQueue& queue, int workers, Handler handler);
  ~WorkerPool();  // Stop() without a deadline
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Shuts the queue down (no new work is taken) and waits for items in flight to finish. Returns
  // false if they did not finish within `deadline`; the threads are then left running (the caller
  // is about to exit the process).
  bool Stop(std::optional<std::chrono::milliseconds> deadline = std::nullopt);
  int InFlight() const;

 private:
  void Run();

  WorkQueue& queue_;
  Handler handler_;
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  int running_threads_ = 0;
  int in_flight_ = 0;
  bool stopped_ = false;
};

}  // namespace crtoken
