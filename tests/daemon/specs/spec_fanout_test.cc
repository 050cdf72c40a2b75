// spec.secret.kubernetes with namespaces, namespaceSelector and serviceAccounts: what the loader
// makes of them, and which two specs may write one Secret name (the bad corpus holds the errors
// with their exact text: corpus/bad/fanout-*).
#include <gtest/gtest.h>

#include <string>

#include "daemon/specs/spec_loader.h"
#include "daemon/specs/spec_validator.h"

namespace crtoken {
namespace {

std::string Doc(const std::string& name, const std::string& kubernetes) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme\n  scopes:\n    - {name: \"*\", type: repository, actions: "
         "[pull]}\n  secret:\n    kubernetes:\n" +
         kubernetes;
}

TEST(SpecFanOut, ASelectorIsParsedNormalizedAndCarriesItsServiceAccounts) {
  FileSpecs file = ParseSpecText(
      Doc("puller",
          "      name: pull\n      namespaceSelector:\n        matchLabels: {env: prod}\n"
          "        matchExpressions:\n          - {key: team, operator: In, values: [b, a]}\n"
          "          - {key: legacy, operator: DoesNotExist}\n"
          "      serviceAccounts: [default, builder]\n"),
      "f.yaml");
  ASSERT_TRUE(file.errors.empty()) << file.errors[0].message;
  ASSERT_EQ(file.specs.size(), 1u);
  const SecretRef& ref = file.specs[0].secret;
  EXPECT_EQ(ref.kind, SecretRef::Kind::kKubernetes);
  EXPECT_TRUE(ref.FanOut());
  EXPECT_TRUE(ref.k8s_namespace.empty());
  ASSERT_TRUE(ref.k8s_selector);
  EXPECT_EQ(ref.k8s_selector->ToString(), "env=prod,!legacy,team in (a,b)");
  EXPECT_EQ(ref.service_accounts, (std::vector<std::string>{"builder", "default"}));
  EXPECT_TRUE(ref.k8s_selector->Matches({{"env", "prod"}, {"team", "a"}}));
  EXPECT_FALSE(ref.k8s_selector->Matches({{"env", "prod"}, {"team", "a"}, {"legacy", ""}}));
}

TEST(SpecFanOut, AListIsSortedAndADuplicateIsAnError) {
  FileSpecs file =
      ParseSpecText(Doc("puller", "      name: pull\n      namespaces: [team-b, team-a]\n"), "f");
  ASSERT_TRUE(file.errors.empty());
  EXPECT_EQ(file.specs[0].secret.k8s_namespaces, (std::vector<std::string>{"team-a", "team-b"}));
  EXPECT_EQ(file.specs[0].secret.ToString(), "kubernetes:[team-a,team-b]/pull");

  file = ParseSpecText(Doc("puller", "      name: pull\n      namespaces: [team-a, team-a]\n"),
                       "f.yaml");
  ASSERT_EQ(file.errors.size(), 1u);
  EXPECT_EQ(file.errors[0].ToString(),
            "f.yaml:12:28: spec.secret.kubernetes.namespaces[1]: duplicate namespace \"team-a\" "
            "(first at 12:20)");
}

TEST(SpecFanOut, ANamespaceStillNamesOneSecret) {
  FileSpecs file =
      ParseSpecText(Doc("puller", "      namespace: apps\n      name: pull\n"), "f.yaml");
  ASSERT_TRUE(file.errors.empty());
  EXPECT_FALSE(file.specs[0].secret.FanOut());
  EXPECT_EQ(file.specs[0].secret.ToString(), "kubernetes:apps/pull");
}

FileSpecs One(const std::string& file, const std::string& name, const std::string& kubernetes) {
  return ParseSpecText(Doc(name, kubernetes), file);
}

TEST(SpecFanOut, TwoSpecsShareASecretNameOnlyOverProvablyDisjointTargets) {
  // Disjoint: two lists without a common namespace, and a namespace in neither; two selectors
  // that require different values of one label (with another Secret name: a selector and a list
  // with the same name always may overlap).
  SpecSet ok = MergeFiles({One("a.yaml", "tok-a", "      name: pull\n      namespaces: [x, y]\n"),
                           One("b.yaml", "tok-b", "      name: pull\n      namespaces: [z]\n"),
                           One("c.yaml", "tok-c", "      name: pull\n      namespace: w\n"),
                           One("d.yaml", "tok-d",
                               "      name: pull-sel\n      namespaceSelector:\n"
                               "        matchLabels: {env: prod}\n"),
                           One("e.yaml", "tok-e",
                               "      name: pull-sel\n      namespaceSelector:\n"
                               "        matchExpressions: [{key: env, operator: In, values: "
                               "[dev, test]}]\n")});
  for (const SpecError& e : ok.errors) ADD_FAILURE() << e.ToString();
  EXPECT_EQ(ok.specs.size(), 5u);

  // Overlapping: a namespace both lists name; a namespace inside a list; two selectors that can
  // both match.
  SpecSet lists =
      MergeFiles({One("a.yaml", "tok-a", "      name: pull\n      namespaces: [x, y]\n"),
                  One("b.yaml", "tok-b", "      name: pull\n      namespaces: [y, z]\n")});
  ASSERT_EQ(lists.errors.size(), 2u);
  EXPECT_NE(lists.errors[0].message.find("both name namespace y"), std::string::npos)
      << lists.errors[0].message;
  EXPECT_EQ(lists.specs.size(), 0u);
  SpecSet single =
      MergeFiles({One("a.yaml", "tok-a", "      name: pull\n      namespaces: [x, y]\n"),
                  One("b.yaml", "tok-b", "      name: pull\n      namespace: x\n")});
  EXPECT_EQ(single.errors.size(), 2u);
  SpecSet selectors =
      MergeFiles({One("a.yaml", "tok-a",
                      "      name: pull\n      namespaceSelector: {matchLabels: {env: a}}\n"),
                  One("b.yaml", "tok-b",
                      "      name: pull\n      namespaceSelector: {matchLabels: {team: b}}\n")});
  ASSERT_EQ(selectors.errors.size(), 2u);
  EXPECT_NE(selectors.errors[0].message.find("can match the same namespace"), std::string::npos)
      << selectors.errors[0].message;
  // Another name never overlaps.
  SpecSet names = MergeFiles({One("a.yaml", "tok-a", "      name: one\n      namespaces: [x]\n"),
                              One("b.yaml", "tok-b", "      name: two\n      namespaces: [x]\n")});
  EXPECT_TRUE(names.errors.empty());
}

}  // namespace
}  // namespace crtoken
