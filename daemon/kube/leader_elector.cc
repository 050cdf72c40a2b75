#include "daemon/kube/leader_elector.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <cstdio>

namespace crtoken {
namespace {

using Ms = std::chrono::milliseconds;
using TimePoint = std::chrono::steady_clock::time_point;

std::string Seconds(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs",
                std::chrono::duration_cast<std::chrono::duration<double>>(d).count());
  return buf;
}

bool SameRecord(const LeaseRecord& a, const LeaseRecord& b) {
  return a.holder_identity == b.holder_identity &&
         a.lease_duration_seconds == b.lease_duration_seconds && a.acquire_time == b.acquire_time &&
         a.renew_time == b.renew_time && a.lease_transitions == b.lease_transitions;
}

Error Unavailable(std::string message) {
  return Error{ErrorKind::kUnavailable, std::move(message)};
}

}  // namespace

std::string ValidateLeaderElection(const LeaderElectionConfig& c) {
  if (c.lease_duration <= Ms::zero()) return "--leader-elect-lease-duration must be positive";
  if (c.renew_deadline <= Ms::zero()) return "--leader-elect-renew-deadline must be positive";
  if (c.retry_period <= Ms::zero()) return "--leader-elect-retry-period must be positive";
  if (c.lease_duration % std::chrono::seconds(1) != Ms::zero()) {
    return "--leader-elect-lease-duration " + Seconds(c.lease_duration) +
           " must be a whole number of seconds (a Lease holds its duration in seconds)";
  }
  if (c.lease_duration <= c.renew_deadline) {
    return "--leader-elect-lease-duration (" + Seconds(c.lease_duration) +
           ") must be greater than --leader-elect-renew-deadline (" + Seconds(c.renew_deadline) +
           "): a leader must stop writing before another replica can take its Lease over";
  }
  if (static_cast<double>(c.renew_deadline.count()) <=
      kLeaderElectionJitter * static_cast<double>(c.retry_period.count())) {
    return "--leader-elect-renew-deadline (" + Seconds(c.renew_deadline) +
           ") must be greater than 1.2 x --leader-elect-retry-period (" + Seconds(c.retry_period) +
           "): the leader must get more than one try to renew";
  }
  return "";
}

std::string LeaderIdentity(const std::string& host) {
  std::random_device device;
  std::uniform_int_distribution<int> digit(0, 15);
  std::string suffix;
  for (int i = 0; i < 10; ++i) suffix += "0123456789abcdef"[digit(device)];
  return (host.empty() ? std::string("crtoken") : host) + "_" + suffix;
}

std::chrono::system_clock::time_point BootClock::Now() const {
  return std::chrono::system_clock::now();
}

std::chrono::steady_clock::time_point BootClock::Monotonic() const {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return TimePoint{} + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                           std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
}

LeaderElector::LeaderElector(LeaderElectionConfig config, LeaseLock& lock, const Clock& clock,
                             Callbacks callbacks)
    : config_(std::move(config)), lock_(lock), clock_(clock), callbacks_(std::move(callbacks)) {}

LeaderElector::~LeaderElector() { Stop(); }

std::string LeaderElector::MicroTime() const {
  const auto now = clock_.Now();
  const auto secs = std::chrono::floor<std::chrono::seconds>(now);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - secs).count();
  const time_t t = std::chrono::system_clock::to_time_t(secs);
  tm utc{};
  gmtime_r(&t, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<long>(micros));
  return buf;
}

bool LeaderElector::LeaseValidLocked(TimePoint now) const {
  const auto duration =
      observed_.lease_duration_seconds > 0
          ? std::chrono::seconds(observed_.lease_duration_seconds)
          : std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration);
  return observed_at_ + duration > now;
}

Status LeaderElector::CheckLeading() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!leading_) return Unavailable("not the leader (" + why_not_ + ")");
  const auto now = clock_.Monotonic();
  if (now >= renewed_at_ + config_.renew_deadline) {
    return Unavailable("not the leader any more: " + lock_.Describe() + " was last renewed " +
                       Seconds(now - renewed_at_) + " ago, past the renew deadline of " +
                       Seconds(config_.renew_deadline));
  }
  return Status::Ok();
}

bool LeaderElector::leading() const {
  std::lock_guard<std::mutex> lock(mu_);
  return leading_;
}

bool LeaderElector::LeaseReachable() const {
  std::lock_guard<std::mutex> lock(mu_);
  return contact_at_ && clock_.Monotonic() < *contact_at_ + config_.lease_duration;
}

