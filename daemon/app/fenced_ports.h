// The fence of `crtoken run --leader-elect`, at the edges: decorators of the two ports through
// which crtoken changes anything, the RegistryApi and the SecretSink. Reads go through untouched;
// every write first asks the guard (the leader elector's CheckLeading: "this replica holds the
// Lease, renewed within the renew deadline, now") and is not sent when the answer is no.
//
// A refused write is an Error of kind kUnavailable, "not sent (WHAT): WHY", returned exactly where
// the inner port's own failure would be: the reconcile pass treats it as any failed action (the
// others of the pass go on, the pass is not converged and is retried). Nothing is lost: a token
// whose create was sent keeps its password in the reconciler's memory when its secret write is
// refused, as when a sink is down.
//
// One port call may send several requests (the Secret sink reads a Secret before it writes it;
// the API client retries), so the same guard is also given to the adapters, which ask it again
// right before each write request leaves (HttpRegistryApiConfig::before_write,
// KubernetesSinkOptions::before_write; MakeRuntime wires all three): a replica paused in the
// middle of a call sends nothing when it resumes. What no client-side fence can stop is a request
// already sent, or one whose check passed an instant before the process froze: the margin between
// the renew deadline and the lease duration is there for those (docs/operations.md).
//
// Contract: that of the decorated ports (thread-safe, never throws); the guard is called on the
// writer's thread at the instant of each write and must be cheap and thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "reconciler/error.h"
#include "reconciler/registry_api.h"
#include "reconciler/secret_sink.h"

namespace crtoken {

// Ok when a write may be sent now; else why not (the error's message is quoted).
using WriteGuard = std::function<Status()>;

class FencedRegistryApi : public RegistryApi {
 public:
  FencedRegistryApi(std::unique_ptr<RegistryApi> inner, WriteGuard guard);

  Result<RegistryInfo> GetRegistry(const std::string& registry_id) override;
  Result<std::vector<RegistryInfo>> ListRegistries() override;
  Result<std::vector<ObservedToken>> ListTokens(const std::string& registry_id) override;
  Result<ObservedToken> GetToken(const std::string& registry_id,
                                 const std::string& token_id) override;
  Result<CreatedToken> CreateToken(const std::string& registry_id, const std::string& token_id,
                                   const TokenFields& fields) override;
  Result<ObservedToken> PatchToken(const std::string& registry_id, const std::string& token_id,
                                   const TokenPatch& patch) override;
  Status DeleteToken(const std::string& registry_id, const std::string& token_id) override;
  void Shutdown() override;

 private:
  std::unique_ptr<RegistryApi> inner_;
  WriteGuard guard_;
};

class FencedSecretSink : public SecretSink {
 public:
  // `inner` must outlive the decorator.
  FencedSecretSink(SecretSink& inner, WriteGuard guard);

  Status Write(const SecretRef& ref, const DockerCredential& credential) override;
  Result<SecretState> Inspect(const SecretRef& ref) override;
  Status Delete(const SecretRef& ref) override;
  Result<std::vector<ListedSecret>> List(const std::string& owner) override;
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override;
  Status Replicate(const SecretRef& ref, const SecretRecord& record) override;
  Status Flush() override;

 private:
  SecretSink& inner_;
  WriteGuard guard_;
};

}  // namespace crtoken
