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
  // --owner: the installation of crtoken this plan is for. Its tokens are those whose id carries
  // it (reconciler/token_id.h) and, for tokens created before ids did, those its secrets record.
  // Must be valid (1 to 63 characters of [a-z0-9-]): the command line checks it.
  std::string owner = "crtoken";
};

// Whether a pass may delete anything: prune undeclared tokens (owned ones, and unowned ones under
// kAll) or remove secrets of tokens that are gone. Deletes are held back while part of the spec
// tree could not be read (that part may declare any token: a mistyped --specs must never delete a
// token) and, in the daemon, until the spec tree has settled after a change (a half-written file
// must not un-declare what its writer is about to declare). The planner also holds them back while
// a spec file fails to load (DesiredState::failed_files) and while the owner's secrets could not be
// listed (ObservedState::secrets_listed). Creates, re-issues and updates are never held back.
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
  // Spec files that currently fail to load. Any of them may declare any token: while one fails,
  // nothing is deleted (a Problem per registry with held deletes names them).
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
  // registry missing here: a failed read is never taken as "empty". A token a secret records that
  // is not here is taken as gone (its secrets are deleted when undeclared): the caller confirms
  // that by looking the token up by id first, and adds it here when it exists after all. A
  // registry that no longer exists at all is here with no tokens.
  std::map<std::string, ObservedRegistry> registries;
  // Every secret of policy.owner (SecretSink::List), whatever its registry; secrets of registries
  // missing from `registries` are left alone.
  std::vector<ListedSecret> listed;
  // False when the secrets could not be listed: `listed` is then incomplete, and every delete is
  // held back (a secret missing from it may be the one that owns a token or records a password).
  bool secrets_listed = false;
  // The sink's view of each declared token's secret, its record included. A key missing here could
  // not be inspected: no re-issue is decided on it. A secret whose place is not crtoken's to write
  // (conflict set) is a Problem, and nothing is planned for its key.
  std::map<TokenKey, SecretState> secrets;
  // Tokens whose password is held in memory, waiting for the sink (registry hostname not yet known,
  // or a failed write). They are never re-issued: the reconciler retries the write.
  std::set<TokenKey> held_passwords;
};

enum class ActionType {
  kCreate,   // PUT a new token, then write its secret
  kReissue,  // delete the existing token and create it again: its password is lost or unknown
  // spec.overlap: PUT the idle slot token (after deleting a token that occupies it, token_id),
  // write the secret with it; the previous slot stays until its retirement (a later kDelete).
  kRotate,
  kUpdate,  // PATCH only the fields that differ
  kDelete,  // delete an undeclared token (if it still exists) and its secrets
};
const char* ActionTypeName(ActionType type);

struct Action {
  ActionType type = ActionType::kCreate;
  TokenKey key;
  std::string registry_name;
  std::string hostname;      // the registry's hostname ("" while it is provisioning)
  std::string token_id;      // the existing token (reissue, update, delete); "" if none
  std::string new_token_id;  // create, reissue: the id to PUT (OwnedTokenId, next generation)
  // create, rotate of a spec with overlap: the slot token to PUT ("<name>-a" or "<name>-b"); its
  // name is the username in the secret, and new_token_id is OwnedTokenId of this name.
  std::string slot;
  // rotate: the slot that serves now (the secret records it), "" when none does.
  std::string from_slot;
  // create, reissue, rotate: the name of the token to PUT: the slot, else key.name.
  const std::string& IssueName() const { return slot.empty() ? key.name : slot; }
  std::optional<TokenSpec> spec;  // create, reissue, update
  TokenPatch patch;               // update
  // The token as the registry lists it (reissue, update, delete of an existing token): the "from"
  // side of Describe().
  std::optional<ObservedToken> observed;
  // Secrets of this owner to delete. delete: the secrets that record the key (after the token is
  // deleted), or those that record a token already gone (token_id ""), or those a declared key
  // left at a place its spec no longer writes. create, reissue: secrets the key left at a place its
  // spec no longer writes, deleted once the new secret is written and durable.
  std::vector<SecretRef> delete_secrets;
  // delete: secrets that record the key at a place a declared spec now writes (a renamed token
  // that kept its secret): left in place, for that spec's token.
  std::vector<SecretRef> kept_secrets;
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
// - an owned, undeclared token kept because deletes are held back counts as `in_sync` (it is left
//   as it was); an unowned one kept under kAll counts as `unmanaged`;
// - under kNone an owned, undeclared token counts as `unmanaged`; so does a token of another owner
//   or with a forged or collided id, which is never touched;
// - a delete of secrets whose token is already gone counts as `pending`.
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
  // Deletes not planned because they are held back; their tokens count as kept.
  int deletes_held = 0;
  bool empty() const { return actions.empty(); }
};

