#include "daemon/registry/retry_policy.h"

#include <gtest/gtest.h>

namespace crtoken {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Failure = AttemptOutcome::Failure;

std::chrono::system_clock::time_point At(int y, int mo, int d, int h, int mi, int s) {
  return std::chrono::sys_days(std::chrono::year(y) / mo / d) + std::chrono::hours(h) +
         std::chrono::minutes(mi) + seconds(s);
}

TEST(HttpDateTest, ThreeForms) {
  const auto expected = At(1994, 11, 6, 8, 49, 37);
  EXPECT_EQ(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT"), expected);
  EXPECT_EQ(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"), expected);
  EXPECT_EQ(ParseHttpDate("Sun Nov  6 08:49:37 1994"), expected);
  EXPECT_EQ(ParseHttpDate("  Thu, 01 Jan 2037 00:00:00 GMT "), At(2037, 1, 1, 0, 0, 0));
  EXPECT_EQ(ParseHttpDate("Thursday, 01-Jan-37 00:00:00 GMT"), At(2037, 1, 1, 0, 0, 0));
}

TEST(HttpDateTest, Rejects) {
  for (const char* bad : {"", "Sun", "Sun, 06 Nov 1994 08:49:37", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                          "Sun, 6 Nov 1994 08:49:37 GMT", "Sun, 06 Foo 1994 08:49:37 GMT",
                          "2027-01-01T00:00:00Z", "Sun Nov  6 08:49:37 1994 x"}) {
    EXPECT_FALSE(ParseHttpDate(bad).has_value()) << bad;
  }
}

TEST(RetryAfterTest, SecondsAndDate) {
  const auto now = At(2026, 11, 28, 12, 0, 0);
  EXPECT_EQ(ParseRetryAfter("0", now), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("2", now), seconds(2));
  EXPECT_EQ(ParseRetryAfter(" 120 ", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter("99999999999", now), std::chrono::hours(24));
  EXPECT_EQ(ParseRetryAfter("Sat, 28 Nov 2026 12:00:03 GMT", now), seconds(3));
  EXPECT_EQ(ParseRetryAfter("Sat, 28 Nov 2026 11:59:00 GMT", now), milliseconds(0));  // past
  // Sub-second "now": the wait rounds up, so the retry never comes before the date.
  EXPECT_EQ(ParseRetryAfter("Sat, 28 Nov 2026 12:00:03 GMT", now + milliseconds(400)),
            milliseconds(2600));
  for (const char* bad : {"", "-1", "1.5", "soon", "2s"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, now).has_value()) << bad;
  }
}

RetryOptions Opts() {
  RetryOptions o;
  o.retry_budget = seconds(120);
  o.retry_after_cap = seconds(60);
  o.initial_backoff = milliseconds(200);
  o.max_backoff = seconds(10);
  o.max_attempts = 10;
  return o;
}

AttemptOutcome Status(int status, std::optional<std::string> retry_after = std::nullopt) {
  AttemptOutcome o;
  o.status = status;
  o.retry_after = std::move(retry_after);
  return o;
}

AttemptOutcome Fail(Failure f) {
  AttemptOutcome o;
  o.failure = f;
  return o;
}

TEST(RetryPolicyTest, RateLimitHonoursRetryAfterForEveryMethodWithCap) {
  RetryPolicy p(Opts(), 1);
  const auto now = At(2026, 11, 28, 12, 0, 0);
  for (HttpMethod m : {HttpMethod::kGet, HttpMethod::kPost, HttpMethod::kPut, HttpMethod::kPatch,
                       HttpMethod::kDelete}) {
    auto d = p.Decide(m, Status(429, "2"), 1, milliseconds(0), now);
    EXPECT_TRUE(d.retry) << HttpMethodName(m);
    EXPECT_EQ(d.delay, seconds(2));
  }
  auto date = p.Decide(HttpMethod::kGet, Status(429, "Sat, 28 Nov 2026 12:00:05 GMT"), 1,
                       milliseconds(0), now);
  EXPECT_TRUE(date.retry);
  EXPECT_EQ(date.delay, seconds(5));
  auto capped = p.Decide(HttpMethod::kGet, Status(429, "3600"), 1, milliseconds(0), now);
  EXPECT_TRUE(capped.retry);
  EXPECT_EQ(capped.delay, seconds(60));
  auto capped_date = p.Decide(HttpMethod::kGet, Status(429, "Sun, 29 Nov 2026 12:00:00 GMT"), 1,
                              milliseconds(0), now);
  EXPECT_EQ(capped_date.delay, seconds(60));
  // No (or an unusable) header: the backoff.
  auto none = p.Decide(HttpMethod::kGet, Status(429), 1, milliseconds(0), now);
  EXPECT_TRUE(none.retry);
  EXPECT_GE(none.delay, milliseconds(100));
  EXPECT_LE(none.delay, milliseconds(200));
  auto garbage = p.Decide(HttpMethod::kGet, Status(429, "later"), 3, milliseconds(0), now);
  EXPECT_TRUE(garbage.retry);
  EXPECT_GE(garbage.delay, milliseconds(400));
  EXPECT_LE(garbage.delay, milliseconds(800));
}

TEST(RetryPolicyTest, TransientFailuresOnlyForIdempotentMethods) {
  RetryPolicy p(Opts(), 2);
  const auto now = std::chrono::system_clock::now();
  const std::vector<AttemptOutcome> transient = {
      Status(502), Status(503), Status(504), Fail(Failure::kTimeout), Fail(Failure::kConnection)};
  for (const auto& o : transient) {
    for (HttpMethod m :
         {HttpMethod::kGet, HttpMethod::kPut, HttpMethod::kPatch, HttpMethod::kDelete}) {
      EXPECT_TRUE(p.Decide(m, o, 1, milliseconds(0), now).retry)
          << HttpMethodName(m) << " " << o.status;
    }
    EXPECT_FALSE(p.Decide(HttpMethod::kPost, o, 1, milliseconds(0), now).retry) << o.status;
  }
}

TEST(RetryPolicyTest, FinalOutcomes) {
  RetryPolicy p(Opts(), 3);
  const auto now = std::chrono::system_clock::now();
  for (int status : {200, 201, 204, 400, 401, 403, 404, 409, 422, 500, 501}) {
    EXPECT_FALSE(p.Decide(HttpMethod::kGet, Status(status), 1, milliseconds(0), now).retry)
        << status;
  }
}

TEST(RetryPolicyTest, AttemptsAndBudget) {
  RetryOptions o = Opts();
  o.max_attempts = 3;
  o.retry_budget = seconds(10);
  RetryPolicy p(o, 4);
  const auto now = std::chrono::system_clock::now();
  EXPECT_TRUE(p.Decide(HttpMethod::kGet, Status(503), 2, milliseconds(0), now).retry);
  auto last = p.Decide(HttpMethod::kGet, Status(503), 3, milliseconds(0), now);
  EXPECT_FALSE(last.retry);
  EXPECT_NE(last.reason.find("no attempts left"), std::string::npos);
  // A Retry-After that would end beyond the budget is not waited for.
  auto over = p.Decide(HttpMethod::kGet, Status(429, "5"), 1, seconds(6), now);
  EXPECT_FALSE(over.retry);
  EXPECT_NE(over.reason.find("retry budget"), std::string::npos);
  EXPECT_TRUE(p.Decide(HttpMethod::kGet, Status(429, "5"), 1, seconds(4), now).retry);
}

TEST(RetryPolicyTest, BackoffBoundsAndGrowth) {
  RetryPolicy p(Opts(), 42);
  for (int attempt = 1; attempt <= 12; ++attempt) {
    const int64_t d = std::min<int64_t>(10000, int64_t(200) << (attempt - 1));
    for (int i = 0; i < 200; ++i) {
      const auto b = p.Backoff(attempt).count();
      ASSERT_GE(b, d / 2) << attempt;
      ASSERT_LE(b, d) << attempt;
    }
  }
  EXPECT_LE(p.Backoff(1000).count(), 10000);  // no overflow far out
  // The jitter is seeded: the same seed repeats the sequence, another spreads differently.
  RetryPolicy a(Opts(), 7), b(Opts(), 7), c(Opts(), 8);
  std::vector<int64_t> sa, sb, sc;
  for (int i = 1; i <= 20; ++i) {
    sa.push_back(a.Backoff(5).count());
    sb.push_back(b.Backoff(5).count());
    sc.push_back(c.Backoff(5).count());
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, sc);
}

}  // namespace
}  // namespace crtoken
