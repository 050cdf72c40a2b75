// Pure pieces: time formatting/parsing, validation predicates, flag parsing, fault rule parsing.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "emulator/clock.h"
#include "emulator/faults.h"
#include "emulator/json_writer.h"
#include "emulator/options.h"
#include "emulator/validation.h"

namespace crtoken::emulator {
namespace {

TEST(TimeTest, FormatsZulu) {
  EXPECT_EQ(FormatTime(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatTime(1798761600), "2027-01-01T00:00:00Z");
}

TEST(TimeTest, ParsesRfc3339) {
  int64_t t = 0;
  ASSERT_TRUE(ParseTime("2027-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, 1798761600);
  ASSERT_TRUE(ParseTime("2027-01-01T01:00:00+01:00", &t));
  EXPECT_EQ(t, 1798761600);
  ASSERT_TRUE(ParseTime("2026-12-31t19:00:00.999-05:00", &t));
  EXPECT_EQ(t, 1798761600);
  ASSERT_TRUE(ParseTime("2028-02-29T00:00:00z", &t));
  for (const char* bad :
       {"2027-01-01", "2027-01-01T00:00:00", "2027-01-01 00:00:00Z", "2027-1-01T00:00:00Z",
        "2027-02-29T00:00:00Z", "2027-04-31T00:00:00Z", "2027-01-01T24:00:00Z",
        "2027-01-01T00:60:00Z", "2027-01-01T00:00:00+0100", "2027-01-01T00:00:00.Z",
        "2027-01-01T00:00:00Zjunk", ""}) {
    EXPECT_FALSE(ParseTime(bad, &t)) << bad;
  }
}

TEST(TimeTest, TimeOfDay) {
  EXPECT_TRUE(IsTimeOfDay("01:23:00+00:00"));
  EXPECT_TRUE(IsTimeOfDay("01:23:00"));
  EXPECT_TRUE(IsTimeOfDay("23:59:59Z"));
  EXPECT_FALSE(IsTimeOfDay("1:23:00"));
  EXPECT_FALSE(IsTimeOfDay("24:00:00"));
}

TEST(ClockTest, Advances) {
  EmulatorClock c;
  int64_t before = c.Now();
  c.Advance(3600);
  EXPECT_GE(c.Now(), before + 3600);
  EXPECT_EQ(c.offset(), 3600);
}

TEST(ValidationTest, Patterns) {
  EXPECT_TRUE(IsUuid("3fa85f64-5717-4562-b3fc-2c963f66afa6"));
  EXPECT_TRUE(IsUuid("3FA85F64-5717-4562-B3FC-2C963F66AFA6"));
  EXPECT_FALSE(IsUuid("3fa85f64-5717-4562-b3fc-2c963f66afa"));
  EXPECT_FALSE(IsUuid("3fa85f64x5717-4562-b3fc-2c963f66afa6"));
  EXPECT_FALSE(IsUuid("3fa85f64-5717-4562-b3fc-2c963f66afg6"));
  EXPECT_TRUE(IsTokenName("ab"));
  EXPECT_TRUE(IsTokenName("CI-push-2"));
  EXPECT_FALSE(IsTokenName("a"));
  EXPECT_FALSE(IsTokenName("2ab"));
  EXPECT_FALSE(IsTokenName("ab-"));
  EXPECT_TRUE(IsRegistryName("abc"));
  EXPECT_FALSE(IsRegistryName("ab"));
  EXPECT_FALSE(IsRegistryName("Abc"));
}

std::optional<EmulatorOptions> Parse(std::vector<std::string> args, std::string* error) {
  bool help = false, version = false;
  return ParseEmulatorArgs(args, error, &help, &version);
}

TEST(OptionsTest, ParsesEveryFlag) {
  std::string error;
  auto o = Parse({"--listen",
                  "127.0.0.1:8080",
                  "--registry",
                  "acme",
                  "--registry=other",
                  "--token",
                  "t",
                  "--user",
                  "u",
                  "--password",
                  "p",
                  "--provision-seconds",
                  "0",
                  "--put-replace-status",
                  "200",
                  "--put-replace-password",
                  "regenerate",
                  "--put-rename-status",
                  "409",
                  "--registry-filter",
                  "exact",
                  "--max-limit",
                  "50",
                  "--registry-last-token",
                  "absent",
                  "--limit-over-max",
                  "reject",
                  "--min-expiry-seconds",
                  "3600",
                  "--observed-nulls",
                  "--log-requests"},
                 &error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->port, 8080);
  EXPECT_EQ(o->registries, (std::vector<std::string>{"acme", "other"}));
  EXPECT_EQ(*o->token, "t");
  EXPECT_EQ(o->policy.provision_seconds, 0);
  EXPECT_EQ(o->put_replace_status, 200);
  EXPECT_TRUE(o->policy.put_replace_regenerates);
  EXPECT_TRUE(o->policy.rename_is_conflict);
  EXPECT_TRUE(o->policy.registry_filter_exact);
  EXPECT_EQ(o->max_limit, 50);
  EXPECT_TRUE(o->omit_last_page_token);
  EXPECT_TRUE(o->reject_over_max);
  EXPECT_EQ(o->min_expiry_seconds, 3600);
  EXPECT_TRUE(o->observed_nulls);
  EXPECT_TRUE(o->log_requests);
}

TEST(OptionsTest, RejectsBadInputWithOneLine) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  for (const Case& c :
       std::vector<Case>{{{}, "--listen"},
                         {{"--listen", "0.0.0.0:80"}, "loopback"},
                         {{"--listen", "10.0.0.1:80"}, "loopback"},
                         {{"--listen", "127.0.0.1"}, "HOST:PORT"},
                         {{"--listen", "127.0.0.1:70000"}, "HOST:PORT"},
                         {{"--listen", "127.0.0.1:1", "--registry", "Bad"}, "--registry"},
                         {{"--listen", "127.0.0.1:1", "--user", "u"}, "--password"},
                         {{"--listen", "127.0.0.1:1", "--token"}, "missing value"},
                         {{"--listen", "127.0.0.1:1", "--max-limit", "0"}, "--max-limit"},
                         {{"--listen", "127.0.0.1:1", "--frobnicate"}, "unknown flag"}}) {
    std::string error;
    EXPECT_FALSE(Parse(c.args, &error));
    EXPECT_NE(error.find(c.mentions), std::string::npos) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos);
  }
  std::string error;
  auto o = Parse({"--listen", "localhost:0"}, &error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->host, "127.0.0.1");
}

TEST(OptionsTest, UsageDocumentsEveryFlag) {
  std::string usage = EmulatorUsage();
  for (const char* flag :
       {"--listen", "--registry", "--token", "--user", "--password", "--provision-seconds",
        "--put-replace-status", "--put-replace-password", "--put-rename-status",
        "--registry-filter", "--registry-last-token", "--max-limit", "--limit-over-max",
        "--min-expiry-seconds", "--observed-nulls", "--log-requests", "--help", "--version"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

TEST(FaultRulesTest, MatchConsumesTimesInOrder) {
  FaultRules rules;
  std::string error;
  ASSERT_TRUE(
      rules.Add({{"method", "get"}, {"path", "tokens"}, {"status", 429}, {"times", 1}}, &error));
  ASSERT_TRUE(rules.Add({{"status", 500}}, &error));
  auto a = rules.Match("GET", "/x/tokens?offset=0");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 429);
  EXPECT_EQ(rules.Match("GET", "/x/tokens")->status, 500);
  EXPECT_EQ(rules.Match("POST", "/x")->status, 500);
  rules.Clear();
  EXPECT_FALSE(rules.Match("GET", "/x"));
}

TEST(JsonWriterTest, WritesValidJsonWithEscapes) {
  std::string out;
  JsonWriter w(&out);
  const std::string tricky = "q\"b\\s\n\t\x01 \xc3\xa4 </>";
  w.BeginObject().Key("a").String(tricky).Key("n").Int(-5).Key("z").Null();
  w.Key("list").BeginArray().String("x").BeginObject().EndObject().BeginArray().EndArray();
  w.EndArray().Key(tricky).Raw("[1,2]").EndObject();
  nlohmann::json j = nlohmann::json::parse(out);
  EXPECT_EQ(j["a"], tricky);
  EXPECT_EQ(j["n"], -5);
  EXPECT_TRUE(j["z"].is_null());
  EXPECT_EQ(j["list"].dump(), R"(["x",{},[]])");
  EXPECT_EQ(j[tricky].dump(), "[1,2]");
}

}  // namespace
}  // namespace crtoken::emulator
