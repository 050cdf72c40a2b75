#include "daemon/app/logging.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "reconciler/log_fields.h"

namespace crtoken {
namespace {

// Logs one line through a logger with the given format and returns what was written.
std::string LogOne(const std::string& format, const std::string& payload,
                   spdlog::level::level_enum level = spdlog::level::info) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger logger("", sink);
  logger.set_formatter(MakeLogFormatter(format));
  logger.set_level(spdlog::level::trace);
  logger.log(level, "{}", payload);
  return out.str();
}

TEST(LoggingTest, JsonLineHasTimeLevelMessageAndFields) {
  const std::string line =
      LogOne("json", WithFields("created token", {{"registry", "acme-prod"}, {"token", "ci-push"}}),
             spdlog::level::warn);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one object per line";
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["message"], "created token");
  EXPECT_EQ(j["registry"], "acme-prod");
  EXPECT_EQ(j["token"], "ci-push");
  const std::string time = j["time"];
  EXPECT_EQ(time.size(), 24u) << time;  // 2026-11-28T15:51:16.123Z
  EXPECT_EQ(time.back(), 'Z');
}

TEST(LoggingTest, JsonEscapesEverything) {
  const std::string nasty =
      std::string("quote\" backslash\\ newline\n tab\t ctl\x01 bad\xff\xfe ") +
      "ok\xc3\xa9 \x7f end";
  const std::string line = LogOne("json", WithFields(nasty, {{"we\"ird", "va\nl"}}));
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);  // throws on invalid JSON or UTF-8
  const std::string msg = j["message"];
  EXPECT_NE(msg.find("quote\" backslash\\ newline\n tab\t ctl\x01"), std::string::npos);
  EXPECT_NE(msg.find("bad\xef\xbf\xbd\xef\xbf\xbd"), std::string::npos);  // U+FFFD twice
  EXPECT_NE(msg.find("ok\xc3\xa9"), std::string::npos);                   // valid UTF-8 kept
  EXPECT_EQ(j["we\"ird"], "va\nl");
}

TEST(LoggingTest, JsonReservedFieldNamesDoNotClobber) {
  auto j = nlohmann::json::parse(LogOne("json", WithFields("real", {{"message", "fake"}})));
  EXPECT_EQ(j["message"], "real");
  EXPECT_EQ(j["field.message"], "fake");
}

TEST(LoggingTest, TextLineAppendsFieldsAsKeyValue) {
  const std::string line =
      LogOne("text", WithFields("pass done", {{"registry", "acme-dev"}, {"summary", "2 created"}}));
  EXPECT_NE(line.find(" info  pass done registry=acme-dev summary=\"2 created\"\n"),
            std::string::npos)
      << line;
}

TEST(LoggingTest, PlainMessagesPassThrough) {
  auto j = nlohmann::json::parse(LogOne("json", "no fields at all"));
  EXPECT_EQ(j["message"], "no fields at all");
  EXPECT_EQ(j.size(), 3u);
}

TEST(LoggingTest, SetupRejectsBadValues) {
  EXPECT_FALSE(SetupLogging("xml", "info").ok());
  EXPECT_FALSE(SetupLogging("json", "loud").ok());
  EXPECT_TRUE(SetupLogging("json", "debug").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  EXPECT_TRUE(SetupLogging("text", "warn").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
}

}  // namespace
}  // namespace crtoken
