#include "daemon/registry/retry_policy.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "daemon/common/json_text.h"

namespace crtoken {
namespace {

using std::chrono::milliseconds;

bool ReadInt(const std::string& s, size_t* pos, size_t digits, int* out) {
  if (*pos + digits > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = s[*pos + i];
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    v = v * 10 + (c - '0');
  }
  *pos += digits;
  *out = v;
  return true;
}

bool Expect(const std::string& s, size_t* pos, const char* literal) {
  const size_t n = std::strlen(literal);
  if (s.compare(*pos, n, literal) != 0) return false;
  *pos += n;
  return true;
}

bool ReadMonth(const std::string& s, size_t* pos, int* month) {
  static const std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (s.compare(*pos, 3, kMonths[i]) == 0) {
      *pos += 3;
      *month = i + 1;
      return true;
    }
  }
  return false;
}

bool ReadTime(const std::string& s, size_t* pos, int* h, int* m, int* sec) {
  return ReadInt(s, pos, 2, h) && Expect(s, pos, ":") && ReadInt(s, pos, 2, m) &&
         Expect(s, pos, ":") && ReadInt(s, pos, 2, sec) && *h < 24 && *m < 60 && *sec <= 60;
}

// Skips the day name ("Sun" or "Sunday"), which carries no information.
bool SkipDayName(const std::string& s, size_t* pos) {
  size_t start = *pos;
  while (*pos < s.size() && std::isalpha(static_cast<unsigned char>(s[*pos]))) ++*pos;
  return *pos - start >= 3;
}

std::optional<std::chrono::sys_seconds> Make(int y, int mo, int d, int h, int mi, int sec) {
  const std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(mo),
                                        std::chrono::day(d)};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(h) + std::chrono::minutes(mi) +
         std::chrono::seconds(std::min(sec, 59));
}

}  // namespace

const char* HttpMethodName(HttpMethod method) {
  switch (method) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPut:
      return "PUT";
    case HttpMethod::kPatch:
      return "PATCH";
    case HttpMethod::kDelete:
      return "DELETE";
  }
  return "?";
}

bool IsIdempotent(HttpMethod method) { return method != HttpMethod::kPost; }

std::optional<std::chrono::sys_seconds> ParseHttpDate(const std::string& text) {
  std::string s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  size_t pos = 0;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!SkipDayName(s, &pos)) return std::nullopt;
  if (pos < s.size() && s[pos] == ',') {
    ++pos;
    if (!Expect(s, &pos, " ") || !ReadInt(s, &pos, 2, &d)) return std::nullopt;
    if (pos < s.size() && s[pos] == ' ') {
      // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
      if (!Expect(s, &pos, " ") || !ReadMonth(s, &pos, &mo) || !Expect(s, &pos, " ") ||
          !ReadInt(s, &pos, 4, &y) || !Expect(s, &pos, " ")) {
        return std::nullopt;
      }
    } else {
      // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"; two-digit years within 50 years of 2000.
      if (!Expect(s, &pos, "-") || !ReadMonth(s, &pos, &mo) || !Expect(s, &pos, "-") ||
          !ReadInt(s, &pos, 2, &y) || !Expect(s, &pos, " ")) {
        return std::nullopt;
      }
      y += y < 50 ? 2000 : 1900;
    }
    if (!ReadTime(s, &pos, &h, &mi, &sec) || !Expect(s, &pos, " GMT") || pos != s.size()) {
      return std::nullopt;
    }
    return Make(y, mo, d, h, mi, sec);
  }
  // asctime: "Sun Nov  6 08:49:37 1994"
  if (!Expect(s, &pos, " ") || !ReadMonth(s, &pos, &mo) || !Expect(s, &pos, " ")) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == ' ') {
    ++pos;
    if (!ReadInt(s, &pos, 1, &d)) return std::nullopt;
  } else if (!ReadInt(s, &pos, 2, &d)) {
    return std::nullopt;
  }
  if (!Expect(s, &pos, " ") || !ReadTime(s, &pos, &h, &mi, &sec) || !Expect(s, &pos, " ") ||
      !ReadInt(s, &pos, 4, &y) || pos != s.size()) {
    return std::nullopt;
  }
  return Make(y, mo, d, h, mi, sec);
}

std::optional<milliseconds> ParseRetryAfter(const std::string& value,
                                            std::chrono::system_clock::time_point now) {
  std::string s = value;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit((unsigned char)c); })) {
    // delay-seconds; anything beyond a day is clamped (the cap applies later anyway).
    if (s.size() > 6) return milliseconds(std::chrono::hours(24));
    return std::chrono::seconds(std::stol(s));
  }
  auto date = ParseHttpDate(s);
  if (!date) return std::nullopt;
  if (*date <= now) return milliseconds(0);
  return std::chrono::ceil<milliseconds>(*date - now);
}

RetryPolicy::RetryPolicy(RetryOptions options, uint64_t seed) : options_(options), rng_(seed) {}

milliseconds RetryPolicy::Backoff(int attempt) {
  const int shift = std::clamp(attempt - 1, 0, 30);
  const int64_t initial = std::max<int64_t>(options_.initial_backoff.count(), 1);
  const int64_t cap = std::max<int64_t>(options_.max_backoff.count(), 1);
  const int64_t d = std::min(cap, shift >= 30 ? cap : initial << shift);
  std::lock_guard<std::mutex> lock(mu_);
  std::uniform_int_distribution<int64_t> dist(d / 2, d);
  return milliseconds(dist(rng_));
}

RetryDecision RetryPolicy::Decide(HttpMethod method, const AttemptOutcome& outcome, int attempt,
                                  milliseconds elapsed, std::chrono::system_clock::time_point now) {
  RetryDecision decision;
  using Failure = AttemptOutcome::Failure;
  if (outcome.failure == Failure::kTimeout) {
    decision.reason = "timeout";
  } else if (outcome.failure == Failure::kConnection) {
    decision.reason = "connection error";
  } else {
    decision.reason = std::to_string(outcome.status);
  }

  bool retryable = false;
  if (outcome.failure == Failure::kNone && outcome.status == 429) {
    retryable = true;
    std::optional<milliseconds> wait;
    if (outcome.retry_after) wait = ParseRetryAfter(*outcome.retry_after, now);
    if (wait) {
      decision.delay = std::min(*wait, options_.retry_after_cap);
      decision.reason += " (Retry-After " + PrintableText(*outcome.retry_after, 64) + ")";
    } else {
      decision.delay = Backoff(attempt);
    }
  } else if (outcome.failure == Failure::kConnection && outcome.permanent &&
             !options_.retry_permanent_failures) {
    decision.reason += " (not retried: waiting does not fix it)";
    return decision;
  } else if (IsIdempotent(method) && (outcome.failure != Failure::kNone || outcome.status == 502 ||
                                      outcome.status == 503 || outcome.status == 504)) {
    retryable = true;
    decision.delay = Backoff(attempt);
  }
  if (!retryable) return decision;
  if (attempt >= options_.max_attempts) {
    decision.reason += "; no attempts left";
    return decision;
  }
  if (elapsed + decision.delay > options_.retry_budget) {
    decision.reason += "; retry budget spent";
    return decision;
  }
  decision.retry = true;
  return decision;
}

}  // namespace crtoken
