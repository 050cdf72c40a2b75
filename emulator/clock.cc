#include "emulator/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace crtoken::emulator {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool Digits(const std::string& s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Parses "HH:MM:SS[.frac]" at pos; advances pos.
bool ParseClock(const std::string& s, size_t* pos, int* h, int* mi, int* se) {
  size_t p = *pos;
  if (!Digits(s, p, 2, h) || p + 2 >= s.size() || s[p + 2] != ':' || !Digits(s, p + 3, 2, mi) ||
      p + 5 >= s.size() || s[p + 5] != ':' || !Digits(s, p + 6, 2, se)) {
    return false;
  }
  p += 8;
  if (p < s.size() && s[p] == '.') {
    ++p;
    size_t start = p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
    if (p == start) return false;
  }
  if (*h > 23 || *mi > 59 || *se > 60) return false;
  *pos = p;
  return true;
}

// Parses "Z" or "+HH:MM"/"-HH:MM" at pos, which must end the string.
bool ParseOffset(const std::string& s, size_t pos, int* offset_seconds) {
  if (pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    *offset_seconds = 0;
    return true;
  }
  int oh = 0, om = 0;
  if (pos + 6 != s.size() || (s[pos] != '+' && s[pos] != '-') || !Digits(s, pos + 1, 2, &oh) ||
      s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
    return false;
  }
  *offset_seconds = (s[pos] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
  return true;
}

}  // namespace

int64_t EmulatorClock::Now() const {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::chrono::duration_cast<std::chrono::seconds>(now).count() + offset_.load();
}

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

bool ParseTime(const std::string& s, int64_t* unix_seconds) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0, off = 0;
  if (!Digits(s, 0, 4, &y) || s.size() < 11 || s[4] != '-' || !Digits(s, 5, 2, &mo) ||
      s[7] != '-' || !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't')) {
    return false;
  }
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1) return false;
  if (d > kDays[mo - 1] + (mo == 2 && IsLeap(y) ? 1 : 0)) return false;
  size_t pos = 11;
  if (!ParseClock(s, &pos, &h, &mi, &se) || !ParseOffset(s, pos, &off)) return false;
  if (se == 60) se = 59;  // a leap second is read as the second before it
  *unix_seconds = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
                  h * 3600 + mi * 60 + se - off;
  return true;
}

bool IsTimeOfDay(const std::string& s) {
  int h = 0, mi = 0, se = 0, off = 0;
  size_t pos = 0;
  if (!ParseClock(s, &pos, &h, &mi, &se)) return false;
  return pos == s.size() || ParseOffset(s, pos, &off);
}

}  // namespace crtoken::emulator
