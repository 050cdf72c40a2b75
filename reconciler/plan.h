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
};

struct ObservedRegistry {
  RegistryInfo info;
  std::vector<ObservedToken> tokens;
};

// The observed state, as read by one pass.
struct ObservedState {
  // Registries whose token list was read completely, by id. Nothing is created in or deleted from a
  // registry missing here: a failed read is never taken as "empty".
  std::map<std::string, ObservedRegistry> registries;
  std::vector<OwnershipRecord> owned;
  // The sink's view of each declared token's secret. A key missing here could not be inspected:
  // no re-issue is decided on it.
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
  std::optional<OwnershipRecord> record;  // the ownership record, when crtoken owns the token
  std::string reason;  // why, in a few words: "not in the registry", "secret missing"
  // A human-readable line, e.g. "update acme/ci-push: status enabled -> disabled". Never contains a
  // password or any other secret.
  std::string Describe() const;
};

// Something the planner will not act on, with where it was declared.
struct Problem {
  TokenKey key;
  SourceLocation where;  // the spec, when there is one
  std::string message;
  std::string ToString() const;
};

// How many tokens are in each state; the crtoken_tokens gauge.
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
  // The nearest future expiry among declared tokens, for scheduling the next pass.
  std::optional<Instant> next_expiry;
  bool empty() const { return actions.empty(); }
};

Plan ComputePlan(const DesiredState& desired, const ObservedState& observed,
                 const PlanPolicy& policy, Instant now);

// Scopes in a canonical order with each scope's actions sorted and de-duplicated, so that two lists
// that differ only in order compare equal.
std::vector<Scope> NormalizeScopes(std::vector<Scope> scopes);

}  // namespace crtoken
