// The annotation a copy of a fan-out Secret carries reads back as exactly its place; anything else
// is no place at all.
#include "daemon/sinks/fanout_targets.h"

#include <gtest/gtest.h>

namespace crtoken {
namespace {

TEST(FanOutTargets, TheAnnotationReadsBackAsThePlace) {
  SecretRef selector;
  selector.kind = SecretRef::Kind::kKubernetes;
  selector.k8s_name = "pull";
  selector.k8s_selector = LabelSelector{{{"env", "prod"}},
                                        {{"team", LabelRequirement::Op::kIn, {"a", "b"}},
                                         {"legacy", LabelRequirement::Op::kDoesNotExist, {}}}};
  selector.k8s_selector->Normalize();
  selector.service_accounts = {"builder", "default"};
  SecretRef list;
  list.kind = SecretRef::Kind::kKubernetes;
  list.k8s_name = "pull";
  list.k8s_namespaces = {"a", "b"};
  for (const SecretRef& place : {selector, list}) {
    const std::string value = FanOutAnnotationValue(place);
    auto back = FanOutPlaceFromAnnotation("pull", value);
    ASSERT_TRUE(back) << value;
    EXPECT_EQ(*back, place) << value;
    SecretRef copy = place;
    copy.k8s_namespace = "a";
    EXPECT_EQ(FanOutAnnotationValue(copy), value);  // every copy records the same place
  }
  SecretRef single;
  single.kind = SecretRef::Kind::kKubernetes;
  single.k8s_namespace = "ns";
  single.k8s_name = "pull";
  EXPECT_EQ(FanOutAnnotationValue(single), "");
}

TEST(FanOutTargets, AnythingElseIsNoPlace) {
  for (const char* value : {"", "x", "[]", "{}", R"({"namespaces":[]})", R"({"namespaces":[1]})",
                            R"({"selector":{}})", R"({"selector":{"matchExpressions":[{"key":"a",
                            "operator":"Equals"}]}})"}) {
    EXPECT_FALSE(FanOutPlaceFromAnnotation("pull", value)) << value;
  }
  EXPECT_EQ(ParseNameSet("b,a,,b"), (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(NameSetValue({"b", "a"}), "a,b");
}

}  // namespace
}  // namespace crtoken
