#include "reconciler/work_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

using test::FakeClock;

WorkOutcome Failure() { return WorkOutcome{false, std::nullopt}; }
WorkOutcome Success() { return WorkOutcome{true, std::nullopt}; }

BackoffPolicy NoJitter() {
  BackoffPolicy p;
  p.jitter = 0;
  return p;
}

// Drains every ready key (marking each running) and returns them in order.
std::vector<std::string> Drain(WorkQueue& q) {
  std::vector<std::string> out;
  while (auto k = q.TryGet()) out.push_back(*k);
  return out;
}

TEST(WorkQueueTest, RepeatedAddsCollapse) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("a");
  q.Add("b");
  q.Add("a");
  q.Add("a");
  EXPECT_EQ(Drain(q), (std::vector<std::string>{"a", "b"}));
}

TEST(WorkQueueTest, KeyNeverHandedOutTwiceAtOnce) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("a");
  ASSERT_EQ(q.TryGet(), "a");
  q.Add("a");  // while running
  q.Add("a");
  EXPECT_EQ(q.TryGet(), std::nullopt);
  q.Done("a", {});
  // Exactly one re-run for all Adds that arrived while it ran.
  EXPECT_EQ(q.TryGet(), "a");
  q.Done("a", {});
  EXPECT_EQ(q.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, AddAfterFiresOnlyWhenDue) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.AddAfter("a", seconds(10));
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock.Advance(seconds(9));
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock.Advance(seconds(1));
  EXPECT_EQ(q.TryGet(), "a");
}

TEST(WorkQueueTest, EarlierScheduleWins) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.AddAfter("a", seconds(60));
  q.AddAfter("a", seconds(5));
  q.AddAfter("a", seconds(30));
  clock.Advance(seconds(5));
  EXPECT_EQ(q.TryGet(), "a");
  q.Done("a", {});
  clock.Advance(minutes(2));
  // The later schedules collapsed into the earliest: nothing is left.
  EXPECT_EQ(q.TryGet(), std::nullopt);
}

TEST(WorkQueueTest, AddOverridesScheduleAndBackoff) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("a");
  ASSERT_EQ(q.TryGet(), "a");
  q.Done("a", Failure());  // backoff 1s
  q.Done("a", {});         // (ignored: not running)
  q.AddAfter("b", minutes(5));
  q.Add("b");  // a spec change: now, not in five minutes
  q.Add("a");
  auto got = Drain(q);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), (std::set<std::string>{"a", "b"}));
}

struct BackoffCase {
  int failures;
  milliseconds want;
};

TEST(WorkQueueTest, BackoffTable) {
  FakeClock clock;
  BackoffPolicy p = NoJitter();
  p.base = seconds(1);
  p.max = minutes(5);
  WorkQueue q(clock, p);
  const BackoffCase cases[] = {
      {1, seconds(1)},   {2, seconds(2)},  {3, seconds(4)},  {4, seconds(8)},   {8, seconds(128)},
      {9, seconds(256)}, {10, minutes(5)}, {11, minutes(5)}, {100, minutes(5)}, {10000, minutes(5)},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(q.BackoffFor(c.failures), c.want) << "failures=" << c.failures;
  }
}

TEST(WorkQueueTest, JitterStaysWithinBounds) {
  FakeClock clock;
  BackoffPolicy p;
  p.base = seconds(1);
  p.max = minutes(5);
  p.jitter = 0.2;
  p.seed = 42;
  WorkQueue q(clock, p);
  std::set<milliseconds::rep> seen;
  for (int i = 0; i < 200; ++i) {
    milliseconds d = q.BackoffFor(3);  // 4s nominal
    EXPECT_GE(d, seconds(4));
    EXPECT_LT(d, milliseconds(4800));
    seen.insert(d.count());
    EXPECT_LE(q.BackoffFor(20), minutes(5));
  }
  EXPECT_GT(seen.size(), 50u) << "jitter should spread retries";
}

TEST(WorkQueueTest, FailuresBackOffExponentiallyAndSuccessResets) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("r");
  const milliseconds expected[] = {seconds(1), seconds(2), seconds(4), seconds(8)};
  for (milliseconds d : expected) {
    ASSERT_EQ(q.TryGet(), "r");
    q.Done("r", Failure());
    clock.Advance(d - milliseconds(1));
    EXPECT_EQ(q.TryGet(), std::nullopt) << "ran before its backoff of " << d.count() << "ms";
    clock.Advance(milliseconds(1));
  }
  EXPECT_EQ(q.Failures("r"), 4);
  ASSERT_EQ(q.TryGet(), "r");
  q.Done("r", Success());
  EXPECT_EQ(q.Failures("r"), 0);
  q.Add("r");
  ASSERT_EQ(q.TryGet(), "r");
  q.Done("r", Failure());
  clock.Advance(seconds(1));  // back to the base delay
  EXPECT_EQ(q.TryGet(), "r");
}

TEST(WorkQueueTest, FailureHonoursLongerRequeueAfter) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("r");
  ASSERT_EQ(q.TryGet(), "r");
  q.Done("r", {.success = false, .requeue_after = seconds(30)});  // e.g. Retry-After
  clock.Advance(seconds(29));
  EXPECT_EQ(q.TryGet(), std::nullopt);
  clock.Advance(seconds(1));
  EXPECT_EQ(q.TryGet(), "r");
}

