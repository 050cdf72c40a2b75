#include "reconciler/reconciler.h"

namespace crtoken {

Reconciler::Reconciler(RegistryApi& api, SecretSink& sink, StateStore& state, const Clock& clock,
                       Metrics* metrics, ReconcilerConfig config)
    : api_(api),
      sink_(sink),
      state_(state),
      clock_(clock),
      metrics_(metrics),
      config_(std::move(config)) {}

PassResult Reconciler::Reconcile(const DesiredState& desired,
                                 const std::vector<std::string>& registry_refs) {
  PassResult result;
  result.errors.push_back("reconciler: not implemented yet");
  return result;
}

Result<std::vector<std::string>> Reconciler::RegistryRefs(const DesiredState& desired) {
  return Error{ErrorKind::kInternal, "not implemented yet"};
}

int Reconciler::HeldPasswords() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(held_.size());
}

}  // namespace crtoken
