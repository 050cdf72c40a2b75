// The pure planning core: given what is declared and what is observed, decide what to do.
// ComputePlan does no I/O, reads no clock, logs nothing and throws nothing; the same input always
// gives the same plan, in the same order. `crtoken plan`, `--dry-run` and the reconcile pass all
// call it.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reconciler/registry_api.h"
#include "reconciler/secret_sink.h"
#include "reconciler/state_store.h"
#include "reconciler/types.h"

namespace crtoken {

enum class PruneMode {
  kOwned,  // delete tokens crtoken owns that are no longer declared (default)
  kNone,   // never delete
  kAll,    // also delete undeclared tokens crtoken never owned (registries it has to itself)
};
const char* PruneModeName(PruneMode mode);
std::optional<PruneMode> ParsePruneMode(const std::string& text);

struct PlanPolicy {
  PruneMode prune = PruneMode::kOwned;
  bool adopt_all = false;  // --adopt: as if every spec said `adopt: true`
};

// Whether a pass may delete anything: prune undeclared tokens (owned ones, and unowned ones under
// kAll) or forget records whose token is gone. Deletes are held back while part of the spec tree
// could not be read (that part may declare any token: a mistyped --specs must never delete a
// token) and, in the daemon, until the spec tree has settled after a change (a half-written file
// must not un-declare what its writer is about to declare). Creates, re-issues and updates are
// never held back.
struct PruneVerdict {
  // Spec paths that could not be read, "PATH: why" each. A failure: a plan that holds a delete
  // back for it reports a Problem naming them.
  std::vector<std::string> unread;
  // Not empty while the spec tree settles, saying what is awaited. Not a failure: held deletes are
  // only counted (Plan::deletes_held); the caller plans again once the tree has settled.
  std::string settling;
  bool allowed() const { return unread.empty() && settling.empty(); }
};

// The declared state.
struct DesiredState {
  // Valid specs. registry_id is filled in where the registry was resolved; a spec whose registry
  // could not be resolved keeps it empty and is reported, never acted on.
  std::vector<TokenSpec> specs;
  // Spec files that currently fail to load. Tokens crtoken owns and recorded as declared in one
  // of these are never deleted; under kAll, no unowned token is deleted while any file fails.
  std::set<std::string> failed_files;
  // Keys that must not be touched at all (e.g. declared twice).
  std::set<TokenKey> protected_keys;
  // Whether anything may be deleted in this pass.
  PruneVerdict prune;

