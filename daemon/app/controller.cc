#include "daemon/app/controller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "reconciler/log_fields.h"

namespace crtoken {

using Ms = std::chrono::milliseconds;

std::string FormatSeconds(Ms d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3gs", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

Controller::Controller(ControllerOptions options, SpecSource specs, Reconciler& reconciler,
                       Metrics& metrics, const Clock& clock)
    : options_(std::move(options)),
      specs_(std::move(specs)),
      reconciler_(reconciler),
      metrics_(metrics),
      clock_(clock),
      queue_(clock, options_.backoff) {}

void Controller::Reload(const char* why, bool tree_changed) {
  std::lock_guard<std::mutex> lock(reload_mu_);
  Apply(specs_(), why, tree_changed);
}

void Controller::Resync() {
  std::lock_guard<std::mutex> l(mu_);
  for (const std::string& key : known_) queue_.Add(key);
}

bool Controller::ready() const {
  std::lock_guard<std::mutex> l(mu_);
  return ready_;
}

// Puts a snapshot in force; reload_mu_ is held.
void Controller::Apply(SpecSnapshot snap, const char* why, bool tree_changed) {
  metrics_.SetSpecErrors(static_cast<int>(snap.errors.size()));
  for (const SpecError& e : snap.errors) spdlog::error("spec error: {}", e.ToString());
  for (const std::string& f : snap.stale_files) {
    spdlog::warn(
        WithFields("spec file has errors; its last good version stays in force", {{"file", f}}));
  }
  if (!snap.desired.prune.unread.empty()) {
    std::string unread;
    for (const std::string& u : snap.desired.prune.unread)
      unread += (unread.empty() ? "" : "; ") + u;
    spdlog::warn(WithFields("nothing is pruned while part of the specs cannot be read",
                            {{"reason", unread}}));
  }
  std::shared_ptr<const DesiredState> before;
  std::shared_ptr<const DesiredState> desired;
  {
    std::lock_guard<std::mutex> l(mu_);
    before = desired_;
    if (!before || tree_changed || !SameDeclarations(*before, snap.desired)) {
      settled_ = false;
      settle_at_ = clock_.Monotonic() + options_.prune_settle;
      queue_.AddAfter(kSettleKey, options_.prune_settle);
    }
    if (!settled_) {
      snap.desired.prune.settling =
          std::string("the spec files changed; deletes wait until they are unchanged for ") +
          FormatSeconds(options_.prune_settle);
    }
    desired = std::make_shared<const DesiredState>(std::move(snap.desired));
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
    spdlog::error("cannot list the secrets crtoken wrote: {}", refs.error().ToString());
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

// The settle check (see the header). Runs on a worker, as the queue's kSettleKey.
WorkOutcome Controller::SettleCheck() {
  const auto now = clock_.Monotonic();
  Ms wait(0);
  {
    std::lock_guard<std::mutex> l(mu_);
    if (settled_) return {};
    if (settle_at_ > now) wait = std::chrono::ceil<Ms>(settle_at_ - now);
  }
  if (activity_ != nullptr) {
    // An event the last reload has not seen yet (a write still going on) counts as a change.
    const auto quiet_at = activity_->LastActivity() + options_.prune_settle;
    if (quiet_at > now) wait = std::max(wait, std::chrono::ceil<Ms>(quiet_at - now));
    if (wait == Ms::zero()) {
      const auto open = activity_->FilesBeingWritten(options_.prune_settle * kOpenWriteStaleFactor);
      if (!open.empty()) {
        spdlog::debug(
            WithFields("pruning waits: a spec file is open for writing", {{"file", open.front()}}));
        wait = options_.prune_settle;
      }
    }
  }
  if (wait > Ms::zero()) return WorkOutcome{true, wait};
  // The second read: the files as they are now must declare what is in force.
  std::lock_guard<std::mutex> lock(reload_mu_);
  SpecSnapshot snap = specs_();
  std::set<std::string> waiting;
  bool same = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (settle_at_ > clock_.Monotonic()) return WorkOutcome{true, Ms(1)};  // a reload came in
    same = SameDeclarations(*desired_, snap.desired);
    if (same) {
      settled_ = true;
      auto settled = std::make_shared<DesiredState>(*desired_);
      settled->prune.settling.clear();
      desired_ = std::move(settled);
      waiting.swap(prune_waiting_);
    }
  }
  if (!same) {
    Apply(std::move(snap), "files changed", true);  // what the watcher has not reported yet
    return {};
  }
  spdlog::info(WithFields("spec files settled; pruning is allowed",
                          {{"registries_waiting", std::to_string(waiting.size())}}));
  for (const std::string& key : waiting) queue_.Add(key);
  return {};
}

WorkOutcome Controller::Pass(const std::string& key) {
  if (key == kSettleKey) return SettleCheck();
  std::shared_ptr<const DesiredState> desired;
  {
    std::lock_guard<std::mutex> l(mu_);
    desired = desired_;
  }
  // A key the specs no longer call for is dropped unpassed: a registry id queued while the
  // specs declared none of its tokens (a file caught half-written), whose tokens are declared
  // by the registry's name again, would see them owned and undeclared in a pass of its own.
  // (A key a spec declares is wanted; only the others need the secrets listed.)
  const bool declared = std::any_of(desired->specs.begin(), desired->specs.end(),
                                    [&](const TokenSpec& s) { return RegistryRefOf(s) == key; });
  if (!declared) {
    auto refs = reconciler_.RegistryRefs(*desired);
    if (refs.ok() &&
        std::find(refs.value().begin(), refs.value().end(), key) == refs.value().end()) {
      spdlog::info(WithFields("registry no longer needs a pass of its own", {{"registry", key}}));
      std::lock_guard<std::mutex> l(mu_);
      known_.erase(key);
      prune_waiting_.erase(key);
      last_pass_.erase(key);
      if (awaiting_first_pass_.erase(key) > 0 && awaiting_first_pass_.empty()) MarkReadyLocked();
      return {};
    }
  }
  const auto start = clock_.Monotonic();
  PassResult result = reconciler_.Reconcile(*desired, {key});
  const Ms took = std::chrono::duration_cast<Ms>(clock_.Monotonic() - start);
  {
    LastPass last;
    last.tokens = result.tokens;
    last.errors = result.errors;
    if (!result.converged) {
      last.deletes_left = static_cast<int>(
          std::count_if(result.plan.actions.begin(), result.plan.actions.end(),
                        [](const Action& a) { return a.type == ActionType::kDelete; }));
    }
    std::lock_guard<std::mutex> l(mu_);
    last_pass_[key] = std::move(last);
  }

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
    last_pass_.erase(key);
    outcome.requeue_after.reset();
  }

  if (result.plan.deletes_held > 0 && !desired->prune.settling.empty()) {
    spdlog::info(WithFields("deletes wait for the spec files to settle",
                            {{"registry", key},
                             {"deletes", std::to_string(result.plan.deletes_held)},
                             {"reason", desired->prune.settling}}));
    std::lock_guard<std::mutex> l(mu_);
    if (settled_) {
      queue_.Add(key);  // settled during the pass: run it again (after this one)
    } else {
      prune_waiting_.insert(key);
    }
  }

  if (result.converged) {
    spdlog::debug(WithFields(
        "registry reconciled",
        {{"registry", key},
         {"actions", std::to_string(result.plan.actions.size())},
         {"duration", FormatSeconds(took)},
         {"next", still_wanted ? FormatSeconds(*outcome.requeue_after) : std::string("never")}}));
  } else {
    spdlog::warn(WithFields("registry not converged; retrying with backoff",
                            {{"registry", key},
                             {"errors", std::to_string(result.errors.size())},
                             {"failures", std::to_string(queue_.Failures(key) + 1)}}));
    for (const std::string& e : result.errors) {
      spdlog::warn(WithFields(e, {{"registry", key}}));
    }
  }
  FirstPassDone(key);
  return outcome;
}

StatusView Controller::Status() const {
  StatusView view;
  view.from_daemon = true;
  std::vector<DeclaredTokenState> tokens;
  {
    std::lock_guard<std::mutex> l(mu_);
    view.ready = ready_;
    for (const auto& [key, last] : last_pass_) {
      tokens.insert(tokens.end(), last.tokens.begin(), last.tokens.end());
      view.deletes += last.deletes_left;
      view.errors.insert(view.errors.end(), last.errors.begin(), last.errors.end());
    }
  }
  view.rows = StatusRows(tokens);
  return view;
}

void Controller::FirstPassDone(const std::string& key) {
  std::lock_guard<std::mutex> l(mu_);
  if (awaiting_first_pass_.erase(key) > 0 && awaiting_first_pass_.empty()) MarkReadyLocked();
}

void Controller::MarkReadyLocked() {
  if (ready_) return;
  ready_ = true;
  if (on_ready_) on_ready_();
  spdlog::info("ready: the first full reconcile pass finished");
}

}  // namespace crtoken
