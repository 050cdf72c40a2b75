#include "daemon/app/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

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

// Length of the valid UTF-8 sequence at s[0], or 0.
size_t Utf8Length(std::string_view s) {
  const auto b = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char c = b(0);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || n > s.size()) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((b(i) & 0xc0) != 0x80) return 0;
  }
  if (n == 2 && c < 0xc2) return 0;                   // overlong
  if (n == 3 && c == 0xe0 && b(1) < 0xa0) return 0;   // overlong
  if (n == 3 && c == 0xed && b(1) >= 0xa0) return 0;  // surrogates
  if (n == 4 && (c > 0xf4 || (c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) >= 0x90))) return 0;
  return n;
}

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
    line.append(message);
    for (const auto& [key, value] : fields) {
      line += ' ';
      line.append(key);
      line += '=';
      if (NeedsQuotes(value)) {
        line += '"';
        AppendJsonEscaped(value, line);
        line += '"';
      } else {
        line.append(value);
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
    AppendJsonEscaped(message, line);
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
      AppendJsonEscaped(key, line);
      line += "\":\"";
      AppendJsonEscaped(value, line);
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

void AppendJsonEscaped(std::string_view text, std::string& out) {
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        ++i;
        continue;
      case '\\':
        out += "\\\\";
        ++i;
        continue;
      case '\n':
        out += "\\n";
        ++i;
        continue;
      case '\r':
        out += "\\r";
        ++i;
        continue;
      case '\t':
        out += "\\t";
        ++i;
        continue;
      case '\b':
        out += "\\b";
        ++i;
        continue;
      case '\f':
        out += "\\f";
        ++i;
        continue;
      default:
        break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
      continue;
    }
    const size_t n = Utf8Length(text.substr(i));
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    out.append(text.substr(i, n));
    i += n;
  }
}

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
