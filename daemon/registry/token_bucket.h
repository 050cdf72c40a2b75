// A client-side rate limit (token bucket): `burst` requests may go at once, then `qps` per second.
// Shared by every request of one HttpRegistryApi, so concurrent reconciles of different
// registries together stay under --api-qps / --api-burst.
//
// Thread-safe. Time comes from an injectable monotonic clock and the wait from an injectable
// sleeper, so tests drive it with a fake clock and never sleep.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

namespace crtoken {

class TokenBucket {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  using NowFn = std::function<TimePoint()>;
  using SleepFn = std::function<void(std::chrono::nanoseconds)>;

  // qps > 0, burst >= 1 (smaller values are raised to these minimums). The bucket starts full.
  TokenBucket(double qps, int burst, NowFn now = nullptr, SleepFn sleep = nullptr);

  // Takes one token and returns how long the caller must wait before sending (zero when a token
  // was available). Reservations queue up: the n-th caller in a burst waits n/qps, fairly.
  std::chrono::nanoseconds Reserve();

  // Reserve() and then sleep for the returned time; `before_wait`, when set, is told the wait first
  // (only when there is one).
  void Acquire(const std::function<void(std::chrono::nanoseconds)>& before_wait = nullptr);

  double qps() const { return qps_; }
  int burst() const { return burst_; }

 private:
  const double qps_;
  const int burst_;
  NowFn now_;
  SleepFn sleep_;
  std::mutex mu_;
  double tokens_;  // may go negative: reservations not yet due
  TimePoint last_;
};

}  // namespace crtoken
