// --owner (and $CRTOKEN_OWNER): the name of one installation, checked against its rule; and
// --state-dir (and $CRTOKEN_STATE_DIR), still accepted, with one deprecation warning.
#include <gtest/gtest.h>

#include <map>

#include "daemon/app/options.h"

namespace crtoken {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(OwnerOptionsTest, DefaultsToCrtokenAndIsTakenFromTheFlagOrTheVariable) {
  for (const std::string command : {"run", "plan", "apply"}) {
    auto o = ParseOptions(command, {}, Env({}));
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o.value().owner, "crtoken") << command;

    auto flag = ParseOptions(command, {"--owner", "ci-eu-1"}, Env({}));
    ASSERT_TRUE(flag.ok()) << flag.error().message;
    EXPECT_EQ(flag.value().owner, "ci-eu-1") << command;

    auto env = ParseOptions(command, {}, Env({{"CRTOKEN_OWNER", "cluster-a"}}));
    ASSERT_TRUE(env.ok()) << env.error().message;
    EXPECT_EQ(env.value().owner, "cluster-a") << command;

    auto both = ParseOptions(command, {"--owner=ci"}, Env({{"CRTOKEN_OWNER", "cluster-a"}}));
    ASSERT_TRUE(both.ok()) << both.error().message;
    EXPECT_EQ(both.value().owner, "ci") << command;
  }
  const std::string longest(63, 'z');
  auto o = ParseOptions("apply", {"--owner", longest}, Env({}));
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o.value().owner, longest);
  for (const std::string ok : {"a", "0", "-", "a-b-0-9", "9lives"}) {
    EXPECT_TRUE(ParseOptions("plan", {"--owner", ok}, Env({})).ok()) << ok;
  }
  EXPECT_NE(OptionsHelp("apply").find("--owner NAME"), std::string::npos);
  EXPECT_NE(OptionsHelp("apply").find("[$CRTOKEN_OWNER]"), std::string::npos);
}

TEST(OwnerOptionsTest, ABadOwnerIsAnErrorNamingTheFlagOrVariableAndTheRule) {
  const std::string rule = "want 1 to 63 characters of a-z, 0-9 and '-'";
  struct Case {
    std::string value;
    std::string why;  // the end of the message
  };
  const std::vector<Case> cases = {
      {"", "(it is empty)"},
      {std::string(64, 'a'), "(it has 64)"},
      {"Cluster-A", "(character 1 is not one of them)"},
      {"ci_eu", "(character 3 is not one of them)"},
      {"ci.eu", "(character 3 is not one of them)"},
      {"ci eu", "(character 3 is not one of them)"},
      {"caf\xc3\xa9", "(character 4 is not one of them)"},
  };
  for (const Case& tc : cases) {
    auto flag = ParseOptions("apply", {"--owner", tc.value}, Env({}));
    ASSERT_FALSE(flag.ok()) << tc.value;
    EXPECT_EQ(flag.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(flag.error().message,
              "bad value for --owner \"" + tc.value + "\": " + rule + " " + tc.why);

    auto env = ParseOptions("run", {}, Env({{"CRTOKEN_OWNER", tc.value}}));
    ASSERT_FALSE(env.ok()) << tc.value;
    EXPECT_EQ(env.error().kind, ErrorKind::kInvalid);
    EXPECT_EQ(env.error().message,
              "bad value in $CRTOKEN_OWNER=" + tc.value + ": " + rule + " " + tc.why);
  }
  // A flag with no value, and validate, which has no owner.
  auto missing = ParseOptions("plan", {"--owner"}, Env({}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "flag --owner needs a value");
  auto validate = ParseOptions("validate", {"--owner", "ci"}, Env({}));
  ASSERT_FALSE(validate.ok());
  EXPECT_EQ(validate.error().message, "unknown flag --owner for crtoken validate");
  EXPECT_TRUE(ParseOptions("validate", {}, Env({{"CRTOKEN_OWNER", "NOT VALID"}})).ok());
}

TEST(OwnerOptionsTest, AValueQuotedInAnErrorCannotForgeALineOrSendEscapes) {
  auto o = ParseOptions("apply", {"--owner", "ci\n2026-01-01 info  all good\x1b[2J"}, Env({}));
  ASSERT_FALSE(o.ok());
  const std::string& m = o.error().message;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  EXPECT_EQ(m.find('\x1b'), std::string::npos) << m;
  EXPECT_NE(m.find("ci\\n2026-01-01 info  all good\\u001b[2J"), std::string::npos) << m;
  EXPECT_NE(m.find("(character 3 is not one of them)"), std::string::npos) << m;

  auto e = ParseOptions("apply", {}, Env({{"CRTOKEN_OWNER", std::string(5000, 'A')}}));
  ASSERT_FALSE(e.ok());
  EXPECT_LT(e.error().message.size(), 500u) << e.error().message;
  EXPECT_NE(e.error().message.find("(it has 5000)"), std::string::npos);
}

TEST(OwnerOptionsTest, StateDirIsStillAcceptedWithOneDeprecationWarning) {
  auto none = ParseOptions("apply", {}, Env({}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none.value().warnings.empty());
  EXPECT_EQ(none.value().state_dir, "./.crtoken");

  const std::string said =
      " is deprecated and ignored: crtoken keeps no state of its own; an ownership.json there is "
      "migrated once (docs/ownership.md), then the flag can go";
  for (const std::string command : {"run", "plan", "apply"}) {
    auto flag = ParseOptions(command, {"--state-dir", "/var/lib/crtoken"}, Env({}));
    ASSERT_TRUE(flag.ok()) << flag.error().message;
    EXPECT_EQ(flag.value().state_dir, "/var/lib/crtoken");
    EXPECT_EQ(flag.value().warnings, std::vector<std::string>{"--state-dir" + said}) << command;
  }
  auto env = ParseOptions("run", {}, Env({{"CRTOKEN_STATE_DIR", "/state"}}));
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env.value().state_dir, "/state");
  EXPECT_EQ(env.value().warnings, std::vector<std::string>{"$CRTOKEN_STATE_DIR" + said});
  // Both given: the flag wins, and the warning is still one line.
  auto both = ParseOptions("plan", {"--state-dir=/a", "--state-dir=/b"},
                           Env({{"CRTOKEN_STATE_DIR", "/state"}}));
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both.value().state_dir, "/b");
  EXPECT_EQ(both.value().warnings, std::vector<std::string>{"--state-dir" + said});
  EXPECT_NE(OptionsHelp("run").find("--state-dir DIR"), std::string::npos);
  EXPECT_NE(OptionsHelp("run").find("deprecated, ignored"), std::string::npos);
}

}  // namespace
}  // namespace crtoken