LeaseRecord LeaderElector::observed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return observed_;
}

void LeaderElector::Acquired(const LeaseRecord& written, TimePoint sent,
                             const std::string& reason) {
  bool gained = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gained = !leading_;
    leading_ = true;
    renewed_at_ = sent;
    observed_ = written;
    observed_any_ = true;
    observed_at_ = clock_.Monotonic();
    contact_at_ = observed_at_;
    logged_holder_ = config_.identity;
    logged_unreachable_ = false;
  }
  if (!gained) return;
  spdlog::info("leadership gained: {} holds {} ({}; {} transitions)", config_.identity,
               lock_.Describe(), reason, written.lease_transitions);
  if (callbacks_.started_leading) callbacks_.started_leading(reason);
}

void LeaderElector::StopLeading(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    why_not_ = reason;
    if (!leading_) return;
    leading_ = false;
  }
  spdlog::warn("leadership lost: {} no longer leads through {}: {}", config_.identity,
               lock_.Describe(), reason);
  if (callbacks_.stopped_leading) callbacks_.stopped_leading(reason);
}

std::chrono::milliseconds LeaderElector::Step() {
  std::lock_guard<std::mutex> op(op_mu_);
  bool lead = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return config_.retry_period;
    lead = leading_;
    const auto now = clock_.Monotonic();
    if (lead && now >= renewed_at_ + config_.renew_deadline) lead = false;
  }
  if (leading() && !lead) {
    StopLeading("could not renew " + lock_.Describe() + " within the renew deadline of " +
                Seconds(config_.renew_deadline) +
                (last_error_.empty() ? std::string() : " (last error: " + last_error_ + ")"));
  }
  const bool ok = TryAcquireOrRenew();
  if (!ok && leading() && clock_.Monotonic() >= renewed_at_ + config_.renew_deadline) {
    StopLeading("could not renew " + lock_.Describe() + " within the renew deadline of " +
                Seconds(config_.renew_deadline) + " (last error: " + last_error_ + ")");
  }
  if (callbacks_.stepped) callbacks_.stepped();
  if (leading()) return config_.retry_period;
  const double factor = std::uniform_real_distribution<double>(1.0, kLeaderElectionJitter)(rng_);
  return std::chrono::duration_cast<Ms>(config_.retry_period * factor);
}

