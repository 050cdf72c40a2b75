#include "reconciler/work_queue.h"

#include <algorithm>
#include <cmath>

namespace crtoken {

WorkQueue::WorkQueue(const Clock& clock, BackoffPolicy backoff)
    : clock_(clock),
      backoff_(backoff),
      rng_(backoff.seed != 0 ? backoff.seed : std::random_device{}()) {}

void WorkQueue::Add(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  Entry& e = entries_[key];
  e.forgotten = false;
  // An immediate Add supersedes a schedule: the key runs now, and the schedule is spent.
  e.due.reset();
  MakeReadyLocked(key, e);
}

void WorkQueue::AddAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    Add(key);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return;
  Entry& e = entries_[key];
  e.forgotten = false;
  ScheduleLocked(key, e, clock_.Monotonic() + delay);
}

void WorkQueue::MakeReadyLocked(const std::string& key, Entry& e) {
  if (e.running) {
    e.rerun = true;
    return;
  }
  if (e.queued) return;
  e.queued = true;
  ready_.push_back(key);
  cv_.notify_one();
}

void WorkQueue::ScheduleLocked(const std::string& key, Entry& e, TimePoint at) {
  // Already ready and waiting: it will run before any schedule could fire.
  if (e.queued) return;
  if (!e.due || at < *e.due) {
    e.due = at;
    // A blocked Get() may be waiting for a later time than this one.
    cv_.notify_all();
  }
}

std::optional<WorkQueue::TimePoint> WorkQueue::PromoteLocked() {
  const TimePoint now = clock_.Monotonic();
  std::optional<TimePoint> earliest;
  for (auto& [key, e] : entries_) {
    if (!e.due) continue;
    if (*e.due <= now) {
      e.due.reset();
      MakeReadyLocked(key, e);
    } else if (!earliest || *e.due < *earliest) {
      earliest = e.due;
    }
  }
  return earliest;
}

std::optional<std::string> WorkQueue::PopLocked() {
  if (ready_.empty()) return std::nullopt;
  std::string key = ready_.front();
  ready_.pop_front();
  Entry& e = entries_[key];
  e.queued = false;
  e.running = true;
  return key;
}

std::optional<std::string> WorkQueue::TryGet() {
  std::lock_guard<std::mutex> lock(mu_);
  if (shutting_down_) return std::nullopt;
  PromoteLocked();
  return PopLocked();
}

std::optional<std::string> WorkQueue::Get() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    std::optional<TimePoint> next = PromoteLocked();
    if (auto key = PopLocked()) return key;
    const uint64_t generation = wake_generation_;
    if (next) {
      // Wait in real time for the remaining clock time. With a fake clock the remainder may be
      // long, which is why tests call Wake() after moving it.
      auto remaining = *next - clock_.Monotonic();
      cv_.wait_for(lock, std::max(remaining, std::chrono::steady_clock::duration::zero()));
    } else {
      cv_.wait(lock, [&] {
        return shutting_down_ || !ready_.empty() || wake_generation_ != generation ||
               std::any_of(entries_.begin(), entries_.end(),
                           [](const auto& kv) { return kv.second.due.has_value(); });
      });
    }
  }
}

void WorkQueue::Done(const std::string& key, const WorkOutcome& outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  e.running = false;
  if (e.forgotten) {
    entries_.erase(it);
    return;
  }
  const TimePoint now = clock_.Monotonic();
  if (outcome.success) {
    e.failures = 0;
    if (outcome.requeue_after) ScheduleLocked(key, e, now + *outcome.requeue_after);
  } else {
    e.failures++;
    Duration delay = BackoffFor(e.failures);
    if (outcome.requeue_after && *outcome.requeue_after > delay) delay = *outcome.requeue_after;
    ScheduleLocked(key, e, now + delay);
  }
  if (e.rerun) {
    e.rerun = false;
    e.due.reset();
    MakeReadyLocked(key, e);
  }
  MaybeEraseLocked(key);
}

void WorkQueue::Forget(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.queued) {
    ready_.erase(std::remove(ready_.begin(), ready_.end(), key), ready_.end());
    e.queued = false;
  }
  e.due.reset();
  e.rerun = false;
  e.failures = 0;
  if (e.running) {
    e.forgotten = true;
  } else {
    entries_.erase(it);
  }
}

void WorkQueue::MaybeEraseLocked(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  const Entry& e = it->second;
  if (!e.queued && !e.running && !e.due && e.failures == 0) entries_.erase(it);
}

void WorkQueue::ShutDown() {
  std::lock_guard<std::mutex> lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

bool WorkQueue::shutting_down() const {
  std::lock_guard<std::mutex> lock(mu_);
  return shutting_down_;
}

void WorkQueue::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  wake_generation_++;
  cv_.notify_all();
}

size_t WorkQueue::ReadyCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return ready_.size();
}

size_t WorkQueue::RunningCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::count_if(entries_.begin(), entries_.end(),
                       [](const auto& kv) { return kv.second.running; });
}

int WorkQueue::Failures(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.failures;
}

std::optional<WorkQueue::TimePoint> WorkQueue::DueAt(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second.due;
}

WorkQueue::Duration WorkQueue::BackoffFor(int failures) {
  // base * 2^(failures-1), computed in double so that a long failure streak cannot overflow.
  const double exponent = std::min(failures - 1, 62);
  double ms = static_cast<double>(backoff_.base.count()) * std::pow(2.0, exponent);
  if (backoff_.jitter > 0) {
    std::uniform_real_distribution<double> u(0.0, backoff_.jitter);
    ms *= 1.0 + u(rng_);
  }
  ms = std::min(ms, static_cast<double>(backoff_.max.count()));
  return Duration(static_cast<Duration::rep>(ms));
}

WorkerPool::WorkerPool(WorkQueue& queue, int workers, Handler handler)
    : queue_(queue), handler_(std::move(handler)) {
  running_threads_ = std::max(1, workers);
  for (int i = 0; i < running_threads_; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Run() {
  while (auto key = queue_.Get()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_++;
    }
    WorkOutcome outcome = handler_(*key);
    queue_.Done(*key, outcome);
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_flight_--;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  running_threads_--;
  idle_cv_.notify_all();
}

bool WorkerPool::Stop(std::optional<std::chrono::milliseconds> deadline) {
  queue_.ShutDown();
  {
    std::unique_lock<std::mutex> lock(mu_);
    auto all_done = [&] { return running_threads_ == 0; };
    if (deadline) {
      if (!idle_cv_.wait_for(lock, *deadline, all_done)) return false;
    } else {
      idle_cv_.wait(lock, all_done);
    }
    if (stopped_) return true;
    stopped_ = true;
  }
  for (auto& t : threads_) t.join();
  return true;
}

int WorkerPool::InFlight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return in_flight_;
}

}  // namespace crtoken
