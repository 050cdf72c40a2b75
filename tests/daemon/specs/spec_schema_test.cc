// manifests/crtoken-spec.schema.json, the editors' view of the spec language, must say what the
// loader enforces: same fields, enums and patterns.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "daemon/specs/spec_loader.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

using nlohmann::json;

json LoadSchema() {
  std::ifstream in(std::string(CRTOKEN_SOURCE_DIR) + "/manifests/crtoken-spec.schema.json");
  return json::parse(in);  // throws (and fails the test) on invalid JSON
}

template <std::size_t N>
std::set<std::string> Set(const std::array<const char*, N>& items) {
  return {items.begin(), items.end()};
}

std::set<std::string> Keys(const json& object) {
  std::set<std::string> out;
  for (const auto& [key, value] : object.items()) out.insert(key);
  return out;
}

std::set<std::string> Strings(const json& array) {
  std::set<std::string> out;
  for (const auto& v : array) out.insert(v.get<std::string>());
  return out;
}

TEST(SpecSchema, IsValidJsonOfAKnownDraft) {
  json schema;
  ASSERT_NO_THROW(schema = LoadSchema());
  EXPECT_EQ(schema.at("$schema"), "http://json-schema.org/draft-07/schema#");
  EXPECT_EQ(schema.at("type"), "object");
}

TEST(SpecSchema, FieldsMatchTheLoader) {
  const json schema = LoadSchema();
  const json& spec = schema.at("properties").at("spec");
  const json& scope = schema.at("definitions").at("scope");
  const json& secret = schema.at("definitions").at("secret");
  const json& kubernetes = secret.at("properties").at("kubernetes");
  EXPECT_EQ(Keys(schema.at("properties")), Set(kSpecDocumentFields));
  EXPECT_EQ(Keys(schema.at("properties").at("metadata").at("properties")),
            Set(kSpecMetadataFields));
  EXPECT_EQ(Keys(spec.at("properties")), Set(kSpecSpecFields));
  EXPECT_EQ(Keys(scope.at("properties")), Set(kSpecScopeFields));
  EXPECT_EQ(Keys(secret.at("properties")), Set(kSpecSecretFields));
  EXPECT_EQ(Keys(kubernetes.at("properties")), Set(kSpecKubernetesFields));
  // Strict at every level, as the loader is.
  for (const json* object :
       {&schema, &schema.at("properties").at("metadata"), &spec, &scope, &secret, &kubernetes}) {
    EXPECT_EQ(object->at("additionalProperties"), false);
  }
  EXPECT_EQ(Strings(scope.at("required")), Set(kSpecScopeFields));
  // A name, and one target set of three (a namespace, a list, a selector).
  EXPECT_EQ(Strings(kubernetes.at("required")), std::set<std::string>{"name"});
  std::set<std::string> targets;
  for (const json& choice : kubernetes.at("oneOf")) {
    for (const std::string& field : Strings(choice.at("required"))) targets.insert(field);
  }
  EXPECT_EQ(targets, (std::set<std::string>{"namespace", "namespaces", "namespaceSelector"}));
  const json& selector = kubernetes.at("properties").at("namespaceSelector");
  EXPECT_EQ(Keys(selector.at("properties")), Set(kSpecSelectorFields));
  const json& expression = selector.at("properties").at("matchExpressions").at("items");
  EXPECT_EQ(Keys(expression.at("properties")), Set(kSpecExpressionFields));
  EXPECT_EQ(Strings(expression.at("properties").at("operator").at("enum")),
            Set(kSpecSelectorOperators));
}

