// Plain domain types shared by the planner, the reconciler and the adapters. No library types:
// everything here is std only, so the pure core can be tested without I/O.
#pragma once

#include <chrono>
#include <compare>
#include <optional>
#include <string>
#include <vector>

#include "reconciler/label_selector.h"

namespace crtoken {

// Instants at second precision: the API writes dates as YYYY-MM-DDTHH:MM:SSZ.
using Instant = std::chrono::sys_seconds;

enum class TokenStatus { kEnabled, kDisabled };
const char* TokenStatusName(TokenStatus status);  // "enabled" | "disabled"

// One scope of a token. Compared as a set by the planner: the order of scopes and of actions never
// matters (see NormalizeScopes in plan.h).
struct Scope {
  std::string name;                  // repository name or pattern, "*" = all
  std::string type;                  // "repository" | "registry" (the API echoes any string)
  std::vector<std::string> actions;  // "pull" | "push" | "delete"
  auto operator<=>(const Scope&) const = default;
};

// Where a spec element came from, for FILE:LINE:COL messages. Lines and columns are 1-based;
// 0 means unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  std::string ToString() const;  // "file:line:col" (or "file" when unknown)
};

// Where a token's password is delivered. Exactly one kind is set.
//
// A Kubernetes ref names one Secret (k8s_namespace + k8s_name), or fans out: the same Secret
// k8s_name in every namespace of a target set, either a fixed list (k8s_namespaces) or the
// namespaces a label selector matches (k8s_selector), with k8s_namespace empty. A fan-out ref is
// one place for the planner (one token, one password); the Kubernetes sink resolves it to its
// namespaces (docs/fanout.md). service_accounts (fan-out only) are the ServiceAccounts of each
// target namespace whose imagePullSecrets name the Secret. A ref whose k8s_namespace is set as well
// as a target set is one copy of a fan-out place, as the sink hands it to the single-Secret writer.
struct SecretRef {
  enum class Kind { kFile, kKubernetes };
  Kind kind = Kind::kFile;
  std::string file;  // kFile: path relative to --secret-dir, already checked to stay inside
  std::string k8s_namespace;                  // kKubernetes
  std::string k8s_name;                       // kKubernetes
  std::vector<std::string> k8s_namespaces;    // kKubernetes fan-out: sorted, unique
  std::optional<LabelSelector> k8s_selector;  // kKubernetes fan-out: normalized
  std::vector<std::string> service_accounts;  // kKubernetes fan-out: sorted, unique
  bool FanOut() const { return !k8s_namespaces.empty() || k8s_selector.has_value(); }
  // The fan-out place a copy belongs to (k8s_namespace cleared); the ref itself otherwise.
  SecretRef Place() const;
  // "file:ci-push.json" | "kubernetes:ns/name" | "kubernetes:[a,b]/name" |
  // "kubernetes:{env=prod}/name", with " +sa:default,builder" when service_accounts are set.
  std::string ToString() const;
  auto operator<=>(const SecretRef&) const = default;
};

// One declared token (a RegistryToken document), validated.
struct TokenSpec {
  std::string name;         // metadata.name: the token name in the registry
  std::string registry;     // spec.registry (a registry name), or empty when registry_id is set
  std::string registry_id;  // spec.registryId, or filled in once the name is resolved
  TokenStatus status = TokenStatus::kEnabled;
  std::optional<Instant> expiry;  // absent = never expires
  // spec.lifetime: each token issued for this spec expires `lifetime` after it was issued, and is
  // re-issued (new password, secret rewritten) once less than `renew_before` is left. Excludes
  // `expiry`; `renew_before` is set (0 < renew_before < lifetime) whenever `lifetime` is.
  std::optional<std::chrono::seconds> lifetime;
  std::chrono::seconds renew_before{0};
  // spec.overlap (only with `lifetime`): the spec is served by two slot tokens (SlotNames), and a
  // renewal creates the idle slot and writes the secret with it before the previous slot is
  // retired, `overlap` later, so that the secret always holds a credential that logs in.
  // 1 min <= overlap < renew_before, and overlap <= lifetime - renew_before.
  std::optional<std::chrono::seconds> overlap;
  std::vector<Scope> scopes;
  SecretRef secret;
  bool adopt = false;     // take over an existing token of this name that crtoken does not own
  SourceLocation source;  // the document's metadata.name node
};

// The names of the two slot tokens of a spec with `overlap`: "<name>-a" and "<name>-b".
std::vector<std::string> SlotNames(const std::string& name);

// A token as the registry API reports it. There is no password: the API returns it only once.
struct ObservedToken {
  std::string id;
  std::string name;
  TokenStatus status = TokenStatus::kEnabled;
  std::optional<Instant> expiry;
  std::vector<Scope> scopes;
};

struct RegistryInfo {
  std::string id;
  std::string name;
  std::string hostname;  // empty until the registry is provisioned
  std::string state;     // metadata.state, e.g. "Running"
};

// A registry-unique token identity.
struct TokenKey {
  std::string registry_id;
  std::string name;
  auto operator<=>(const TokenKey&) const = default;
};

}  // namespace crtoken
