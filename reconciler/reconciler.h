// The reconcile pass: read the world, plan with the pure ComputePlan, act, report.
//
//   read:  resolve each registry (by name or id, once per pass), list its tokens, load the
//          ownership records, inspect each declared token's secret. A registry whose lookup or list
//          fails is left out of the observed state (never taken as "empty"): nothing in it is
//          created, changed or deleted in this pass, and the failure is an error of the pass.
//          An owned token missing from the list is looked up by id before the pass drops anything
//          because of its absence (see ConfirmUnlisted): a list read page by page can miss a live
//          token.
//   plan:  one ComputePlan over every registry of the pass, the specs whose registry could not be
//          resolved included (the planner reports them, and never prunes a token they may declare,
//          even in a registry resolved through its ownership records).
//   act:   every action on its own; one failure never stops the others; errors are collected.
//   result: converged or not, when to come back (soon on transient errors or held passwords), the
//          nearest declared expiry, the state of each declared token (token_state.h).
//
// Creation is two-phase and crash-safe: the intent (OwnershipRecord phase kCreating with the
// generation and the DeterministicTokenId) is recorded durably before the PUT; the secret is
// written at once after the PUT; then the record becomes kReady. A crash anywhere leaves a record
// that the next pass repairs: the token absent -> create; present but not kReady -> re-issue
// (delete, create with the next generation, write the secret). Intents of one pass are recorded in
// one durable write, and the success records of one pass in one more (so a pass of N creates costs
// two state writes, not 2N); a crash between them only costs a re-issue of the tokens created in
// between.
//
// Held passwords: when the registry has no hostname yet (not Running) or the sink write fails, the
// password of a freshly created token is kept in memory (keyed by TokenKey), the record stays
// kCreated, and every later pass retries the write; it is never dropped while the process lives
// (only when the token itself goes away or is replaced). Held keys are passed to the planner as
// observed.held_passwords, so they are not re-issued. Visible in logs and crtoken_secrets_waiting.
//
// Thread-safety: Reconcile may be called concurrently from several threads. Passes over disjoint
// registries run in parallel; passes that share a registry are serialised on that registry (a
// per-registry-id lock taken after resolution, in id order), so a registry referred to by name in
// one key and by id in another is still safe.
//
// Passwords are never logged: the log has one line per action (Action::Describe()) with its
// result, and one summary line per pass.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "reconciler/clock.h"
#include "reconciler/metrics.h"
#include "reconciler/plan.h"
#include "reconciler/registry_api.h"
#include "reconciler/secret_sink.h"
#include "reconciler/state_store.h"
#include "reconciler/token_state.h"

namespace crtoken {

struct ReconcilerConfig {
  PlanPolicy policy;
  // Plan only: no API writes, no secret writes, no state writes, no held password flushed.
  bool dry_run = false;
  // How many actions of one pass run at once (API calls and secret writes overlap).
  int parallelism = 8;
  // requeue_after when the pass hit a transient error or still holds passwords.
  std::chrono::milliseconds retry_soon = std::chrono::seconds(5);
  // TEST ONLY: called at named points of a create ("after-intent", "after-put", "after-secret");
  // the CLI sets it from CRTOKEN_TEST_CRASH_AT to _exit(137) there, to prove crash safety.
  std::function<void(std::string_view point)> test_hook;
};

struct PassResult {
  // Every action planned in this pass (also in dry-run), ordered as ComputePlan orders them:
  // creates, re-issues, updates, deletes; within a type by registry id, then token name.
  Plan plan;
  // Every failure of the pass, one line each: unreadable registries, planner problems, failed
  // actions, secrets still waiting. Never contains a secret.
  std::vector<std::string> errors;
  // True when every selected registry was read, every action succeeded, no problem was reported
  // and no password is held. In dry-run: true when the plan is empty and there is no error.
  bool converged = false;
  // Set when the pass should be repeated soon: a transient error, or a held password.
  std::optional<std::chrono::milliseconds> requeue_after;
  // The nearest future expiry among the declared tokens of this pass.
  std::optional<Instant> next_expiry;
  int write_requests = 0;   // PUT / PATCH / DELETE requests sent (whatever their outcome)
  int actions_failed = 0;   // actions of the plan that did not complete
  int secrets_waiting = 0;  // passwords held in memory for these registries after the pass
  std::vector<std::string> registry_ids;  // the registries read completely in this pass
  // Every declared token of the pass (the unresolved included) and its state after the pass (in a
  // dry run: pending where an action is planned); also exported as metrics (Metrics::
  // SetTokenStates) in a pass that acts.
  std::vector<DeclaredTokenState> tokens;
};

class Reconciler {
 public:
  // All references must outlive the Reconciler. `metrics` may be null.
  Reconciler(RegistryApi& api, SecretSink& sink, StateStore& state, const Clock& clock,
             Metrics* metrics, ReconcilerConfig config);
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // One pass. `registry_refs` limits it to some registries: each a registry name or id as declared
  // in the specs (spec.registry or spec.registryId), or a registry id from the ownership records.
  // Empty = every declared registry plus every registry in the ownership records.
  // Specs of other registries, and records of other registries, are not looked at.
  PassResult Reconcile(const DesiredState& desired,
                       const std::vector<std::string>& registry_refs = {});

  // The keys a daemon can use to split the work by registry: every registry ref declared in
  // `desired` (name or id, as written), plus the registry id of every ownership record whose
  // registry is not declared under its recorded name. Fails only when the state cannot be read.
  Result<std::vector<std::string>> RegistryRefs(const DesiredState& desired);

  // How many passwords are held in memory, waiting for a hostname or a working sink.
  int HeldPasswords() const;

 private:
  struct Held {
    std::string token_id;
    Password password;
    std::string registry_name;
  };
  struct PassContext;

  void ReadRegistries(PassContext& ctx);
  void ConfirmUnlisted(PassContext& ctx);
  void FlushHeld(PassContext& ctx);
  // Act carries out the plan in these steps, each named after what it does.
  struct CreateOutcome;
  void Act(PassContext& ctx);
  void DeleteReissuedTokens(PassContext& ctx, const std::vector<const Action*>& reissues,
                            std::vector<const Action*>& creates);
  std::vector<OwnershipRecord> RecordIntents(PassContext& ctx, std::vector<const Action*>& creates);
  std::vector<CreateOutcome> CreateAndUpdate(PassContext& ctx,
                                             const std::vector<const Action*>& creates,
                                             const std::vector<OwnershipRecord>& intents,
                                             const std::vector<const Action*>& updates);
  void RecordOutcomes(PassContext& ctx, const std::vector<const Action*>& creates,
                      const std::vector<OwnershipRecord>& intents,
                      std::vector<CreateOutcome>& outcomes);
  void DeleteUndeclared(PassContext& ctx, const std::vector<const Action*>& deletes);
  void Hook(std::string_view point) const;  // config_.test_hook, when set
  void CountOperation(ActionType type, bool ok) const;
  std::mutex& RegistryLock(const std::string& registry_id);

  RegistryApi& api_;
  SecretSink& sink_;
  StateStore& state_;
  const Clock& clock_;
  Metrics* metrics_;
  ReconcilerConfig config_;

  mutable std::mutex mu_;  // guards held_ and registry_locks_
  std::map<TokenKey, Held> held_;
  std::map<std::string, std::unique_ptr<std::mutex>> registry_locks_;
};

}  // namespace crtoken