TEST(SpecSchema, EnumsAndPatternsMatchTheLoader) {
  const json schema = LoadSchema();
  const json& props = schema.at("properties");
  const json& spec = props.at("spec").at("properties");
  const json& scope = schema.at("definitions").at("scope").at("properties");
  const json& kubernetes =
      schema.at("definitions").at("secret").at("properties").at("kubernetes").at("properties");
  EXPECT_EQ(Strings(props.at("apiVersion").at("enum")), std::set<std::string>{kSpecApiVersion});
  EXPECT_EQ(Strings(props.at("kind").at("enum")), std::set<std::string>{kSpecKind});
  EXPECT_EQ(props.at("metadata").at("properties").at("name").at("pattern"), kTokenNamePattern);
  EXPECT_EQ(spec.at("registry").at("pattern"), kRegistryNamePattern);
  EXPECT_EQ(spec.at("registryId").at("pattern"), kUuidPattern);
  EXPECT_EQ(Strings(spec.at("status").at("enum")), Set(kSpecStatusValues));
  EXPECT_EQ(spec.at("status").at("default"), "enabled");
  EXPECT_EQ(spec.at("adopt").at("default"), false);
  EXPECT_EQ(Strings(scope.at("type").at("enum")), Set(kSpecScopeTypes));
  EXPECT_EQ(Strings(scope.at("actions").at("items").at("enum")), Set(kSpecScopeActions));
  EXPECT_EQ(kubernetes.at("namespace").at("pattern"), kDns1123LabelPattern);
  EXPECT_EQ(kubernetes.at("name").at("pattern"), kDns1123SubdomainPattern);
}

// The schema's secret path pattern (ECMAScript, as editors run it) accepts exactly what the
// loader accepts, on a list of tricky paths.
TEST(SpecSchema, SecretFilePatternAgreesWithTheLoader) {
  const json schema = LoadSchema();
  const std::regex pattern(schema.at("definitions")
                               .at("secret")
                               .at("properties")
                               .at("file")
                               .at("pattern")
                               .get<std::string>(),
                           std::regex::ECMAScript);
  for (const std::string path :
       {"a.json", "a/b.json",  "deep/er/c.json", ".hidden.json", "a..b",   "..x",  "x..",
        "a.",     "-",         "/a.json",        "../a.json",    "a/../b", "a/..", "..",
        ".",      "./a",       "a/./b",          "a/.",          "a//b",   "a/",   "//a",
        "",       "tab\there", "with space.json"}) {
    const std::string doc =
        "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata: {name: ab}\n"
        "spec:\n  registry: acme-prod\n  scopes: [{name: x, type: registry, actions: [pull]}]\n"
        "  secret: {file: \"" +
        std::string(path == "tab\there" ? "tab\\there" : path) + "\"}\n";
    const FileSpecs out = ParseSpecText(doc, "f.yaml");
    const bool loader = out.ok();
    const bool editor = std::regex_match(path, pattern);
    EXPECT_EQ(editor, loader) << "path \"" << path
                              << "\": " << (out.ok() ? "" : out.errors[0].ToString());
  }
}

// The expiryDate pattern (for editors without a date-time format checker) accepts what
// ParseRfc3339 accepts; only calendar checks (February 30) are beyond a pattern.
TEST(SpecSchema, ExpiryPatternAgreesWithTheDateParser) {
  const json schema = LoadSchema();
  const std::regex pattern(schema.at("properties")
                               .at("spec")
                               .at("properties")
                               .at("expiryDate")
                               .at("pattern")
                               .get<std::string>(),
                           std::regex::ECMAScript);
  for (const std::string date :
       {"2027-06-30T00:00:00Z", "2027-06-30t00:00:00z", "2027-06-30T02:00:00+02:00",
        "2027-06-30T00:00:00.123456Z", "2027-06-30T00:00:00-05:30", "2027-06-30",
        "2027-06-30T00:00", "2027-06-30T00:00:00", "2027-06-30 00:00:00Z", "27-06-30T00:00:00Z",
        "2027-06-30T00:00:00+0200", "tomorrow", ""}) {
    EXPECT_EQ(std::regex_match(date, pattern), ParseRfc3339(date).has_value()) << date;
  }
  EXPECT_TRUE(std::regex_match(std::string("2027-02-30T00:00:00Z"), pattern));
  EXPECT_FALSE(ParseRfc3339("2027-02-30T00:00:00Z").has_value());
}

}  // namespace
}  // namespace crtoken