  // Everything but the specs: for a desired state over a selection of the specs (the specs of
  // one reconcile pass).
  DesiredState WithoutSpecs() const;
};

struct ObservedRegistry {
  RegistryInfo info;
  std::vector<ObservedToken> tokens;
};

// The observed state, as read by one pass.
struct ObservedState {
  // Registries whose token list was read completely, by id. Nothing is created in or deleted from a
  // registry missing here: a failed read is never taken as "empty". A record whose token is not
  // here is taken as gone (its record and secret are deleted when undeclared): the caller confirms
  // that by looking the token up by id first, and adds it here when it exists after all.
  std::map<std::string, ObservedRegistry> registries;
  std::vector<OwnershipRecord> owned;
  // The sink's view of each declared token's secret. A key missing here could not be inspected:
  // no re-issue is decided on it. A secret whose place is not crtoken's to write (conflict set)
  // is a Problem, and nothing is planned for its key.
  std::map<TokenKey, SecretState> secrets;
  // Tokens whose password is held in memory, waiting for the sink (registry hostname not yet known,
  // or a failed write). They are never re-issued: the reconciler retries the write.
  std::set<TokenKey> held_passwords;
};

enum class ActionType {
  kCreate,   // PUT a new token, then write its secret
  kReissue,  // delete the existing token and create it again: its password is lost or unknown
  kUpdate,   // PATCH only the fields that differ
  kDelete,   // delete an undeclared token (if it still exists) and its secret; forget it
};
const char* ActionTypeName(ActionType type);

struct Action {
  ActionType type = ActionType::kCreate;
  TokenKey key;
  std::string registry_name;
  std::string hostname;           // the registry's hostname ("" while it is provisioning)
  std::string token_id;           // the existing token (reissue, update, delete); "" if none
  std::optional<TokenSpec> spec;  // create, reissue, update
  TokenPatch patch;               // update
  // The ownership record of the key, when there is one: the token crtoken owns (reissue, update,
  // delete), a record whose token disappeared (create, delete with token_id ""), or a stale record
  // whose name was taken by a token with another id (an adopting reissue; a delete under kAll).
  std::optional<OwnershipRecord> record;
  // The token as the registry lists it (reissue, update, delete of an existing token): the "from"
  // side of Describe().
  std::optional<ObservedToken> observed;
  // delete: the record's secret is where a declared spec writes (a rename that kept its secret):
  // remove the token and the record, but leave the secret alone.
  bool keep_secret = false;
  std::string reason;  // why, in a few words: "not in the registry", "secret missing"
  // A human-readable line, e.g. "update acme/ci-push: status enabled -> disabled". Never contains a
  // password or any other secret.
  std::string Describe() const;
};

// Something the planner will not act on, with where it was declared.
struct Problem {
  TokenKey key;          // key.name is empty for a problem about a whole registry
  SourceLocation where;  // the spec, when there is one
  std::string message;
  std::string ToString() const;
};

// How many tokens are in each state; the crtoken_tokens gauge. Every declared spec and every token
// in a readable registry is counted once:
// - a protected key (desired.protected_keys) counts as `error` (whoever protected it reports why);
// - an owned, undeclared token kept because its spec file fails to load, or because pruning is held
//   back (desired.prune), counts as `in_sync` (it is left as it was); an unowned one kept under
//   kAll counts as `unmanaged`;
// - under kNone an owned, undeclared token counts as `unmanaged`;
// - a delete of a record whose token is already gone counts as `pending`.
struct PlanCounts {
  int in_sync = 0;    // declared and matching, secret in place
  int pending = 0;    // an action is planned, or a password waits for its sink
  int error = 0;      // a problem prevents acting on it
  int unmanaged = 0;  // in the registry, not declared, not owned, and left alone
};

struct Plan {
  // Ordered: creates, re-issues, updates, then deletes (a renamed token's new name exists before
  // its old one goes); within a type by registry id, then token name.
  std::vector<Action> actions;
  std::vector<Problem> problems;
  PlanCounts counts;
  // The nearest future instant a pass has work without any change: a declared expiryDate, or a
  // lifetime token's renewal (its expiry minus renewBefore). For scheduling the next pass.
  std::optional<Instant> next_expiry;
  // Deletes not planned because desired.prune held them back; their tokens count as kept.
  int deletes_held = 0;
  bool empty() const { return actions.empty(); }
};

// The rules, per key (registry id, token name):
// - A spec is acted on only when its registry is resolved and in observed.registries; otherwise it
//   is a Problem. Nothing is created in, changed in or deleted from an unobserved registry.
// - A spec whose expiryDate is at or before `now` is a Problem: no create, no update, no reissue.
// - A spec whose inspected secret has a conflict (a Kubernetes Secret crtoken does not manage, a
//   directory where the secret file goes) is a Problem naming the secret and what to do: no
//   create, no update, no reissue; an existing token is left as it is.
// - Ownership: a record with the key whose token_id is the observed token's id. A token with the
//   declared name and another id is not owned: reissued with reason "adopt" when spec.adopt or
//   policy.adopt_all, else a Problem.
// - Declared, absent: create. Owned: reissue when the password never reached the sink (phase not
//   kReady), the spec's secret moved, or the inspected secret is missing, empty, or names another
//   user or host; never while the key is in held_passwords or its secret could not be inspected.
//   Otherwise update with only the differing fields (scopes as sets, expiry as instants).
// - A spec with a lifetime: reissue with reason "renewal: expires DATE" once the owned token's
//   expiry minus renew_before is at or before `now` (not while its password is held); its expiry is
//   only set (to now + lifetime) on a token that has none or one more than lifetime (+1 min) away.
// - Undeclared: owned tokens are deleted under kOwned and kAll unless their record's source file
//   fails to load; unowned ones only under kAll and only while no spec file fails. A record whose
//   token is gone is deleted (token_id "") except under kNone. A create and a delete in one
//   registry whose spec and record share source file and secret are reported as a rename.
// - While desired.prune is not allowed, no delete of any kind is planned (a re-issue is not a
//   delete: its token stays declared); each one held back counts in deletes_held, and when the
//   verdict names unread paths, each registry with held deletes gets one Problem naming them.
// - Protected keys are never acted on. Duplicate keys among the specs are a Problem each.
Plan ComputePlan(const DesiredState& desired, const ObservedState& observed,
                 const PlanPolicy& policy, Instant now);

// Scopes in a canonical order with each scope's actions sorted and de-duplicated, so that two lists
// that differ only in order compare equal.
std::vector<Scope> NormalizeScopes(std::vector<Scope> scopes);

}  // namespace crtoken
