#include "reconciler/types.h"

#include "reconciler/error.h"

namespace crtoken {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kUnauthorized:
      return "unauthorized";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kRateLimited:
      return "rate limited";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kIo:
      return "i/o";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "unknown";
}

const char* TokenStatusName(TokenStatus status) {
  return status == TokenStatus::kDisabled ? "disabled" : "enabled";
}

std::vector<std::string> SlotNames(const std::string& name) { return {name + "-a", name + "-b"}; }

std::string SourceLocation::ToString() const {
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

SecretRef SecretRef::Place() const {
  SecretRef place = *this;
  if (FanOut()) place.k8s_namespace.clear();
  return place;
}

std::string SecretRef::ToString() const {
  if (kind != Kind::kKubernetes) return "file:" + file;
  std::string where;
  if (!k8s_namespace.empty()) {
    where = k8s_namespace;
  } else if (k8s_selector) {
    where = "{" + k8s_selector->ToString() + "}";
  } else if (!k8s_namespaces.empty()) {
    for (const std::string& ns : k8s_namespaces) where += (where.empty() ? "" : ",") + ns;
    where = "[" + where + "]";
  }
  std::string out = "kubernetes:" + where + "/" + k8s_name;
  if (!service_accounts.empty()) {
    std::string sas;
    for (const std::string& sa : service_accounts) sas += (sas.empty() ? "" : ",") + sa;
    out += " +sa:" + sas;
  }
  return out;
}

}  // namespace crtoken
