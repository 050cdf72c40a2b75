// `crtoken status` takes plan's flags and its own --output (-o).
#include <gtest/gtest.h>

#include <map>

#include "daemon/app/options.h"

namespace crtoken {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

TEST(StatusOptionsTest, TakesPlansFlagsAndAnOutputFormat) {
  auto o = ParseOptions(
      "status", {"--specs", "s", "--secret-dir", "d", "--prune", "none", "-o", "json"}, NoEnv());
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o.value().specs, std::vector<std::string>{"s"});
  EXPECT_EQ(o.value().secret_dir, "d");
  EXPECT_EQ(o.value().policy.prune, PruneMode::kNone);
  EXPECT_EQ(o.value().output, "json");
  auto text = ParseOptions("status", {"--output=text"}, NoEnv());
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text.value().output, "text");
  EXPECT_EQ(ParseOptions("status", {}, NoEnv()).value().output, "text");
}

TEST(StatusOptionsTest, ABadOutputFormatOrARunOnlyFlagIsRefusedByName) {
  auto bad = ParseOptions("status", {"-o", "yaml"}, NoEnv());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "bad value for --output \"yaml\": want text or json");
  auto run_only = ParseOptions("status", {"--resync", "1m"}, NoEnv());
  ASSERT_FALSE(run_only.ok());
  EXPECT_EQ(run_only.error().message, "unknown flag --resync for crtoken status");
  // --output is status's own.
  auto plan = ParseOptions("plan", {"-o", "json"}, NoEnv());
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message, "unknown flag --output for crtoken plan");
}

}  // namespace
}  // namespace crtoken
