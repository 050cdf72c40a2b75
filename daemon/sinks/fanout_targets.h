// How a copy of a fan-out Secret says which fan-out place it belongs to (SecretRef::FanOut): the
// annotation crtoken.io/fan-out holds the place's target set and ServiceAccounts as canonical JSON,
//   {"namespaces":["a","b"],"serviceAccounts":["default"]}
//   {"selector":{"matchExpressions":[{"key":"tier","operator":"In","values":["x"]}],
//                "matchLabels":{"env":"prod"}},"serviceAccounts":[]}
// so that the copies are read back as that one place (SecretSink::List), and a copy is only ever
// deleted for the place it records. A Secret without it is a single Secret of its own.
// ServiceAccounts record the imagePullSecrets entries crtoken added in the annotation
// crtoken.io/image-pull-secrets (sorted names, comma-separated), so that crtoken removes its own
// entries and never another's. Pure: no I/O.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "reconciler/types.h"

namespace crtoken {

inline constexpr char kFanOutAnnotation[] = "crtoken.io/fan-out";
inline constexpr char kPullSecretsAnnotation[] = "crtoken.io/image-pull-secrets";

// The annotation's value for a fan-out ref ("" for any other).
std::string FanOutAnnotationValue(const SecretRef& ref);

// The fan-out place (k8s_namespace empty) a copy named `name` records in `value`; nullopt when the
// value is not one FanOutAnnotationValue writes.
std::optional<SecretRef> FanOutPlaceFromAnnotation(const std::string& name,
                                                   const std::string& value);

// The names in a crtoken.io/image-pull-secrets value, and back.
std::set<std::string> ParseNameSet(const std::string& value);
std::string NameSetValue(const std::set<std::string>& names);

}  // namespace crtoken