bool LeaderElector::TryAcquireOrRenew() {
  auto failed = [this](const Error& e) {
    last_error_ = e.message;
    bool first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = !logged_unreachable_;
      logged_unreachable_ = true;
    }
    if (first) spdlog::warn("leader election: {}: {}", lock_.Describe(), e.message);
    return false;
  };
  auto answered = [this] {
    std::lock_guard<std::mutex> lock(mu_);
    contact_at_ = clock_.Monotonic();
    logged_unreachable_ = false;
  };

  // The leader's fast path: renew the record it wrote last, in one request.
  if (leading()) {
    LeaseRecord next = observed();
    next.holder_identity = config_.identity;
    next.lease_duration_seconds = static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
    next.renew_time = MicroTime();
    const TimePoint sent = clock_.Monotonic();
    auto renewed = lock_.Update(next);
    if (renewed.ok()) {
      answered();
      std::lock_guard<std::mutex> lock(mu_);
      renewed_at_ = sent;
      observed_ = renewed.value();
      observed_at_ = clock_.Monotonic();
      last_error_.clear();
      return true;
    }
    if (renewed.error().kind != ErrorKind::kConflict &&
        renewed.error().kind != ErrorKind::kNotFound) {
      return failed(renewed.error());
    }
    answered();  // another writer changed it: read it and decide again
  }

  for (int round = 0; round < 3; ++round) {
    auto got = lock_.Get();
    if (!got.ok()) return failed(got.error());
    answered();
    const std::string now_text = MicroTime();
    const int duration_seconds = static_cast<int>(
        std::chrono::duration_cast<std::chrono::seconds>(config_.lease_duration).count());
    if (!got.value()) {
      if (!MayAcquire()) return false;
      LeaseRecord fresh{config_.identity, duration_seconds, now_text, now_text, 0, ""};
      const TimePoint sent = clock_.Monotonic();
      auto created = lock_.Create(fresh);
      if (created.ok()) {
        Acquired(created.value(), sent, "created " + lock_.Describe());
        last_error_.clear();
        return true;
      }
      if (created.error().kind == ErrorKind::kConflict) continue;  // created meanwhile
      return failed(created.error());
    }
    const LeaseRecord current = *got.value();
    bool valid = false;
    std::string expired_for;
    {
      std::lock_guard<std::mutex> lock(mu_);
      const auto now = clock_.Monotonic();
      // A change of the record (not of its resourceVersion alone: a label added by a person is
      // no renewal) restarts the observed-time rule.
      if (!observed_any_ || !SameRecord(current, observed_)) observed_at_ = now;
      observed_ = current;
      observed_any_ = true;
      valid = LeaseValidLocked(now);
      expired_for = Seconds(now - observed_at_);
    }
    const bool mine = current.holder_identity == config_.identity;
    if (!current.holder_identity.empty() && !mine && valid) {
      const std::string reason = lock_.Describe() + " is held by " + current.holder_identity;
      if (leading()) {
        StopLeading(reason);
      } else {
        std::lock_guard<std::mutex> lock(mu_);
        why_not_ = "standby: " + reason;
      }
      bool log = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        log = logged_holder_ != current.holder_identity;
        logged_holder_ = current.holder_identity;
      }
      if (log) spdlog::info("leader election: standby, {}", reason);
      return false;
    }
    if (!leading() && !MayAcquire()) return false;
    LeaseRecord next{config_.identity,
                     duration_seconds,
                     mine ? current.acquire_time : now_text,
                     now_text,
                     mine ? current.lease_transitions : current.lease_transitions + 1,
                     current.resource_version};
    const TimePoint sent = clock_.Monotonic();
    auto updated = lock_.Update(next);
    if (updated.ok()) {
      last_error_.clear();
      if (leading()) {
        std::lock_guard<std::mutex> lock(mu_);
        renewed_at_ = sent;
        observed_ = updated.value();
        observed_at_ = clock_.Monotonic();
        return true;
      }
      std::string reason;
      if (current.holder_identity.empty()) {
        reason = "it was free";
      } else if (mine) {
        reason = "it still named this identity";
      } else {
        reason =
            "the lease of " + current.holder_identity + " expired: unchanged for " + expired_for;
      }
      Acquired(updated.value(), sent, reason);
      return true;
    }
    if (updated.error().kind == ErrorKind::kConflict ||
        updated.error().kind == ErrorKind::kNotFound) {
      continue;  // another writer got in first: read again, decide again
    }
    return failed(updated.error());
  }
  last_error_ = "the Lease kept changing under concurrent writers";
  return false;
}

Status LeaderElector::Release() {
  std::lock_guard<std::mutex> op(op_mu_);
  bool was_leading = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (released_) return Status::Ok();
    released_ = true;  // the fence closes before the release is sent
    was_leading = leading_;
    leading_ = false;
    why_not_ = "released " + lock_.Describe();
  }
  if (was_leading) {
    spdlog::info("leadership released: {} gives up {}", config_.identity, lock_.Describe());
    if (callbacks_.stopped_leading) callbacks_.stopped_leading("released the Lease on shutdown");
  }
  LeaseRecord current = observed();
  for (int round = 0; round < 3; ++round) {
    if (current.holder_identity != config_.identity) return Status::Ok();
    const std::string now_text = MicroTime();
    LeaseRecord next{
        "", 1, now_text, now_text, current.lease_transitions, current.resource_version};
    auto updated = lock_.Update(next);
    if (updated.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      observed_ = updated.value();
      return Status::Ok();
    }
    if (updated.error().kind != ErrorKind::kConflict) return updated.error();
    auto got = lock_.Get();
    if (!got.ok()) return got.error();
    if (!got.value()) return Status::Ok();
    current = *got.value();
  }
  return Unavailable(lock_.Describe() + ": not released: it kept changing under other writers");
}

void LeaderElector::Start() {
  std::lock_guard<std::mutex> lock(loop_mu_);
  if (loop_.joinable()) return;
  stop_ = false;
  loop_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(loop_mu_);
    while (!stop_) {
      lock.unlock();
      const auto wait = Step();
      lock.lock();
      loop_cv_.wait_for(lock, wait, [this] { return stop_; });
    }
  });
}

void LeaderElector::Stop() {
  std::thread loop;
  {
    std::lock_guard<std::mutex> lock(loop_mu_);
    stop_ = true;
    loop = std::move(loop_);
  }
  loop_cv_.notify_all();
  if (loop.joinable()) loop.join();
}

}  // namespace crtoken