// The rules, per key (registry id, token name). Nothing is remembered between passes: ownership and
// delivery are read from the token ids and from the owner's secrets (docs/ownership.md).
// - A spec is acted on only when its registry is resolved and in observed.registries; otherwise it
//   is a Problem. Nothing is created in, changed in or deleted from an unobserved registry.
// - A spec whose expiryDate is at or before `now` is a Problem: no create, no update, no reissue.
// - A spec whose inspected secret has a conflict (a Kubernetes Secret crtoken does not manage, a
//   directory where the secret file goes) is a Problem naming the secret and what to do: no
//   create, no update, no reissue; an existing token is left as it is.
// - Ownership: a token is owned when its id classifies as this owner's for its key
//   (ClassifyTokenId: kMine), or, for a token whose id is not crtoken's, when a secret of this
//   owner (listed, or the spec's own) records exactly its id, registry and name.
// - A declared name held by a token of another owner is a Problem naming the holder (its owner
//   fingerprint and this owner's name); by a forged or collided id, a Problem naming the id (never
//   acted on, not even with adopt); by a token that is not crtoken's, a Problem until spec.adopt or
//   policy.adopt_all, which re-issue it with reason "adopt" (another owner's token as well).
// - Declared, absent: create. Owned: reissue when the token is not delivered: the spec's secret
//   does not record its id (reason "secret moved from OLD to NEW" when another secret of this owner
//   does, "secret missing", or "password never reached the sink"), or holds no password, or names
//   another user or host; never while the key is in held_passwords or its secret could not be
//   inspected. Otherwise update with only the differing fields (scopes as sets, expiry as
//   instants).
// - A spec with a lifetime: reissue with reason "renewal: expires DATE" once the owned token's
//   expiry minus renew_before is at or before `now` (not while its password is held); its expiry is
//   only set (to now + lifetime) on a token that has none or one more than lifetime (+1 min) away.
// - A spec with overlap is served by its slot tokens (SlotNames; and the bare name, from before
//   overlap was set), declared like the spec's own key. The current slot is the one the spec's
//   secret records (with a password for its user and host). Its renewal (expiry - renew_before)
//   plans a kRotate into the idle slot (deleting first a token that occupies it); a slot issued
//   before the current one is retired (kDelete, reason "retire: overlap ended DATE") at the
//   current one's expiry - lifetime + overlap, never held back; one issued after it (its password
//   lost) is re-issued by the rotation or deleted. No current slot: a kCreate into slot -a when
//   no slot token lives, else a kRotate into a free slot or the one expiring first. next_expiry
//   includes the renewals and retirements. A slot name declared by another spec, or held by a
//   token crtoken does not own, is a Problem.
// - Creates and re-issues PUT OwnedTokenId with the next generation: one more than the highest
//   generation seen for the key (the live token's, and those of this owner's ids the secrets
//   record for it), skipping any generation seen (the counter wraps after 65535); 0 when none.
// - Undeclared: owned tokens are deleted with the secrets that record their key under kOwned and
//   kAll; tokens that are not crtoken's only under kAll and only when no secret of this owner
//   records their id; tokens of other owners and with forged or collided ids never. Secrets of
//   this owner that record a token of an observed registry that is gone (confirmed by the caller)
//   are deleted (token_id ""), and so are those a declared key left at a place no spec writes any
//   more, once its token is delivered at the new place (with the create or re-issue that writes
//   it, or on their own). A secret at a place a declared spec writes is never deleted. None of
//   this under kNone. A create and a delete in one registry where the delete's secret is kept
//   because the create's spec now writes it are reported as a rename.
// - While deletes are held back (desired.prune not allowed, a spec file failing, the secrets not
//   listed), no delete of any kind is planned (a re-issue is not a delete: its token stays
//   declared); each one held back counts in deletes_held, and each registry with held deletes gets
//   one Problem per failure that holds them (unread paths, failing files, unlisted secrets).
// - Protected keys are never acted on. Duplicate keys among the specs are a Problem each.
Plan ComputePlan(const DesiredState& desired, const ObservedState& observed,
                 const PlanPolicy& policy, Instant now);

// Scopes in a canonical order with each scope's actions sorted and de-duplicated, so that two lists
// that differ only in order compare equal.
std::vector<Scope> NormalizeScopes(std::vector<Scope> scopes);

}  // namespace crtoken
