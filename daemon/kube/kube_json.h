// Reading fields of the API server's JSON objects, for the Kubernetes clients (the Secret sinks,
// the Lease lock).
#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>

namespace crtoken {

// The string at `path` in `obj` (e.g. {"metadata", "annotations", "crtoken.io/token-id"}); "" when
// a step is missing or not an object, or the value is not a string.
inline std::string JsonStringAt(const nlohmann::json& obj,
                                std::initializer_list<const char*> path) {
  const nlohmann::json* node = &obj;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return "";
    node = &(*node)[key];
  }
  return node->is_string() ? node->get<std::string>() : "";
}

}  // namespace crtoken
