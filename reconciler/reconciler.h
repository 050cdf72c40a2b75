// The reconcile pass: read the world, plan with the pure ComputePlan, act, report. crtoken keeps no
// state of its own: what it owns, which generation a token is, and whether its password reached
// the consumers are read on every pass from the token ids and from the owner's secrets
// (docs/ownership.md).
//
//   read:  one ListRegistries() resolves every declared registry name and id (an id missing from
//          the complete list is not found; two registries with one name is an error); one
//          SecretSink::List(owner) finds the owner's secrets, and the registries they record are
//          visited too (so that a registry no spec names any more is still pruned; one missing
//          from the list is looked up by id, and when that answers 404 it is gone: visited with no
//          tokens, so its secrets are deleted). Then the token list of each visited registry, and
//          each declared token's secret (with its record). A registry whose lookup or list fails is
//          left out of the observed state (never taken as "empty"): nothing in it is created,
//          changed or deleted in this pass, and the failure is an error of the pass. A token that
//          a secret of the owner records, missing from its list, is looked up by id before the
//          pass drops anything because of its absence (see ConfirmUnlisted): a list read page by
//          page can miss a live token. A failed secret listing holds every delete back.
//   plan:  one ComputePlan over every registry of the pass, the specs whose registry could not be
//          resolved included (the planner reports them, and never prunes a token they may declare).
//   act:   every action on its own; one failure never stops the others; errors are collected.
//   result: converged or not, when to come back (soon on transient errors or held passwords), the
//          nearest declared expiry, the state of each declared token (token_state.h).
//
// Crash safety. A create is: PUT the token under OwnedTokenId(owner, registry, name, generation),
// write the secret with its record (owner, registry id, name, token id), and make the batch of
// secrets durable with one SecretSink::Flush before the pass reports it delivered. A re-issue
// deletes the token, then creates it with the next generation. After a kill -9 anywhere, the next
// pass sees: an owned token that its secret does not record (crash after the PUT, or a power loss
// before the flush) and re-issues it; or no token and a secret recording an older generation (crash
// after a re-issue's delete) and creates the next generation; or the token and the secret that
// records it, and does nothing. So there is never a second token (the id is deterministic and the
// API allows one per name), never an orphan (every token crtoken creates carries its owner), and
// never a secret with a wrong password (a secret is believed only when it records the live token's
// id, and a new token never reuses an id a secret records). An undeclared token is deleted before
// its secrets, so a crash in between leaves secrets of a gone token, which the next pass deletes.
//
// Held passwords: when the registry has no hostname yet (not Running) or the sink write fails, the
// password of a freshly created token is kept in memory (keyed by TokenKey), and every later pass
// retries the write; it is never dropped while the process lives (only when the token itself goes
// away or is replaced). Held keys are passed to the planner as observed.held_passwords, so they are
// not re-issued. Visible in logs and crtoken_secrets_waiting.
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
#include "reconciler/token_state.h"

namespace crtoken {

// How far the actions of a pass have come: `done` of the plan's `total` actions have completed
// (successfully or not). Counts only: never a name, an id or a secret.
struct PassProgress {
  int done = 0;
  int total = 0;
};

struct ReconcilerConfig {
  PlanPolicy policy;  // policy.owner: whose tokens and secrets these are
  // Plan only: no API writes, no secret writes, no held password flushed.
  bool dry_run = false;
  // How many actions of one pass run at once (API calls and secret writes overlap).
  int parallelism = 8;
  // requeue_after when the pass hit a transient error or still holds passwords.
  std::chrono::milliseconds retry_soon = std::chrono::seconds(5);
  // TEST ONLY: called at named points: "after-put" (a create's PUT succeeded), "after-secret" (its
  // secret was written), "after-delete" (a token was deleted: by a re-issue or a prune). The CLI
  // sets it from CRTOKEN_TEST_CRASH_AT to _exit(137) there, to prove crash safety.
  std::function<void(std::string_view point)> test_hook;
  // Progress of a pass that acts (not in dry-run) and has actions: called once with done = 0 before
  // the first action, then once as each action completes, up to done = total. Calls come from the
  // threads that run the actions, one at a time, in increasing order of `done`. Must not block.
  std::function<void(const PassProgress&)> on_progress;
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
  Reconciler(RegistryApi& api, SecretSink& sink, const Clock& clock, Metrics* metrics,
             ReconcilerConfig config);
  Reconciler(const Reconciler&) = delete;
  Reconciler& operator=(const Reconciler&) = delete;

  // One pass. `registry_refs` limits it to some registries: each a registry name or id as declared
  // in the specs (spec.registry or spec.registryId), or a registry id that a secret of the owner
  // records. Empty = every declared registry plus every registry the owner's secrets record.
  // Tokens and secrets of other registries are not acted on.
  PassResult Reconcile(const DesiredState& desired,
                       const std::vector<std::string>& registry_refs = {});

  // The keys a daemon can use to split the work by registry: every registry ref declared in
  // `desired` (name or id, as written), plus the id of every registry a secret of the owner records
  // that is not declared (by id, or by its name as the last registry list showed it; a registry id
  // no pass has seen yet costs one ListRegistries()). Fails only when the secrets cannot be listed.
  Result<std::vector<std::string>> RegistryRefs(const DesiredState& desired);

  // How many passwords are held in memory, waiting for a hostname or a working sink.
  int HeldPasswords() const;

 private:
  struct Held {
    std::string token_id;
    Password password;
    std::string registry_name;
    std::string token_name;  // the token's name (a slot's, for a spec with overlap)
  };
  struct PassContext;

  void ReadRegistries(PassContext& ctx);
  void ListSecrets(PassContext& ctx);
  void ConfirmUnlisted(PassContext& ctx);
  void FlushHeld(PassContext& ctx);
  // Act carries out the plan in these steps, each named after what it does.
  struct CreateOutcome;
  struct ProgressOnExit;
  void Act(PassContext& ctx);
  void DeleteReissuedTokens(PassContext& ctx, const std::vector<const Action*>& reissues,
                            std::vector<const Action*>& creates);
  std::vector<CreateOutcome> CreateAndUpdate(PassContext& ctx,
                                             const std::vector<const Action*>& creates,
                                             const std::vector<const Action*>& updates);
  void DeliverCreated(PassContext& ctx, const std::vector<const Action*>& creates,
                      std::vector<CreateOutcome>& outcomes);
  void DeleteUndeclared(PassContext& ctx, const std::vector<const Action*>& deletes);
  // Deletes `ref` unless a spec of the pass's desired state writes it; true when it is gone.
  bool DeleteSecret(PassContext& ctx, const Action& action, const SecretRef& ref);
  SecretRecord RecordOf(const TokenKey& key, const std::string& token_id) const;
  void Hook(std::string_view point) const;  // config_.test_hook, when set
  void ReplicateFanOut(PassContext& ctx);
  void CountOperation(ActionType type, bool ok) const;
  std::mutex& RegistryLock(const std::string& registry_id);

  RegistryApi& api_;
  SecretSink& sink_;
  const Clock& clock_;
  Metrics* metrics_;
  ReconcilerConfig config_;

  mutable std::mutex mu_;  // guards held_, registry_names_ and registry_locks_
  std::map<TokenKey, Held> held_;
  // Registry id -> name, as the last ListRegistries() showed them (for RegistryRefs).
  std::map<std::string, std::string> registry_names_;
  std::map<std::string, std::unique_ptr<std::mutex>> registry_locks_;
};

}  // namespace crtoken