TEST(WorkQueueTest, SuccessSchedulesRequeueAfter) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("r");
  ASSERT_EQ(q.TryGet(), "r");
  q.Done("r", {.success = true, .requeue_after = seconds(60)});
  ASSERT_TRUE(q.DueAt("r").has_value());
  EXPECT_EQ(*q.DueAt("r"), clock.Monotonic() + seconds(60));
  clock.Advance(seconds(60));
  EXPECT_EQ(q.TryGet(), "r");
}

TEST(WorkQueueTest, AddWhileRunningAfterFailureRunsAtOnce) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("r");
  ASSERT_EQ(q.TryGet(), "r");
  q.Add("r");  // the spec changed while the failing pass ran
  q.Done("r", Failure());
  EXPECT_EQ(q.TryGet(), "r");
  EXPECT_EQ(q.Failures("r"), 1);
}

TEST(WorkQueueTest, ScheduleFiringWhileRunningRerunsOnce) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("r");
  ASSERT_EQ(q.TryGet(), "r");
  q.AddAfter("r", seconds(1));
  clock.Advance(seconds(2));
  EXPECT_EQ(q.TryGet(), std::nullopt);  // still running
  q.Done("r", {});
  EXPECT_EQ(q.TryGet(), "r");
}

TEST(WorkQueueTest, ForgetDropsScheduleAndRerun) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.AddAfter("gone", seconds(1));
  q.Add("running");
  ASSERT_EQ(q.TryGet(), "running");
  q.Add("running");
  q.Forget("gone");
  q.Forget("running");
  q.Done("running", Failure());
  clock.Advance(minutes(10));
  EXPECT_EQ(q.TryGet(), std::nullopt);
  EXPECT_EQ(q.Failures("running"), 0);
}

TEST(WorkQueueTest, ShutDownStopsHandingOutWork) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  q.Add("a");
  q.ShutDown();
  EXPECT_EQ(q.TryGet(), std::nullopt);
  EXPECT_EQ(q.Get(), std::nullopt);
  q.Add("b");
  EXPECT_EQ(q.ReadyCount(), 1u);  // "a" stays; "b" was refused
}

TEST(WorkQueueTest, BlockedGetWakesOnAddAndOnClock) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  std::optional<std::string> got;
  std::thread t([&] { got = q.Get(); });
  q.Add("x");
  t.join();
  EXPECT_EQ(got, "x");
  q.Done("x", {});

  q.AddAfter("y", minutes(5));
  std::thread t2([&] { got = q.Get(); });
  clock.Advance(minutes(5));
  q.Wake();
  t2.join();
  EXPECT_EQ(got, "y");
}

// A handler that blocks until released, recording concurrency.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int active = 0;
  int max_active = 0;
  std::map<std::string, int> active_by_key;
  bool overlap = false;
  std::vector<std::string> done;

  WorkOutcome Handle(const std::string& key) {
    std::unique_lock<std::mutex> lock(mu);
    active++;
    max_active = std::max(max_active, active);
    if (++active_by_key[key] > 1) overlap = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    active_by_key[key]--;
    active--;
    done.push_back(key);
    cv.notify_all();
    return {};
  }
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, seconds(30), pred);
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
};

TEST(WorkerPoolTest, RunsUpToConcurrencyAndNeverOneKeyTwice) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  Gate gate;
  WorkerPool pool(q, 3, [&](const std::string& k) { return gate.Handle(k); });
  for (const char* k : {"a", "b", "c", "d", "e"}) q.Add(k);
  ASSERT_TRUE(gate.WaitFor([&] { return gate.active == 3; }));
  q.Add("a");
  q.Add("b");
  q.Add("c");
  gate.Open();
  ASSERT_TRUE(gate.WaitFor([&] { return gate.done.size() >= 5; }));
  EXPECT_TRUE(pool.Stop(seconds(30)));
  EXPECT_EQ(gate.max_active, 3);
  EXPECT_FALSE(gate.overlap);
}

TEST(WorkerPoolTest, StopWaitsForInFlightAndTakesNoNewWork) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  Gate gate;
  WorkerPool pool(q, 2, [&](const std::string& k) { return gate.Handle(k); });
  q.Add("a");
  ASSERT_TRUE(gate.WaitFor([&] { return gate.active == 1; }));
  std::atomic<bool> stopped{false};
  std::thread stopper([&] { stopped = pool.Stop(seconds(30)); });
  // Stop must not return while "a" is in flight; meanwhile new work is refused.
  while (!q.shutting_down()) std::this_thread::yield();
  q.Add("b");
  EXPECT_FALSE(stopped.load());
  EXPECT_EQ(pool.InFlight(), 1);
  gate.Open();
  stopper.join();
  EXPECT_TRUE(stopped.load());
  EXPECT_EQ(gate.done, (std::vector<std::string>{"a"}));
}

TEST(WorkerPoolTest, StopReportsMissedDeadline) {
  FakeClock clock;
  WorkQueue q(clock, NoJitter());
  Gate gate;
  WorkerPool pool(q, 1, [&](const std::string& k) { return gate.Handle(k); });
  q.Add("slow");
  ASSERT_TRUE(gate.WaitFor([&] { return gate.active == 1; }));
  EXPECT_FALSE(pool.Stop(milliseconds(20)));
  gate.Open();
  EXPECT_TRUE(pool.Stop(seconds(30)));
}

}  // namespace
}  // namespace crtoken
