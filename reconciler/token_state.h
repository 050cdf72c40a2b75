// The state of each declared token after a reconcile pass: in sync, pending or in error, with its
// expiry, its next renewal and why it is not in sync. `crtoken status` prints it; the metrics
// crtoken_token_state, crtoken_token_expiry_timestamp_seconds and
// crtoken_token_renewal_timestamp_seconds export it.
//
// DeclaredTokenStates is pure: no I/O, no clock, no logging; the same facts give the same list.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "reconciler/plan.h"
#include "reconciler/types.h"

namespace crtoken {

enum class TokenState {
  kInSync,   // declared and matching, its secret in place
  kPending,  // work is planned (a dry run), or its password waits in memory for its secret
  kError,    // a problem prevents acting on it, or its action failed
};
const char* TokenStateName(TokenState state);  // "in_sync" | "pending" | "error"

struct DeclaredTokenState {
  std::string registry;  // the registry's name; its id or ref as declared when the name is unknown
  std::string registry_id;  // "" when the registry could not be resolved
  std::string token;
  TokenState state = TokenState::kInSync;
  // The registry's token list was read in this pass: expiry and renewal are current. When false,
  // a lifetime token's expiry is unknown (nullopt) rather than known to be absent.
  bool registry_read = false;
  // A declared expiryDate; for a lifetime token, the expiry of the live token (the one issued in
  // this pass, else the one the list showed); nullopt = never expires, or unknown.
  std::optional<Instant> expiry;
  // Lifetime tokens: when the live token is due for renewal (expiry - renewBefore).
  std::optional<Instant> renewal;
  // Tokens with overlap: the expiry of each live slot token, by its name (the bare name too, while
  // a token from before overlap was set lives). `expiry` is then the newest one's: the slot that
  // serves once the pass converged.
  std::map<std::string, Instant> slot_expiry;
  // Empty when in sync; otherwise what is planned or awaited (pending), or why (error). Never
  // contains a secret.
  std::string detail;
  SecretRef secret;
  SourceLocation source;
};

// What one pass knew and did, as far as its declared tokens go.
struct PassFacts {
  // Every declared spec of the pass: resolved ones with registry_id set, unresolved ones with "".
  std::vector<TokenSpec> specs;
  // Names of the resolved registries, by id.
  std::map<std::string, std::string> registry_names;
  // Registries whose token list was read completely, by id (what the planner saw).
  const std::map<std::string, ObservedRegistry>* observed = nullptr;
  const Plan* plan = nullptr;
  // The plan was carried out (false for a dry run): an action that did not fail is done.
  bool acted = false;
  // Actions that failed in this pass, by key: what failed and why.
  std::map<TokenKey, std::string> failures;
  // Keys whose password is held in memory after the pass, waiting for its secret.
  std::set<TokenKey> held;
  // Expiry of the lifetime tokens issued in this pass, by the key of the token issued (a slot's
  // name, for a spec with overlap).
  std::map<TokenKey, std::optional<Instant>> issued_expiry;
};

// One entry per declared spec, in the order of `facts.specs`. The rules, first match wins:
// - error: the plan has a Problem for the spec (same key and source), or its action failed;
// - pending: its password is held; or (dry run) an action is planned for it;
// - in sync otherwise (in a pass that acted, a planned action that did not fail is done).
std::vector<DeclaredTokenState> DeclaredTokenStates(const PassFacts& facts);

}  // namespace crtoken
