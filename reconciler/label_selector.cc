#include "reconciler/label_selector.h"

#include <algorithm>
#include <optional>
#include <set>

namespace crtoken {
namespace {

// What a selector allows for one key: absent or not, and (when present) which values; nullopt
// values = any value.
struct KeyConstraint {
  bool may_be_absent = true;
  bool may_be_present = true;
  std::optional<std::set<std::string>> allowed;  // when present
  std::set<std::string> excluded;                // when present
};

KeyConstraint ConstraintOf(const LabelSelector& s, const std::string& key) {
  KeyConstraint c;
  auto restrict_to = [&c](const std::set<std::string>& values) {
    if (!c.allowed) {
      c.allowed = values;
      return;
    }
    std::set<std::string> both;
    std::set_intersection(c.allowed->begin(), c.allowed->end(), values.begin(), values.end(),
                          std::inserter(both, both.begin()));
    c.allowed = std::move(both);
  };
  if (auto it = s.match_labels.find(key); it != s.match_labels.end()) {
    c.may_be_absent = false;
    restrict_to({it->second});
  }
  for (const LabelRequirement& r : s.match_expressions) {
    if (r.key != key) continue;
    const std::set<std::string> values(r.values.begin(), r.values.end());
    switch (r.op) {
      case LabelRequirement::Op::kIn:
        c.may_be_absent = false;
        restrict_to(values);
        break;
      case LabelRequirement::Op::kNotIn:
        c.excluded.insert(values.begin(), values.end());
        break;
      case LabelRequirement::Op::kExists:
        c.may_be_absent = false;
        break;
      case LabelRequirement::Op::kDoesNotExist:
        c.may_be_present = false;
        break;
    }
  }
  return c;
}

std::string Join(const std::vector<std::string>& values) {
  std::string out;
  for (const std::string& v : values) out += (out.empty() ? "" : ",") + v;
  return out;
}

}  // namespace

const char* LabelOpName(LabelRequirement::Op op) {
  switch (op) {
    case LabelRequirement::Op::kIn:
      return "In";
    case LabelRequirement::Op::kNotIn:
      return "NotIn";
    case LabelRequirement::Op::kExists:
      return "Exists";
    case LabelRequirement::Op::kDoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

bool ParseLabelOp(const std::string& text, LabelRequirement::Op* op) {
  for (auto candidate : {LabelRequirement::Op::kIn, LabelRequirement::Op::kNotIn,
                         LabelRequirement::Op::kExists, LabelRequirement::Op::kDoesNotExist}) {
    if (text == LabelOpName(candidate)) {
      *op = candidate;
      return true;
    }
  }
  return false;
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  for (const LabelRequirement& r : match_expressions) {
    auto it = labels.find(r.key);
    const bool present = it != labels.end();
    const bool listed =
        present && std::find(r.values.begin(), r.values.end(), it->second) != r.values.end();
    switch (r.op) {
      case LabelRequirement::Op::kIn:
        if (!listed) return false;
        break;
      case LabelRequirement::Op::kNotIn:
        if (listed) return false;
        break;
      case LabelRequirement::Op::kExists:
        if (!present) return false;
        break;
      case LabelRequirement::Op::kDoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

std::string LabelSelector::ToString() const {
  std::vector<std::string> parts;
  for (const auto& [key, value] : match_labels) parts.push_back(key + "=" + value);
  for (const LabelRequirement& r : match_expressions) {
    switch (r.op) {
      case LabelRequirement::Op::kIn:
        parts.push_back(r.key + " in (" + Join(r.values) + ")");
        break;
      case LabelRequirement::Op::kNotIn:
        parts.push_back(r.key + " notin (" + Join(r.values) + ")");
        break;
      case LabelRequirement::Op::kExists:
        parts.push_back(r.key);
        break;
      case LabelRequirement::Op::kDoesNotExist:
        parts.push_back("!" + r.key);
        break;
    }
  }
  return Join(parts);
}

void LabelSelector::Normalize() {
  for (LabelRequirement& r : match_expressions) {
    std::sort(r.values.begin(), r.values.end());
    r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  }
  std::sort(match_expressions.begin(), match_expressions.end());
  match_expressions.erase(std::unique(match_expressions.begin(), match_expressions.end()),
                          match_expressions.end());
}

bool ProvablyDisjoint(const LabelSelector& a, const LabelSelector& b) {
  std::set<std::string> keys;
  for (const LabelSelector* s : {&a, &b}) {
    for (const auto& [key, _] : s->match_labels) keys.insert(key);
    for (const LabelRequirement& r : s->match_expressions) keys.insert(r.key);
  }
  for (const std::string& key : keys) {
    const KeyConstraint ca = ConstraintOf(a, key);
    const KeyConstraint cb = ConstraintOf(b, key);
    if (ca.may_be_absent && cb.may_be_absent) continue;  // both match a namespace without the key
    if (!(ca.may_be_present && cb.may_be_present)) return true;
    // Both need the key present: is there a value both accept?
    if (!ca.allowed && !cb.allowed) continue;  // any value but finitely many exclusions
    std::set<std::string> candidates;
    if (ca.allowed && cb.allowed) {
      std::set_intersection(ca.allowed->begin(), ca.allowed->end(), cb.allowed->begin(),
                            cb.allowed->end(), std::inserter(candidates, candidates.begin()));
    } else {
      candidates = ca.allowed ? *ca.allowed : *cb.allowed;
    }
    const bool some_value = std::any_of(candidates.begin(), candidates.end(), [&](auto& v) {
      return !ca.excluded.count(v) && !cb.excluded.count(v);
    });
    if (!some_value) return true;
  }
  return false;
}

}  // namespace crtoken
