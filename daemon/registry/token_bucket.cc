#include "daemon/registry/token_bucket.h"

#include <algorithm>
#include <thread>

namespace crtoken {

TokenBucket::TokenBucket(double qps, int burst, NowFn now, SleepFn sleep)
    : qps_(qps > 0 ? qps : 1e-9),
      burst_(std::max(burst, 1)),
      now_(now ? std::move(now) : [] { return std::chrono::steady_clock::now(); }),
      sleep_(sleep ? std::move(sleep)
                   : [](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); }),
      tokens_(burst_),
      last_(now_()) {}

std::chrono::nanoseconds TokenBucket::Reserve() {
  std::lock_guard<std::mutex> lock(mu_);
  const TimePoint now = now_();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min<double>(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1.0;
  if (tokens_ >= 0) return std::chrono::nanoseconds::zero();
  // The deficit is paid back at qps tokens per second.
  return std::chrono::nanoseconds(static_cast<int64_t>(-tokens_ / qps_ * 1e9 + 0.5));
}

void TokenBucket::Acquire(const std::function<void(std::chrono::nanoseconds)>& before_wait) {
  const auto wait = Reserve();
  if (wait <= std::chrono::nanoseconds::zero()) return;
  if (before_wait) before_wait(wait);
  sleep_(wait);
}

}  // namespace crtoken
