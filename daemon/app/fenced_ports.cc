#include "daemon/app/fenced_ports.h"

#include <optional>

namespace crtoken {
namespace {

// The guard's verdict on a write described by `what`; nullopt when it may be sent.
std::optional<Error> Refused(const WriteGuard& guard, const std::string& what) {
  Status ok = guard();
  if (ok.ok()) return std::nullopt;
  return Error{ErrorKind::kUnavailable, "not sent (" + what + "): " + ok.error().message};
}

}  // namespace

FencedRegistryApi::FencedRegistryApi(std::unique_ptr<RegistryApi> inner, WriteGuard guard)
    : inner_(std::move(inner)), guard_(std::move(guard)) {}

Result<RegistryInfo> FencedRegistryApi::GetRegistry(const std::string& registry_id) {
  return inner_->GetRegistry(registry_id);
}

Result<std::vector<RegistryInfo>> FencedRegistryApi::ListRegistries() {
  return inner_->ListRegistries();
}

Result<std::vector<ObservedToken>> FencedRegistryApi::ListTokens(const std::string& registry_id) {
  return inner_->ListTokens(registry_id);
}

Result<ObservedToken> FencedRegistryApi::GetToken(const std::string& registry_id,
                                                  const std::string& token_id) {
  return inner_->GetToken(registry_id, token_id);
}

Result<CreatedToken> FencedRegistryApi::CreateToken(const std::string& registry_id,
                                                    const std::string& token_id,
                                                    const TokenFields& fields) {
  if (auto refused =
          Refused(guard_, "create token " + fields.name + " in registry " + registry_id)) {
    return *refused;
  }
  return inner_->CreateToken(registry_id, token_id, fields);
}

Result<ObservedToken> FencedRegistryApi::PatchToken(const std::string& registry_id,
                                                    const std::string& token_id,
                                                    const TokenPatch& patch) {
  if (auto refused = Refused(guard_, "update token " + token_id + " in registry " + registry_id)) {
    return *refused;
  }
  return inner_->PatchToken(registry_id, token_id, patch);
}

Status FencedRegistryApi::DeleteToken(const std::string& registry_id, const std::string& token_id) {
  if (auto refused = Refused(guard_, "delete token " + token_id + " in registry " + registry_id)) {
    return *refused;
  }
  return inner_->DeleteToken(registry_id, token_id);
}

void FencedRegistryApi::Shutdown() { inner_->Shutdown(); }

FencedSecretSink::FencedSecretSink(SecretSink& inner, WriteGuard guard)
    : inner_(inner), guard_(std::move(guard)) {}

Status FencedSecretSink::Write(const SecretRef& ref, const DockerCredential& credential) {
  if (auto refused = Refused(guard_, "write secret " + ref.ToString())) return *refused;
  return inner_.Write(ref, credential);
}

Result<SecretState> FencedSecretSink::Inspect(const SecretRef& ref) { return inner_.Inspect(ref); }

Status FencedSecretSink::Delete(const SecretRef& ref) {
  if (auto refused = Refused(guard_, "delete secret " + ref.ToString())) return *refused;
  return inner_.Delete(ref);
}

Result<std::vector<ListedSecret>> FencedSecretSink::List(const std::string& owner) {
  return inner_.List(owner);
}

Status FencedSecretSink::Stamp(const SecretRef& ref, const SecretRecord& record) {
  if (auto refused = Refused(guard_, "stamp secret " + ref.ToString())) return *refused;
  return inner_.Stamp(ref, record);
}

Status FencedSecretSink::Replicate(const SecretRef& ref, const SecretRecord& record) {
  if (auto refused = Refused(guard_, "replicate secret " + ref.ToString())) return *refused;
  return inner_.Replicate(ref, record);
}

// Flush makes writes already done durable; it changes nothing another replica could see.
Status FencedSecretSink::Flush() { return inner_.Flush(); }

}  // namespace crtoken
