// When and how long the API client waits before it repeats a request. Pure (no I/O, no clock of
// its own, no cpprest): every input is an argument, so the rules are unit-tested directly.
//
// The rules:
// - 429: retried for every method, POST included (the server refused it without acting). The wait
//   is Retry-After (delay-seconds or an HTTP-date), capped at retry_after_cap; without a usable
//   header, the jittered exponential backoff.
// - 502, 503, 504, a timeout (the per-request deadline) and a connection error: retried only for
//   the idempotent methods GET, PUT, PATCH and DELETE, with jittered exponential backoff. A POST is
//   never repeated blindly: it may have been carried out.
// - Anything else (2xx, 3xx, 4xx other than 429, 500, a malformed body) is final; so is a
//   permanent connection failure (refused, unresolvable, untrusted certificate) when
//   retry_permanent_failures is off, as it is for the one-shot commands.
// - No retry once the attempts or the total retry budget (time since the first attempt, including
//   the coming wait) would be exceeded.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <random>
#include <string>

namespace crtoken {

enum class HttpMethod { kGet, kPost, kPut, kPatch, kDelete };
const char* HttpMethodName(HttpMethod method);  // "GET", ...
bool IsIdempotent(HttpMethod method);           // every method but POST

// RFC 9110 HTTP-date: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the obsolete RFC 850
// ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime ("Sun Nov  6 08:49:37 1994") forms.
std::optional<std::chrono::sys_seconds> ParseHttpDate(const std::string& text);

// The wait a Retry-After value asks for: delay-seconds ("120") or an HTTP-date (a date in the past
// means no wait). std::nullopt when the value is neither. Not capped here.
std::optional<std::chrono::milliseconds> ParseRetryAfter(const std::string& value,
                                                         std::chrono::system_clock::time_point now);

struct RetryOptions {
  std::chrono::milliseconds retry_budget = std::chrono::seconds(120);
  std::chrono::milliseconds retry_after_cap = std::chrono::seconds(60);
  std::chrono::milliseconds initial_backoff = std::chrono::milliseconds(200);
  std::chrono::milliseconds max_backoff = std::chrono::seconds(10);
  int max_attempts = 10;  // including the first
  // False for one-shot commands (plan, apply): a connection failure that no retry fixes
  // (AttemptOutcome::permanent) is final at once instead of being retried for the whole budget.
  // The daemon keeps true: it waits out a misconfigured or absent server patiently.
  bool retry_permanent_failures = true;
};

// How one attempt ended.
struct AttemptOutcome {
  enum class Failure {
    kNone,        // an HTTP response arrived: see status
    kTimeout,     // the per-request deadline passed
    kConnection,  // refused, reset, closed without an answer, TLS failure
  };
  int status = 0;  // the HTTP status, 0 without a response
  Failure failure = Failure::kNone;
  std::optional<std::string> retry_after;  // the Retry-After header, when present
  // For kConnection: waiting will not fix it (refused, unresolvable name, untrusted certificate).
  bool permanent = false;
};

struct RetryDecision {
  bool retry = false;
  std::chrono::milliseconds delay{0};
  std::string reason;  // for the warning log, e.g. "503" or "429 (Retry-After 2s)"
};

class RetryPolicy {
 public:
  // `seed` feeds the jitter: tests pass a fixed one, the client a random one.
  explicit RetryPolicy(RetryOptions options, uint64_t seed = std::random_device{}());

  // `attempt`: the 1-based number of the attempt that just ended; `elapsed`: time since the first
  // attempt began; `now`: wall-clock time, for HTTP-date Retry-After values. Thread-safe.
  RetryDecision Decide(HttpMethod method, const AttemptOutcome& outcome, int attempt,
                       std::chrono::milliseconds elapsed,
                       std::chrono::system_clock::time_point now);

  // Jittered exponential backoff after `attempt` (1-based): uniform in [d/2, d] where
  // d = min(max_backoff, initial_backoff * 2^(attempt-1)). Thread-safe.
  std::chrono::milliseconds Backoff(int attempt);

  const RetryOptions& options() const { return options_; }

 private:
  const RetryOptions options_;
  std::mutex mu_;
  std::mt19937_64 rng_;
};

}  // namespace crtoken
