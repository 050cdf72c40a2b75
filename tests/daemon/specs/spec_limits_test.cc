// Limits of the spec loader that keep bad input cheap: nesting depth (checked before yaml-cpp
// sees the text), alias expansion, and secret files that would need one path as both a file and
// a directory.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "daemon/specs/spec_loader.h"
#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::TempDir;
using test::WriteFile;

std::vector<std::string> ErrorStrings(const std::vector<SpecError>& errors) {
  std::vector<std::string> out;
  for (const SpecError& e : errors) out.push_back(e.ToString());
  return out;
}

std::string Doc(const std::string& name, const std::string& secret,
                const std::string& scopes = "[{name: \"*\", type: repository, actions: [pull]}]") {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme-prod\n  scopes: " + scopes +
         "\n  secret:\n    file: " + secret + "\n";
}

std::string TooDeep() {
  return "YAML nesting too deep: more than " + std::to_string(kMaxYamlDepth) +
         " levels (collections inside collections)";
}

bool MentionsNesting(const FileSpecs& out) {
  for (const SpecError& e : out.errors) {
    if (e.message.find("nesting") != std::string::npos) return true;
  }
  return false;
}

// --- Nesting ------------------------------------------------------------------------------------

TEST(NestingLimit, FlowCollectionsCountEachLevelUpToTheLimit) {
  // The document's mapping is one level; 63 brackets inside it make 64: allowed (the unclosed
  // brackets are an ordinary syntax error).
  FileSpecs ok = ParseSpecText("a: " + std::string(63, '['), "f.yaml");
  EXPECT_FALSE(MentionsNesting(ok)) << ::testing::PrintToString(ErrorStrings(ok.errors));
  // One more is refused at that bracket, mixing both kinds of brackets.
  std::string deep = "a: ";
  for (int i = 0; i < 70; ++i) deep += i % 2 ? "{x: " : "[";
  FileSpecs out = ParseSpecText(deep, "f.yaml");
  ASSERT_EQ(out.errors.size(), 1u);
  // The 64th opener: 32 '[' and 31 "{x: " before it, after "a: ".
  EXPECT_EQ(out.errors[0].ToString(),
            "f.yaml:1:" + std::to_string(3 + 32 + 31 * 4 + 1) + ": " + TooDeep());
}

TEST(NestingLimit, CompactBlockEntriesAndIndentationCount) {
  // "- - - x": each entry is a level, and so is the scalar.
  std::string dashes;
  for (int i = 0; i < 63; ++i) dashes += "- ";
  EXPECT_TRUE(ParseSpecText(dashes + "x\n", "f.yaml").errors.size() == 1u);  // a list, not ours
  EXPECT_FALSE(MentionsNesting(ParseSpecText(dashes + "x\n", "f.yaml")));
  FileSpecs out = ParseSpecText("- " + dashes + "x\n", "f.yaml");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].ToString(), "f.yaml:1:129: " + TooDeep());

  // Each more-indented line opens a level: line 65 is the 65th.
  std::string indented;
  for (int i = 0; i < 100; ++i) indented += std::string(i, ' ') + "k" + std::to_string(i) + ":\n";
  out = ParseSpecText(indented, "f.yaml");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].ToString(), "f.yaml:65:65: " + TooDeep());

  // Lines that go back out close their levels: a long but shallow file is fine.
  std::string shallow;
  for (int i = 0; i < 1000; ++i) shallow += "k" + std::to_string(i) + ":\n  - - x\n";
  EXPECT_FALSE(MentionsNesting(ParseSpecText(shallow, "f.yaml")));
}

TEST(NestingLimit, QuotedScalarsCommentsAndBlockScalarsDoNotCount) {
  const std::string brackets(500, '[');
  const std::string braces(500, '{');
  // Another API group's document with deep-looking text in every place where it is just text,
  // then a RegistryToken: both are read, the token is valid.
  const std::string config =
      "apiVersion: v1\nkind: ConfigMap\ndata:\n"
      "  double: \"" +
      brackets + "\\\"" + braces +
      "\"\n"
      "  single: '" +
      brackets + "''" + braces +
      "'\n"
      "  multi: \"" +
      brackets + "\n    " + braces +
      "\"\n"
      "  plain: x" +
      brackets +
      "\n"
      "  # " +
      brackets +
      "\n"
      "  literal: |\n    " +
      brackets + "\n\n    " + braces + "\n" + std::string(100, ' ') +
      "deep\n"
      "  folded: >-\n    " +
      braces +
      "\n"
      "  flow: [\"" +
      brackets + "\", '" + braces + "', {\"k\":\"" + brackets +
      "\"}]\n"
      "---\n" +
      Doc("ci-push", "ci.json");
  const FileSpecs out = ParseSpecText(config, "f.yaml");
  EXPECT_TRUE(out.ok()) << ::testing::PrintToString(ErrorStrings(out.errors));
  ASSERT_EQ(out.specs.size(), 1u);
  EXPECT_EQ(out.specs[0].name, "ci-push");
  EXPECT_EQ(out.skipped_documents, 1);
}

TEST(NestingLimit, ARealSpecIsFarBelowTheLimit) {
  // Every level a RegistryToken has, in block style, written as deep as it gets.
  const std::string text =
      "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: ci-push\nspec:\n"
      "  registry: acme-prod\n  scopes:\n    - name: \"app/*\"\n      type: repository\n"
      "      actions:\n        - pull\n        - push\n  secret:\n    kubernetes:\n"
      "      namespace: team-a\n      name: ci-push\n";
  const FileSpecs out = ParseSpecText(text, "f.yaml");
  EXPECT_TRUE(out.ok()) << ::testing::PrintToString(ErrorStrings(out.errors));
}

