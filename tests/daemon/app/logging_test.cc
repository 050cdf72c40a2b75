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

// Text mode is read in terminals: a message (an API error carried into a log line) must not start
// a line of its own, move the cursor or recolour the screen, whatever it holds.
TEST(LoggingTest, TextModeEscapesControlCharactersInMessageAndFields) {
  const std::string forged =
      "lookup failed\n2026-01-01T00:00:00.000Z info  \x1b[32mall good\x1b[0m\r\x7f\xc2\x9b";
  const std::string line = LogOne("text", WithFields(forged, {{"reason", forged}, {"k\n", "v"}}));
  EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x7f'), std::string::npos) << line;
  EXPECT_EQ(line.find("\xc2\x9b"), std::string::npos) << line;
  EXPECT_NE(line.find("lookup failed\\n2026-01-01T00:00:00.000Z info  \\u001b[32mall good"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find(" reason=\"lookup failed\\n"), std::string::npos) << line;
  // Quotes in a plain message stay readable.
  EXPECT_NE(LogOne("text", "no registry named 'a\"b'").find("no registry named 'a\"b'"),
            std::string::npos);
}

TEST(LoggingTest, HugeMessagesAreCutInBothFormats) {
  const std::string huge(20 << 20, 'x');
  for (const char* format : {"text", "json"}) {
    SCOPED_TRACE(format);
    const std::string line = LogOne(format, WithFields(huge, {{"reason", huge}}));
    EXPECT_LT(line.size(), 40u * 1024) << "a 20 MB message must not become a 20 MB line";
    EXPECT_NE(line.find("more bytes)"), std::string::npos);
    EXPECT_EQ(line.find('\n'), line.size() - 1);
    if (std::string(format) == "json") {
      auto j = nlohmann::json::parse(line);
      EXPECT_LT(j["message"].get<std::string>().size(), 17u * 1024);
    }
  }
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
