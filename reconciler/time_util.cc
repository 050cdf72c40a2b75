#include "reconciler/time_util.h"

#include <cctype>
#include <cstdio>

namespace crtoken {
namespace {

bool Digits(const std::string& s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

}  // namespace

std::optional<Instant> ParseRfc3339(const std::string& s) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  int y, mo, d, h, mi, sec;
  if (!Digits(s, 0, 4, &y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !Digits(s, 11, 2, &h) || s[13] != ':' || !Digits(s, 14, 2, &mi) || s[16] != ':' ||
      !Digits(s, 17, 2, &sec)) {
    return std::nullopt;
  }
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    size_t start = ++pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == start) return std::nullopt;
  }
  int offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
  // RFC 3339 allows a leap second (60); it is folded into the next second.
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60) return std::nullopt;
  const Instant instant =
      sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} - minutes{offset_minutes};
  // An offset (or a leap second) can carry a date of year 0000 or 9999 out of the four-digit
  // years: such an instant could not be written back (FormatRfc3339), so it is refused.
  constexpr sys_days kFirst{year{0} / January / 1};
  constexpr sys_days kEnd{year{10000} / January / 1};
  if (instant < kFirst || instant >= kEnd) return std::nullopt;
  return instant;
}

std::string FormatRfc3339(Instant instant) {
  using namespace std::chrono;
  const sys_days days = floor<std::chrono::days>(instant);
  const year_month_day ymd{days};
  const hh_mm_ss<seconds> t{instant - days};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(t.hours().count()), static_cast<int>(t.minutes().count()),
                static_cast<int>(t.seconds().count()));
  return buf;
}

std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  using namespace std::chrono;
  if (text.empty()) return std::nullopt;
  milliseconds total{0};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = pos;
    long long value = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      value = value * 10 + (text[pos] - '0');
      if (value > 1'000'000'000LL) return std::nullopt;
      ++pos;
    }
    if (pos == start) return std::nullopt;
    std::string unit;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) {
      unit += text[pos++];
    }
    if (unit == "ms") {
      total += milliseconds(value);
    } else if (unit == "s") {
      total += seconds(value);
    } else if (unit == "m") {
      total += minutes(value);
    } else if (unit == "h") {
      total += hours(value);
    } else if (unit == "d") {
      total += hours(24 * value);
    } else {
      return std::nullopt;
    }
    // Each part is at most a billion units; so is the sum, in days (it cannot overflow then).
    if (total > hours(24 * 1'000'000'000LL)) return std::nullopt;
  }
  return total;
}

}  // namespace crtoken