// --- Aliases ------------------------------------------------------------------------------------

TEST(AliasLimit, AnAliasBombIsOneErrorAtTheAliasThatGoesTooFar) {
  // Each alias of `s` would make the checks visit 1,000 actions again (and report 999 duplicates
  // each time): 10 KB of text used to cost 400 MB and a million errors.
  std::string actions = "[";
  for (int i = 0; i < 1000; ++i) actions += i ? ", pull" : "pull";
  actions += "]";
  std::string scopes = "[&s {name: x, type: repository, actions: " + actions + "}";
  for (int i = 0; i < 1000; ++i) scopes += ", *s";
  scopes += "]";
  const FileSpecs out = ParseSpecText(Doc("bomb", "b.json", scopes), "f.yaml");
  ASSERT_EQ(out.errors.size(), 1u) << out.errors.size() << " errors";
  EXPECT_EQ(out.errors[0].where.line, 7);
  EXPECT_EQ(out.errors[0].message,
            "YAML aliases expand too much: they may add at most 4 times the nodes written out "
            "(plus 10000); write the shared values out, or share fewer");
  EXPECT_TRUE(out.specs.empty());
}

TEST(AliasLimit, NestedAliasesAreCountedInFull) {
  // The classic: every level aliases the previous one ten times.
  std::string text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    const std::string prev(1, static_cast<char>(level - 1));
    text += std::string(1, level) + ": &" + std::string(1, level) + " [";
    for (int i = 0; i < 10; ++i) text += (i ? ", *" : "*") + prev;
    text += "]\n";
  }
  const FileSpecs out = ParseSpecText(text, "f.yaml");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_NE(out.errors[0].message.find("aliases expand too much"), std::string::npos);
  // d: its aliases of c (1,111 nodes each) pass the 10,000 nodes of slack.
  EXPECT_EQ(out.errors[0].where.line, 4);
}

TEST(AliasLimit, SharingValuesInADocumentStillWorks) {
  const std::string scopes =
      "[&app {name: \"app/*\", type: repository, actions: &rw [pull, push]},"
      " {name: \"lib/*\", type: repository, actions: *rw}]";
  const FileSpecs out = ParseSpecText(Doc("ci-push", "ci.json", scopes), "f.yaml");
  ASSERT_TRUE(out.ok()) << ::testing::PrintToString(ErrorStrings(out.errors));
  ASSERT_EQ(out.specs.size(), 1u);
  ASSERT_EQ(out.specs[0].scopes.size(), 2u);
  EXPECT_EQ(out.specs[0].scopes[1].actions, (std::vector<std::string>{"pull", "push"}));
}

// --- Secret paths that need the same name as a file and as a directory --------------------------

TEST(SecretPaths, AFileThatIsADirectoryOfAnotherIsAnErrorAtBoth) {
  TempDir tmp;
  WriteFile(tmp / "a.yaml", Doc("one", "team"));
  WriteFile(tmp / "b.yaml", Doc("two", "team/pull.json"));
  // Not a directory of either: a longer name, and a name that merely starts the same.
  WriteFile(tmp / "c.yaml", Doc("three", "team-2.json") + "---\n" + Doc("four", "teamx/a.json"));
  const std::string a = (tmp / "a.yaml").string();
  const std::string b = (tmp / "b.yaml").string();
  const SpecSet set = LoadSpecs({tmp.path().string()});
  EXPECT_EQ(ErrorStrings(set.errors),
            (std::vector<std::string>{
                a +
                    ":4:9: token \"one\" writes the secret file \"team\", which is a directory of "
                    "the secret file \"team/pull.json\" of the token at " +
                    b + ":4:9",
                b +
                    ":4:9: token \"two\" writes the secret file \"team/pull.json\" inside "
                    "\"team\", which the token at " +
                    a + ":4:9 writes as a file"}));
  EXPECT_EQ(set.failed_files, (std::set<std::string>{a, b}));
  ASSERT_EQ(set.specs.size(), 2u);  // c.yaml's tokens are fine
}

TEST(SecretPaths, DeeperPrefixesAndTheSameFileAreCaught) {
  TempDir tmp;
  WriteFile(tmp / "a.yaml", Doc("outer", "x/y") + "---\n" + Doc("inner", "x/y/z/w.json"));
  const std::string a = (tmp / "a.yaml").string();
  const SpecSet set = LoadSpecs({a});
  EXPECT_EQ(ErrorStrings(set.errors),
            (std::vector<std::string>{
                a + ":4:9: token \"outer\" writes the secret file \"x/y\", which is a directory "
                    "of the secret file \"x/y/z/w.json\" of the token at 14:9",
                a + ":14:9: token \"inner\" writes the secret file \"x/y/z/w.json\" inside "
                    "\"x/y\", which the token at 4:9 writes as a file"}));
  EXPECT_TRUE(set.specs.empty());
}

TEST(SecretPaths, KubernetesSecretsAreNotPaths) {
  TempDir tmp;
  WriteFile(tmp / "a.yaml", Doc("one", "team"));
  const std::string k8s =
      "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: two\nspec:\n"
      "  registry: acme-prod\n  scopes: [{name: \"*\", type: repository, actions: [pull]}]\n"
      "  secret:\n    kubernetes: {namespace: team, name: pull}\n";
  WriteFile(tmp / "b.yaml", k8s);
  const SpecSet set = LoadSpecs({tmp.path().string()});
  EXPECT_TRUE(set.ok()) << ::testing::PrintToString(ErrorStrings(set.errors));
}

}  // namespace
}  // namespace crtoken
