#include "daemon/app/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "daemon/common/json_text.h"
#include "reconciler/log_fields.h"

namespace crtoken {
namespace {

// RFC 3339 UTC with milliseconds: 2026-11-28T15:51:16.123Z
void AppendTime(std::chrono::system_clock::time_point t, std::string& out) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms.count() % 1000));
  out += buf;
}

const char* LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

// The most of one message or field value a line carries: a log line can be read in a terminal and
// shipped by a collector; a runaway text (a server's 20 MB error message) must not flood either.
constexpr size_t kMaxLogTextBytes = 16 * 1024;

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

class TextFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line;
    AppendTime(msg.time, line);
    line += ' ';
    std::string level = LevelName(msg.level);
    if (level.size() < 5) level.resize(5, ' ');
    line += level;
    line += ' ';
    auto [message, fields] =
        SplitLogFields(std::string_view(msg.payload.data(), msg.payload.size()));
    // Control characters escaped: a message cannot start a forged line of its own.
    line += PrintableText(message, kMaxLogTextBytes);
    for (const auto& [key, value] : fields) {
      line += ' ';
      line += PrintableText(key, kMaxLogTextBytes);
      line += '=';
      if (NeedsQuotes(value) || value.size() > kMaxLogTextBytes) {
        line += '"';
        AppendJsonEscaped(value, line, kMaxLogTextBytes);
        line += '"';
      } else {
        line += PrintableText(value, kMaxLogTextBytes);
      }
    }
    line += '\n';
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<TextFormatter>();
  }
};

class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    std::string line = "{\"time\":\"";
    AppendTime(msg.time, line);
    line += "\",\"level\":\"";
    line += LevelName(msg.level);
    line += "\",\"message\":\"";
    auto [message, fields] =
        SplitLogFields(std::string_view(msg.payload.data(), msg.payload.size()));
    AppendJsonEscaped(message, line, kMaxLogTextBytes);
    line += '"';
    if (msg.logger_name.size() != 0) {
      line += ",\"logger\":\"";
      AppendJsonEscaped(std::string_view(msg.logger_name.data(), msg.logger_name.size()), line);
      line += '"';
    }
    for (const auto& [key, value] : fields) {
      // The reserved members keep their meaning; a field of that name is renamed.
      const bool reserved = key == "time" || key == "level" || key == "message" || key == "logger";
      line += ",\"";
      if (reserved) line += "field.";
      AppendJsonEscaped(key, line, kMaxLogTextBytes);
      line += "\":\"";
      AppendJsonEscaped(value, line, kMaxLogTextBytes);
      line += '"';
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> MakeLogFormatter(const std::string& format) {
  if (format == "json") return std::make_unique<JsonFormatter>();
  return std::make_unique<TextFormatter>();
}

Status SetupLogging(const std::string& format, const std::string& level) {
  if (format != "text" && format != "json") {
    return Error{ErrorKind::kInvalid, "--log-format: want text or json, got " + format};
  }
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return Error{ErrorKind::kInvalid, "--log-level: want trace, debug, info, warn or error"};
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("", sink);
  logger->set_formatter(MakeLogFormatter(format));
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

}  // namespace crtoken
