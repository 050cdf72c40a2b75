#include "daemon/sinks/fanout_targets.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

namespace crtoken {
namespace {

using nlohmann::json;

bool StringList(const json& node, std::vector<std::string>* out) {
  if (!node.is_array()) return false;
  for (const json& item : node) {
    if (!item.is_string() || item.get<std::string>().empty()) return false;
    out->push_back(item.get<std::string>());
  }
  return true;
}

}  // namespace

std::string FanOutAnnotationValue(const SecretRef& ref) {
  if (ref.kind != SecretRef::Kind::kKubernetes || !ref.FanOut()) return "";
  json doc = json::object();
  if (ref.k8s_selector) {
    json labels = json::object();
    for (const auto& [key, value] : ref.k8s_selector->match_labels) labels[key] = value;
    json expressions = json::array();
    for (const LabelRequirement& r : ref.k8s_selector->match_expressions) {
      json e = {{"key", r.key}, {"operator", LabelOpName(r.op)}};
      if (!r.values.empty()) e["values"] = r.values;
      expressions.push_back(std::move(e));
    }
    doc["selector"] = {{"matchLabels", labels}, {"matchExpressions", expressions}};
  } else {
    doc["namespaces"] = ref.k8s_namespaces;
  }
  doc["serviceAccounts"] = ref.service_accounts;
  return doc.dump();
}

std::optional<SecretRef> FanOutPlaceFromAnnotation(const std::string& name,
                                                   const std::string& value) {
  json doc = json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object()) return std::nullopt;
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_name = name;
  if (doc.contains("serviceAccounts") &&
      !StringList(doc["serviceAccounts"], &ref.service_accounts)) {
    return std::nullopt;
  }
  if (doc.contains("selector")) {
    const json& s = doc["selector"];
    if (!s.is_object()) return std::nullopt;
    LabelSelector selector;
    if (s.contains("matchLabels")) {
      if (!s["matchLabels"].is_object()) return std::nullopt;
      for (const auto& [key, v] : s["matchLabels"].items()) {
        if (!v.is_string()) return std::nullopt;
        selector.match_labels[key] = v.get<std::string>();
      }
    }
    if (s.contains("matchExpressions")) {
      if (!s["matchExpressions"].is_array()) return std::nullopt;
      for (const json& e : s["matchExpressions"]) {
        if (!e.is_object() || !e.contains("key") || !e["key"].is_string() ||
            !e.contains("operator") || !e["operator"].is_string()) {
          return std::nullopt;
        }
        LabelRequirement r;
        r.key = e["key"].get<std::string>();
        if (!ParseLabelOp(e["operator"].get<std::string>(), &r.op)) return std::nullopt;
        if (e.contains("values") && !StringList(e["values"], &r.values)) return std::nullopt;
        selector.match_expressions.push_back(std::move(r));
      }
    }
    if (selector.match_labels.empty() && selector.match_expressions.empty()) return std::nullopt;
    selector.Normalize();
    ref.k8s_selector = std::move(selector);
  } else if (doc.contains("namespaces")) {
    if (!StringList(doc["namespaces"], &ref.k8s_namespaces) || ref.k8s_namespaces.empty()) {
      return std::nullopt;
    }
  } else {
    return std::nullopt;
  }
  std::sort(ref.k8s_namespaces.begin(), ref.k8s_namespaces.end());
  std::sort(ref.service_accounts.begin(), ref.service_accounts.end());
  return ref;
}

std::set<std::string> ParseNameSet(const std::string& value) {
  std::set<std::string> out;
  std::istringstream in(value);
  std::string name;
  while (std::getline(in, name, ',')) {
    if (!name.empty()) out.insert(name);
  }
  return out;
}

std::string NameSetValue(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

}  // namespace crtoken
