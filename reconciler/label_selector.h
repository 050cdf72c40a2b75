// Kubernetes label selectors (metav1.LabelSelector), as the API server evaluates them: a namespace
// matches when it has every matchLabels pair and satisfies every matchExpressions requirement
// (In: the key is present with one of the values; NotIn: the key is absent, or present with none of
// the values; Exists: present; DoesNotExist: absent). An empty selector matches everything. Pure:
// std only, no I/O.
#pragma once

#include <compare>
#include <map>
#include <string>
#include <vector>

namespace crtoken {

using Labels = std::map<std::string, std::string>;

struct LabelRequirement {
  enum class Op { kIn, kNotIn, kExists, kDoesNotExist };
  std::string key;
  Op op = Op::kIn;
  std::vector<std::string> values;  // sorted, unique; non-empty for In/NotIn, empty otherwise
  auto operator<=>(const LabelRequirement&) const = default;
};

// "In" | "NotIn" | "Exists" | "DoesNotExist", and back (false for anything else).
const char* LabelOpName(LabelRequirement::Op op);
bool ParseLabelOp(const std::string& text, LabelRequirement::Op* op);

struct LabelSelector {
  Labels match_labels;
  std::vector<LabelRequirement> match_expressions;  // sorted
  auto operator<=>(const LabelSelector&) const = default;

  bool Matches(const Labels& labels) const;
  // The selector in the API server's string syntax, canonical (sorted): "env=prod,team in (a,b),
  // !legacy"; "" for the empty selector.
  std::string ToString() const;
  // Sorts values and requirements, so that equal selectors compare equal.
  void Normalize();
};

// True when no set of labels can match both: some key is required by one to take values the other
// excludes (two different matchLabels values, disjoint In sets, In inside the other's NotIn, Exists
// or a value against DoesNotExist). False means they may overlap (it takes the cluster's labels to
// know).
bool ProvablyDisjoint(const LabelSelector& a, const LabelSelector& b);

}  // namespace crtoken
