// The control loop of `crtoken run`: turns spec changes, resync requests, the settle of the spec
// files and the results of reconcile passes into work-queue operations, one key per registry ref.
//
//   Reload (specs changed, or start) -> Add every registry ref whose declarations changed (all of
//                                       them at the first load), and every key the owner's
//                                       secrets add (a registry no longer declared that still
//                                       holds owned tokens) that was not known yet
//   Resync                           -> Add every known key
//   Pass(key), the work-queue handler -> one Reconciler pass over that key; its WorkOutcome:
//       converged: run again after min(resync, the pass's requeue_after, just after the nearest
//                  expiry or renewal (1s past it, at least 1s)); after a pass that wrote, after at
//                  most 2s (verify-after-write: a no-change pass confirms what the registry holds
//                  and refreshes the gauges)
//       failed:    after the key's backoff (the queue's BackoffPolicy, per key) or after the time
//                  above, whichever is later: a transient failure asks for its retry_soon, one
//                  that retrying will not fix waits at least for the resync
//       in --dry-run a pending plan without errors counts as converged.
//   A key that is neither declared nor holds owned tokens any more is dropped: it is not passed
//   (or, after a converged pass, not requeued) and its backoff ends with it.
//
// Readiness: ready once every key of the first load has finished one pass (or was dropped); at
// once when the first load has no key. Never unready again.
//
// Pruning waits for the spec files to settle: after every change (and at start) the desired state
// carries a `settling` prune verdict, so passes create and update at once but delete nothing. A
// settle check, queued as kSettleKey, runs once the files have been unchanged for prune_settle
// (per the clock since the last reload, and per the SpecActivity when there is one: no event, no
// file open for writing) and loads the specs again; when they declare the same, pruning is allowed
// and the keys whose deletes waited are Added at once (no resync needed). When they differ, that
// load is put in force as a change.
//
// Dependencies: the reconciler's interfaces, the work queue and the spec tracker's snapshot type
// only; the spec source, the activity probe and the readiness callback are injected, so a test
// drives everything with a fake clock and in-memory fakes.
//
// Thread-safety: Reload and Resync may be called from any thread (they are serialised with each
// other and with the settle check's load); Pass is called by the workers of queue(), concurrently
// for different keys, never twice at once for the same key. `specs` is only ever called under
// that serialisation. set_activity and set_on_ready must be called before the first Reload.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "daemon/app/status_view.h"
#include "daemon/specs/spec_tracker.h"
#include "reconciler/clock.h"
#include "reconciler/metrics.h"
#include "reconciler/reconciler.h"
#include "reconciler/work_queue.h"

namespace crtoken {

// "2.5s": how the daemon writes a duration in its logs.
std::string FormatSeconds(std::chrono::milliseconds d);

// What the controller may know about the spec files between loads (the spec watcher).
class SpecActivity {
 public:
  virtual ~SpecActivity() = default;
  // When the files were last seen changing (the clock's epoch before any change).
  virtual std::chrono::steady_clock::time_point LastActivity() const = 0;
  // Spec files written to and not closed since, ignoring any with no event for `stale`.
  virtual std::vector<std::string> FilesBeingWritten(std::chrono::milliseconds stale) const = 0;
};

struct ControllerOptions {
  std::chrono::milliseconds resync = std::chrono::seconds(60);
  std::chrono::milliseconds prune_settle = std::chrono::seconds(3);
  bool dry_run = false;  // the reconciler plans only: a pending plan is not a failure
  BackoffPolicy backoff;
};

class Controller {
 public:
  // The work-queue key of the settle check (no registry name or id looks like it).
  static constexpr char kSettleKey[] = "<settle check>";
  // The longest wait before a pass that wrote is confirmed by another one.
  static constexpr std::chrono::milliseconds kVerifyAfterWrites{2000};
  // A file written to and then left open without a write for this many settle times no longer
  // holds pruning back: a writer that never closes must not stop it forever.
  static constexpr int kOpenWriteStaleFactor = 10;

  // Reads the specs as they are now (SpecTracker::Load in the daemon).
  using SpecSource = std::function<SpecSnapshot()>;

  // `reconciler`, `metrics` and `clock` must outlive the Controller; the queue uses `clock`.
  Controller(ControllerOptions options, SpecSource specs, Reconciler& reconciler, Metrics& metrics,
             const Clock& clock);
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // May be null (no probe: the settle wait counts from the last reload only). Not owned.
  void set_activity(const SpecActivity* activity) { activity_ = activity; }
  // Called once, when the controller becomes ready (on the thread that made it so).
  void set_on_ready(std::function<void()> on_ready) { on_ready_ = std::move(on_ready); }

  // Loads the specs, puts them in force and Adds the keys whose declarations changed (all, the
  // first time). `tree_changed`: the files changed (a watcher event, or the start), so pruning
  // waits for them to settle again even if the declarations read the same.
  void Reload(const char* why, bool tree_changed);
  // Adds every known key now (SIGHUP), whatever its schedule or backoff.
  void Resync();
  // The work-queue handler: the settle check for kSettleKey, else one pass over the key.
  WorkOutcome Pass(const std::string& key);

  WorkQueue& queue() { return queue_; }
  bool ready() const;
  // What `crtoken status --from` shows (GET /status): the declared tokens of every key as its last
  // pass left them, the deletes still to do (of a last pass that did not converge), the errors of
  // the last passes, and ready(). A key that is dropped leaves it. Never a secret.
  StatusView Status() const;

 private:
  void Apply(SpecSnapshot snap, const char* why, bool tree_changed);
  WorkOutcome SettleCheck();
  void MarkReadyLocked();
  // Marks the key's first pass as done (readiness).
  void FirstPassDone(const std::string& key);

  const ControllerOptions options_;
  SpecSource specs_;
  Reconciler& reconciler_;
  Metrics& metrics_;
  const Clock& clock_;
  const SpecActivity* activity_ = nullptr;
  std::function<void()> on_ready_;
  WorkQueue queue_;

  std::mutex reload_mu_;   // serialises the loads (Reload, the settle check)
  mutable std::mutex mu_;  // guards the members below
  std::shared_ptr<const DesiredState> desired_;
  std::set<std::string> known_;
  bool first_load_done_ = false;
  std::set<std::string> awaiting_first_pass_;
  bool ready_ = false;
  // Pruning: allowed once the files settled; not before settle_at_.
  bool settled_ = false;
  std::chrono::steady_clock::time_point settle_at_{};
  std::set<std::string> prune_waiting_;  // keys whose deletes waited for the settle
  // Each key's last pass, as Status() reports it.
  struct LastPass {
    std::vector<DeclaredTokenState> tokens;
    int deletes_left = 0;
    std::vector<std::string> errors;
  };
  std::map<std::string, LastPass> last_pass_;
};

}  // namespace crtoken
