#include "daemon/registry/token_bucket.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace crtoken {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

struct FakeTime {
  std::chrono::steady_clock::time_point now{};
  nanoseconds slept{0};
  TokenBucket::NowFn NowFn() {
    return [this] { return now; };
  }
  TokenBucket::SleepFn SleepFn() {
    return [this](nanoseconds d) {
      slept += d;
      now += d;  // sleeping moves the fake clock
    };
  }
};

TEST(TokenBucketTest, BurstThenRate) {
  FakeTime t;
  TokenBucket bucket(10, 3, t.NowFn(), t.SleepFn());
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  // Bucket empty: the next callers queue at 1/qps each.
  EXPECT_EQ(bucket.Reserve(), milliseconds(100));
  EXPECT_EQ(bucket.Reserve(), milliseconds(200));
  t.now += milliseconds(200);  // both reservations are now due; the bucket is at zero
  EXPECT_EQ(bucket.Reserve(), milliseconds(100));
}

TEST(TokenBucketTest, RefillsUpToBurstOnly) {
  FakeTime t;
  TokenBucket bucket(2, 2, t.NowFn(), t.SleepFn());
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  t.now += std::chrono::hours(1);  // an idle hour saves up no more than `burst`
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), nanoseconds(0));
  EXPECT_EQ(bucket.Reserve(), milliseconds(500));
}

TEST(TokenBucketTest, AcquireSleepsToHoldTheRate) {
  FakeTime t;
  TokenBucket bucket(20, 5, t.NowFn(), t.SleepFn());
  const auto start = t.now;
  for (int i = 0; i < 105; ++i) bucket.Acquire();
  // 5 free, then 100 at 20/s: 5 s of (fake) waiting.
  EXPECT_EQ(t.now - start, std::chrono::seconds(5));
}

TEST(TokenBucketTest, SharedAcrossThreads) {
  // Many threads reserve concurrently against a frozen clock: every token is handed out exactly
  // once, so the waits are exactly 0 (burst times) and then k/qps for k = 1..n-burst.
  std::chrono::steady_clock::time_point frozen{};
  TokenBucket bucket(100, 10, [&] { return frozen; });
  std::vector<nanoseconds> waits(400);
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < 100; ++i) waits[th * 100 + i] = bucket.Reserve();
    });
  }
  for (auto& th : threads) th.join();
  std::sort(waits.begin(), waits.end());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(waits[i], nanoseconds(0));
  for (int i = 10; i < 400; ++i) EXPECT_EQ(waits[i], milliseconds(10) * (i - 9)) << i;
}

}  // namespace
}  // namespace crtoken
