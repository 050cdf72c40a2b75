// Structured log fields that travel through spdlog's ordinary calls:
//
//   spdlog::info(WithFields("created token", {{"registry", "acme-prod"}, {"token", "ci-push"}}));
//
// The fields ride in the payload after a unit separator (\x1f) as key=value pairs; the daemon's
// formatters (daemon/app/logging.h) render them as ` registry=acme-prod token=ci-push` in text mode
// and as JSON members in JSON mode. Without those formatters the line stays readable.
//
// Never put a password, bearer token or Authorization header in a field.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crtoken {

inline constexpr char kLogFieldSeparator = '\x1f';

struct LogField {
  std::string_view key;
  std::string value;
};

inline std::string WithFields(std::string_view message, std::initializer_list<LogField> fields) {
  std::string out(message);
  for (const LogField& f : fields) {
    out += kLogFieldSeparator;
    out.append(f.key);
    out += '=';
    out += f.value;
  }
  return out;
}

// Splits a payload into the message and its fields (in order).
inline std::pair<std::string_view, std::vector<std::pair<std::string_view, std::string_view>>>
SplitLogFields(std::string_view payload) {
  std::vector<std::pair<std::string_view, std::string_view>> fields;
  size_t cut = payload.find(kLogFieldSeparator);
  std::string_view message = payload.substr(0, cut);
  while (cut != std::string_view::npos) {
    const size_t start = cut + 1;
    cut = payload.find(kLogFieldSeparator, start);
    std::string_view field =
        payload.substr(start, cut == std::string_view::npos ? cut : cut - start);
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos) {
      fields.emplace_back(field, std::string_view());
    } else {
      fields.emplace_back(field.substr(0, eq), field.substr(eq + 1));
    }
  }
  return {message, fields};
}

}  // namespace crtoken
