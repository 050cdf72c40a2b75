// The Container Registry API as the domain sees it. The only implementation that speaks HTTP is
// HttpRegistryApi (daemon/); tests use FakeRegistryApi (tests/) or the real one against
// crtoken-emulator.
//
// Contract for every method:
// - Thread-safe: calls for different registries may run concurrently.
// - Never throws; failures are Error values of the kinds in error.h. Retries of transient failures
//   (429, 5xx, timeouts) happen inside the implementation; an Error returned is final for this
//   call.
// - A failed read is an Error, never an empty result.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "reconciler/error.h"
#include "reconciler/password.h"
#include "reconciler/types.h"

namespace crtoken {

// The writable fields of a token, as sent on create.
struct TokenFields {
  std::string name;
  TokenStatus status = TokenStatus::kEnabled;
  std::optional<Instant> expiry;
  std::vector<Scope> scopes;
};

// The fields a PATCH changes; an absent member is left as it is.
struct TokenPatch {
  std::optional<TokenStatus> status;
  // Set: change the expiry; set to std::nullopt inside: clear it (sent as null).
  std::optional<std::optional<Instant>> expiry;
  std::optional<std::vector<Scope>> scopes;  // replaces the whole list
  bool empty() const { return !status && !expiry && !scopes; }
};

struct CreatedToken {
  ObservedToken token;
  Password password;  // returned by the API exactly once
};

class RegistryApi {
 public:
  virtual ~RegistryApi() = default;

  // The registry with this id; kNotFound when there is none. Registry reads are not cached: each
  // call asks the API (the reconcile pass resolves its registries, by name or id, from one
  // ListRegistries() per pass).
  virtual Result<RegistryInfo> GetRegistry(const std::string& registry_id) = 0;
  // Every registry of the account, across all pages: one pass resolves all its registries with this
  // one read instead of a lookup each. A failed page fails the whole list.
  virtual Result<std::vector<RegistryInfo>> ListRegistries() = 0;

  // Every token of the registry, across all pages. A failed page fails the whole list.
  virtual Result<std::vector<ObservedToken>> ListTokens(const std::string& registry_id) = 0;
  virtual Result<ObservedToken> GetToken(const std::string& registry_id,
                                         const std::string& token_id) = 0;

  // Creates a token with a caller-chosen id (PUT), so that a retried create can never make a
  // second token. kConflict when the name is taken by a token with another id.
  virtual Result<CreatedToken> CreateToken(const std::string& registry_id,
                                           const std::string& token_id,
                                           const TokenFields& fields) = 0;

  // Sends only the fields set in `patch`.
  virtual Result<ObservedToken> PatchToken(const std::string& registry_id,
                                           const std::string& token_id,
                                           const TokenPatch& patch) = 0;

  // Deleting a token that is already gone succeeds.
  virtual Status DeleteToken(const std::string& registry_id, const std::string& token_id) = 0;

  // For a graceful shutdown: no further retries or rate-limit waits. A call in progress finishes
  // its current attempt and returns; later calls fail at once with kUnavailable. Thread-safe.
  // The default does nothing.
  virtual void Shutdown() {}
};

}  // namespace crtoken
