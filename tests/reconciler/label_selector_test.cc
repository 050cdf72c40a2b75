// Label selectors as the Kubernetes API server evaluates them, their canonical text, and the static
// disjointness check the spec loader uses for two selectors writing one Secret name.
#include "reconciler/label_selector.h"

#include <gtest/gtest.h>

#include "reconciler/types.h"

namespace crtoken {
namespace {

using Op = LabelRequirement::Op;

LabelSelector Sel(Labels match, std::vector<LabelRequirement> expressions = {}) {
  LabelSelector s{std::move(match), std::move(expressions)};
  s.Normalize();
  return s;
}

TEST(LabelSelector, MatchesWithKubernetesSemantics) {
  const LabelSelector s = Sel({{"env", "prod"}}, {{"team", Op::kIn, {"a", "b"}},
                                                  {"tier", Op::kNotIn, {"legacy"}},
                                                  {"pull", Op::kExists, {}},
                                                  {"frozen", Op::kDoesNotExist, {}}});
  EXPECT_TRUE(s.Matches({{"env", "prod"}, {"team", "a"}, {"pull", ""}}));
  EXPECT_TRUE(s.Matches({{"env", "prod"}, {"team", "b"}, {"pull", "x"}, {"tier", "web"}}));
  EXPECT_FALSE(s.Matches({{"env", "dev"}, {"team", "a"}, {"pull", ""}}));   // matchLabels
  EXPECT_FALSE(s.Matches({{"env", "prod"}, {"team", "c"}, {"pull", ""}}));  // In
  EXPECT_FALSE(s.Matches({{"env", "prod"}, {"pull", ""}}));                 // In: absent
  EXPECT_FALSE(s.Matches({{"env", "prod"}, {"team", "a"}}));                // Exists
  EXPECT_FALSE(s.Matches({{"env", "prod"}, {"team", "a"}, {"pull", ""}, {"tier", "legacy"}}));
  EXPECT_FALSE(s.Matches({{"env", "prod"}, {"team", "a"}, {"pull", ""}, {"frozen", "1"}}));
  EXPECT_TRUE(Sel({}, {{"tier", Op::kNotIn, {"legacy"}}}).Matches({}));  // NotIn: absent matches
}

TEST(LabelSelector, ToStringIsCanonical) {
  LabelSelector a = Sel({{"env", "prod"}}, {{"team", Op::kIn, {"b", "a", "a"}},
                                            {"frozen", Op::kDoesNotExist, {}},
                                            {"pull", Op::kExists, {}}});
  EXPECT_EQ(a.ToString(), "env=prod,!frozen,pull,team in (a,b)");
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_name = "pull";
  ref.k8s_selector = Sel({{"env", "prod"}});
  ref.service_accounts = {"builder", "default"};
  EXPECT_EQ(ref.ToString(), "kubernetes:{env=prod}/pull +sa:builder,default");
  ref.k8s_selector.reset();
  ref.k8s_namespaces = {"team-a", "team-b"};
  ref.service_accounts.clear();
  EXPECT_EQ(ref.ToString(), "kubernetes:[team-a,team-b]/pull");
  EXPECT_TRUE(ref.FanOut());
  SecretRef copy = ref;
  copy.k8s_namespace = "team-a";
  EXPECT_EQ(copy.Place(), ref);
}

TEST(LabelSelector, ProvablyDisjointOnlyWhenNoLabelsCanMatchBoth) {
  EXPECT_TRUE(ProvablyDisjoint(Sel({{"env", "prod"}}), Sel({{"env", "dev"}})));
  EXPECT_TRUE(ProvablyDisjoint(Sel({}, {{"env", Op::kIn, {"a", "b"}}}),
                               Sel({}, {{"env", Op::kIn, {"c"}}})));
  EXPECT_TRUE(ProvablyDisjoint(Sel({{"env", "a"}}), Sel({}, {{"env", Op::kNotIn, {"a"}}})));
  EXPECT_TRUE(ProvablyDisjoint(Sel({}, {{"pull", Op::kExists, {}}}),
                               Sel({}, {{"pull", Op::kDoesNotExist, {}}})));
  EXPECT_TRUE(ProvablyDisjoint(Sel({{"pull", "yes"}}), Sel({}, {{"pull", Op::kDoesNotExist, {}}})));

  EXPECT_FALSE(ProvablyDisjoint(Sel({{"env", "prod"}}), Sel({{"team", "a"}})));
  EXPECT_FALSE(ProvablyDisjoint(Sel({{"env", "prod"}}), Sel({{"env", "prod"}})));
  EXPECT_FALSE(ProvablyDisjoint(Sel({}, {{"env", Op::kNotIn, {"a"}}}),
                                Sel({}, {{"env", Op::kNotIn, {"b"}}})));
  EXPECT_FALSE(ProvablyDisjoint(Sel({}, {{"env", Op::kIn, {"a", "b"}}}),
                                Sel({}, {{"env", Op::kNotIn, {"a"}}})));
  EXPECT_FALSE(ProvablyDisjoint(Sel({}, {{"pull", Op::kExists, {}}}), Sel({{"pull", "x"}})));
}

}  // namespace
}  // namespace crtoken
