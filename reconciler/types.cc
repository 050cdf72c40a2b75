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

std::string SecretRef::ToString() const {
  if (kind == Kind::kKubernetes) return "kubernetes:" + k8s_namespace + "/" + k8s_name;
  return "file:" + file;
}

}  // namespace crtoken
