// Leader election on a coordination.k8s.io/v1 Lease, with the semantics of client-go's
// leaderelection package, so that crtoken's replicas and any Kubernetes tooling read the Lease the
// same way:
//
// - The Lease's record: holderIdentity, leaseDurationSeconds (the holder's lease duration),
//   acquireTime (when the holder took it), renewTime (its last renewal), leaseTransitions (bumped
//   each time the holder changes). Every write is an update guarded by the resourceVersion just
//   read (or a create when there is no Lease); a conflict (409: another writer got in first)
//   means: read again and decide again, at once.
// - A candidate takes the Lease only when it is free (no holder: never held, or released) or
//   expired by the observed-time rule: the record has not changed for leaseDurationSeconds since
//   this candidate first saw it, by its own monotonic clock. Clocks of different machines are
//   never compared (renewTime is written for people and tools, not read for decisions).
// - The leader renews every retry period. It stops leading when it could not renew for the renew
//   deadline, or when it reads another holder; it releases the Lease on shutdown by clearing
//   holderIdentity (leaseDurationSeconds 1), so that a candidate takes it at its next try
//   instead of after an expiry.
//
// Fencing: CheckLeading() is the proof a writer asks for before each write. It holds only while
// this identity holds the Lease by its last successful write, and that write was SENT less than
// the renew deadline ago by the clock's monotonic time (CLOCK_BOOTTIME in the daemon, so a
// suspended machine counts the time it slept). Any other replica that takes the Lease over must
// have seen a record that stayed unchanged for the lease duration since it was written, and the
// write was sent before it landed: the fence closes lease_duration - renew_deadline (5 s by
// default) before anyone else can lead. A leader paused past its renew deadline (SIGSTOP, a frozen
// VM) therefore fails the check the instant it resumes, before its elector thread even runs.
//
// Thread-safety: Step and Release are serialised with each other (the loop thread of Start calls
// Step); CheckLeading, leading, LeaseReachable and observed may be called from any thread at any
// time.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "daemon/kube/lease_lock.h"
#include "reconciler/clock.h"
#include "reconciler/error.h"

namespace crtoken {

struct LeaderElectionConfig {
  std::string identity;  // LeaderIdentity(host name)
  std::chrono::milliseconds lease_duration = std::chrono::seconds(15);
  std::chrono::milliseconds renew_deadline = std::chrono::seconds(10);
  std::chrono::milliseconds retry_period = std::chrono::seconds(2);
};

// A candidate waits retry_period times a factor in [1, kLeaderElectionJitter) between tries, so
// that candidates that started together do not collide forever; client-go's validation of the
// three durations uses the same factor.
inline constexpr double kLeaderElectionJitter = 1.2;

// "" when the durations are usable, else what is wrong, in kube-controller-manager's terms
// (client-go's rules): every duration positive, the lease duration a whole number of seconds
// (the Lease stores seconds), lease duration > renew deadline > 1.2 * retry period.
std::string ValidateLeaderElection(const LeaderElectionConfig& config);

// `host` (the pod's name in a cluster) + "_" + 10 random hex digits: unique per process, so a
// restarted pod never mistakes the Lease its previous process held for its own.
std::string LeaderIdentity(const std::string& host);

// A Clock whose monotonic time is CLOCK_BOOTTIME: like steady_clock, but it also counts the time
// the machine was suspended, so a lease deadline passes during a suspend as it does for others.
class BootClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override;
  std::chrono::steady_clock::time_point Monotonic() const override;
};

class LeaderElector {
 public:
  struct Callbacks {
    // On the thread of the Step (or Release) that decided it; `reason` says why, in words.
    std::function<void(const std::string& reason)> started_leading;
    std::function<void(const std::string& reason)> stopped_leading;
    // After every Step (readiness: see LeaseReachable).
    std::function<void()> stepped;
  };

  // `lock` and `clock` must outlive the elector. The config must pass ValidateLeaderElection.
  LeaderElector(LeaderElectionConfig config, LeaseLock& lock, const Clock& clock,
                Callbacks callbacks = {});
  ~LeaderElector();  // Stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // While `may_acquire` returns false the elector takes no Lease it does not hold (it keeps
  // reading it); the daemon holds it off while passes begun under an earlier leadership are still
  // running. Set before Start.
  void set_may_acquire(std::function<bool()> may_acquire) { may_acquire_ = std::move(may_acquire); }

  // One round: ends the leadership whose renew deadline has passed, then acquires or renews
  // (client-go's tryAcquireOrRenew). Returns how long to wait before the next round: the retry
  // period while leading, the retry period with jitter otherwise. After Release, does nothing.
  std::chrono::milliseconds Step();

  // The fence: ok only while this identity leads and its last renewal was sent less than the
  // renew deadline ago; else kUnavailable saying why (standby and who holds the Lease, renew
  // deadline passed and when it last renewed, released).
  Status CheckLeading() const;
  // Whether the last round left this identity leading (CheckLeading is the proof).
  bool leading() const;
  // True when the Lease answered (a read or a write) within the last lease duration: this replica
  // can take over when the leader goes. A standby's readiness.
  bool LeaseReachable() const;
  // The record as last read or written.
  LeaseRecord observed() const;

  // Closes the fence at once, then clears holderIdentity when this identity holds the Lease (a
  // 409 is read again and retried). Idempotent; Step does nothing afterwards.
  Status Release();

  // Runs Step on a thread of its own until Stop. Stop ends the thread (a request in flight
  // finishes first) without releasing.
  void Start();
  void Stop();

  const std::string& identity() const { return config_.identity; }
  std::string Describe() const { return lock_.Describe(); }

 private:
  bool TryAcquireOrRenew();
  void Acquired(const LeaseRecord& written, std::chrono::steady_clock::time_point sent,
                const std::string& reason);
  void StopLeading(const std::string& reason);
  bool LeaseValidLocked(std::chrono::steady_clock::time_point now) const;
  bool MayAcquire() const { return !may_acquire_ || may_acquire_(); }
  std::string MicroTime() const;

  const LeaderElectionConfig config_;
  LeaseLock& lock_;
  const Clock& clock_;
  const Callbacks callbacks_;
  std::function<bool()> may_acquire_;

  std::mutex op_mu_;       // serialises Step and Release (the requests)
  mutable std::mutex mu_;  // guards the state below
  bool leading_ = false;
  bool released_ = false;
  std::chrono::steady_clock::time_point renewed_at_{};  // when the last successful write was sent
  LeaseRecord observed_;
  bool observed_any_ = false;
  std::chrono::steady_clock::time_point observed_at_{};  // when observed_ was first seen
  std::optional<std::chrono::steady_clock::time_point> contact_at_;  // the Lease's last answer
  std::string why_not_ = "no Lease acquired yet";
  std::string last_error_;     // of the last failed request, for the messages
  std::string logged_holder_;  // the holder last logged by a standby (one line per change)
  bool logged_unreachable_ = false;
  std::mt19937_64 rng_{std::random_device{}()};

  std::mutex loop_mu_;
  std::condition_variable loop_cv_;
  bool stop_ = false;
  std::thread loop_;
};

}  // namespace crtoken
