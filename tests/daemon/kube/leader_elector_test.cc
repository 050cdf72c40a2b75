// LeaderElector and KubeLeaseLock against the Kubernetes API emulator: the Lease is read back
// through the emulator's own API, time moves only when the test moves the fake clocks, and every
// elector has a clock of its own (replicas never share one).
#include "daemon/kube/leader_elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "daemon/kube/kube_client.h"
#include "daemon/kube/lease_lock.h"
#include "tests/daemon/kube/emulated_cluster.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr char kNamespace[] = "crtoken";
constexpr char kLeasePath[] = "/apis/coordination.k8s.io/v1/namespaces/crtoken/leases/crtoken";

// Callbacks that collect the reasons given.
LeaderElector::Callbacks OnStarted(std::vector<std::string>& reasons) {
  LeaderElector::Callbacks callbacks;
  callbacks.started_leading = [&reasons](const std::string& why) { reasons.push_back(why); };
  return callbacks;
}
LeaderElector::Callbacks OnStopped(std::vector<std::string>& reasons) {
  LeaderElector::Callbacks callbacks;
  callbacks.stopped_leading = [&reasons](const std::string& why) { reasons.push_back(why); };
  return callbacks;
}

class LeaderElectorTest : public ::testing::Test {
 protected:
  // A replica: its own lock, its own clock, its own identity.
  struct Replica {
    Replica(KubeClient& client, const std::string& identity,
            LeaderElector::Callbacks callbacks = {}, LeaderElectionConfig config = {})
        : lock(client, kNamespace, "crtoken"),
          elector(WithIdentity(std::move(config), identity), lock, clock, std::move(callbacks)) {}
    static LeaderElectionConfig WithIdentity(LeaderElectionConfig c, const std::string& id) {
      c.identity = id;
      return c;
    }
    test::FakeClock clock;
    KubeLeaseLock lock;
    LeaderElector elector;
  };

  json Api(const std::string& method, const std::string& path, const json& body = nullptr,
           int* status = nullptr) {
    return cluster_.Api(method, path, body, status);
  }
  json Lease() {
    int status = 0;
    json lease = Api("GET", kLeasePath, nullptr, &status);
    EXPECT_EQ(status, 200) << lease.dump();
    return lease;
  }
  void AddFault(const json& rule) { cluster_.AddFault(rule); }
  int CountLeaseRequests(const std::string& method) {
    return cluster_.CountRequests(method, "/leases");
  }

  test::EmulatedCluster cluster_;
  KubeClient* client_ = &cluster_.client();
};

TEST_F(LeaderElectorTest, TheFirstCandidateCreatesTheLeaseAndRenewsIt) {
  Replica a(*client_, "pod-a_0000000001");
  EXPECT_FALSE(a.elector.CheckLeading().ok());
  EXPECT_EQ(a.elector.Step(), 2s);  // leading: renew after exactly one retry period
  ASSERT_TRUE(a.elector.leading());
  EXPECT_TRUE(a.elector.CheckLeading().ok());

  json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "pod-a_0000000001");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 15);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);
  EXPECT_EQ(lease["spec"]["acquireTime"], "2026-11-28T12:00:00.000000Z");
  EXPECT_EQ(lease["spec"]["renewTime"], "2026-11-28T12:00:00.000000Z");
  const std::string rv = lease["metadata"]["resourceVersion"];

  Api("DELETE", "/_emulator/requests");
  a.clock.Advance(2s + 250ms);
  a.elector.Step();
  // A renewal is one request: an update carrying the resourceVersion of the last write.
  EXPECT_EQ(CountLeaseRequests("PUT"), 1);
  EXPECT_EQ(CountLeaseRequests("GET"), 0);
  lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "pod-a_0000000001");
  EXPECT_EQ(lease["spec"]["acquireTime"], "2026-11-28T12:00:00.000000Z");  // kept
  EXPECT_EQ(lease["spec"]["renewTime"], "2026-11-28T12:00:02.250000Z");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);  // no change of holder
  EXPECT_NE(lease["metadata"]["resourceVersion"], rv);
  EXPECT_TRUE(a.elector.CheckLeading().ok());
}

TEST_F(LeaderElectorTest, AStandbyTakesAnUnrenewedLeaseOnlyALeaseDurationAfterItFirstSawIt) {
  Replica a(*client_, "pod-a_0000000001");
  std::vector<std::string> b_started;
  Replica b(*client_, "pod-b_0000000002", OnStarted(b_started));
  // B's wall clock is an hour ahead: wall times are written, never compared.
  b.clock.Advance(1h);
  a.elector.Step();
  ASSERT_TRUE(a.elector.leading());

  const auto wait = b.elector.Step();
  EXPECT_GE(wait, 2s);
  EXPECT_LT(wait, 2400ms);  // a candidate's retry period, with jitter below 1.2
  EXPECT_FALSE(b.elector.leading());
  Status refused = b.elector.CheckLeading();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(refused.error().message.find("Lease crtoken/crtoken is held by pod-a_0000000001"),
            std::string::npos)
      << refused.error().message;

  // A stops renewing (paused). B saw the record at its own t0; at t0 + 14.9 s it is still valid.
  b.clock.Advance(14900ms);
  b.elector.Step();
  EXPECT_FALSE(b.elector.leading());
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "pod-a_0000000001");

  b.clock.Advance(200ms);
  b.elector.Step();
  ASSERT_TRUE(b.elector.leading());
  ASSERT_EQ(b_started.size(), 1u);
  EXPECT_NE(b_started[0].find("the lease of pod-a_0000000001 expired"), std::string::npos)
      << b_started[0];
  json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "pod-b_0000000002");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(lease["spec"]["acquireTime"], "2026-11-28T13:00:15.100000Z");  // B's wall clock
}

TEST_F(LeaderElectorTest, ARenewalSeenByAStandbyRestartsItsWait) {
  Replica a(*client_, "pod-a_0000000001");
  Replica b(*client_, "pod-b_0000000002");
  a.elector.Step();
  b.elector.Step();
  for (int i = 0; i < 10; ++i) {  // 20 s of renewals, far past one lease duration
    a.clock.Advance(2s);
    b.clock.Advance(2s);
    a.elector.Step();
    b.elector.Step();
    ASSERT_TRUE(a.elector.leading());
    ASSERT_FALSE(b.elector.leading()) << "round " << i;
  }
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "pod-a_0000000001");
}

TEST_F(LeaderElectorTest, TheFenceClosesAtTheRenewDeadlineWithoutAnotherStep) {
  std::vector<std::string> stopped;
  Replica a(*client_, "pod-a_0000000001", OnStopped(stopped));
  a.elector.Step();
  ASSERT_TRUE(a.elector.CheckLeading().ok());
  // Paused: no Step runs. The proof is read from the clock, not from the elector's thread.
  a.clock.Advance(9999ms);
  EXPECT_TRUE(a.elector.CheckLeading().ok());
  a.clock.Advance(1ms);
  Status refused = a.elector.CheckLeading();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::kUnavailable);
  EXPECT_NE(
      refused.error().message.find("was last renewed 10s ago, past the renew deadline of 10s"),
      std::string::npos)
      << refused.error().message;
  // The next round says so and ends the leadership; nobody took the Lease, so it takes it back as
  // a new term (its record still names it).
  a.elector.Step();
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_NE(stopped[0].find("could not renew Lease crtoken/crtoken within the renew deadline"),
            std::string::npos)
      << stopped[0];
  EXPECT_TRUE(a.elector.leading());
  EXPECT_TRUE(a.elector.CheckLeading().ok());
}

TEST_F(LeaderElectorTest, ALeaderThatCannotRenewStopsLeadingAtTheDeadline) {
  std::vector<std::string> stopped;
  Replica a(*client_, "pod-a_0000000001", OnStopped(stopped));
  a.elector.Step();
  ASSERT_TRUE(a.elector.leading());
  AddFault({{"status", 503}, {"count", 100}, {"methods", {"GET", "PUT"}}, {"path", "/leases"}});
  for (int i = 0; i < 4; ++i) {  // 8 s of failed renewals: still within the deadline
    a.clock.Advance(2s);
    a.elector.Step();
    EXPECT_TRUE(a.elector.leading());
    EXPECT_TRUE(a.elector.CheckLeading().ok());
  }
  a.clock.Advance(2s);
  a.elector.Step();
  EXPECT_FALSE(a.elector.leading());
  EXPECT_FALSE(a.elector.CheckLeading().ok());
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_NE(stopped[0].find("within the renew deadline of 10s (last error: kubernetes"),
            std::string::npos)
      << stopped[0];
  EXPECT_NE(stopped[0].find("503"), std::string::npos) << stopped[0];
}

TEST_F(LeaderElectorTest, ALeaderThatSeesAnotherHolderStepsDown) {
  std::vector<std::string> stopped;
  Replica a(*client_, "pod-a_0000000001", OnStopped(stopped));
  Replica b(*client_, "pod-b_0000000002");
  a.elector.Step();
  b.elector.Step();
  // A is paused for 20 s; B takes the Lease; A resumes.
  b.clock.Advance(16s);
  b.elector.Step();
  ASSERT_TRUE(b.elector.leading());
  a.clock.Advance(20s);
  EXPECT_FALSE(a.elector.CheckLeading().ok());  // before A's elector runs again
  a.elector.Step();
  EXPECT_FALSE(a.elector.leading());
  ASSERT_FALSE(stopped.empty());
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "pod-b_0000000002");
  Status refused = a.elector.CheckLeading();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("held by pod-b_0000000002"), std::string::npos)
      << refused.error().message;
}

TEST_F(LeaderElectorTest, AConflictIsReadAgainAndRetriedInTheSameRound) {
  Replica a(*client_, "pod-a_0000000001");
  Replica b(*client_, "pod-b_0000000002");
  a.elector.Step();
  b.elector.Step();
  b.clock.Advance(16s);
  // Another writer changes the Lease between B's read and B's update (a label, no renewal):
  // B's update meets a genuine 409, B reads again and takes the still-expired Lease at once.
  AddFault({{"touch", true}, {"count", 1}, {"methods", {"PUT"}}, {"path", "/leases/crtoken"}});
  b.elector.Step();
  ASSERT_TRUE(b.elector.leading());
  json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "pod-b_0000000002");
  EXPECT_EQ(lease["metadata"]["annotations"]["k8s-emulator/touched"], "1");  // kept
  int statuses409 = 0;
  for (const json& r : Api("GET", "/_emulator/requests")) {
    if (r["method"] == "PUT" && r["status"] == 409) ++statuses409;
  }
  EXPECT_EQ(statuses409, 1);

  // The leader's one-request renewal meets a 409 the same way and renews after a read.
  AddFault({{"touch", true}, {"count", 1}, {"methods", {"PUT"}}, {"path", "/leases/crtoken"}});
  b.clock.Advance(2s);
  b.elector.Step();
  EXPECT_TRUE(b.elector.leading());
  EXPECT_TRUE(b.elector.CheckLeading().ok());
  EXPECT_EQ(Lease()["spec"]["renewTime"], "2026-11-28T12:00:18.000000Z");
}

TEST_F(LeaderElectorTest, TwoCandidatesRacingForNoLeaseEndWithOneLeader) {
  for (int round = 0; round < 5; ++round) {
    int status = 0;
    Api("DELETE", kLeasePath, nullptr, &status);
    Replica a(*client_, "pod-a_0000000001");
    Replica b(*client_, "pod-b_0000000002");
    std::atomic<bool> go{false};
    std::thread ta([&] {
      while (!go) std::this_thread::yield();
      a.elector.Step();
    });
    std::thread tb([&] {
      while (!go) std::this_thread::yield();
      b.elector.Step();
    });
    go = true;
    ta.join();
    tb.join();
    EXPECT_NE(a.elector.leading(), b.elector.leading()) << "round " << round;
    EXPECT_NE(a.elector.CheckLeading().ok(), b.elector.CheckLeading().ok());
    const std::string holder = Lease()["spec"]["holderIdentity"];
    EXPECT_EQ(holder, a.elector.leading() ? "pod-a_0000000001" : "pod-b_0000000002");
  }
}

TEST_F(LeaderElectorTest, AReleasedLeaseIsTakenAtTheNextTryNotAfterAnExpiry) {
  std::vector<std::string> stopped;
  Replica a(*client_, "pod-a_0000000001", OnStopped(stopped));
  Replica b(*client_, "pod-b_0000000002");
  a.elector.Step();
  b.elector.Step();
  ASSERT_TRUE(a.elector.Release().ok());
  EXPECT_FALSE(a.elector.leading());
  Status refused = a.elector.CheckLeading();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("released"), std::string::npos);
  ASSERT_EQ(stopped.size(), 1u);
  json lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "");
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 1);
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 0);

  b.elector.Step();  // no time has passed for B
  EXPECT_TRUE(b.elector.leading());
  lease = Lease();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "pod-b_0000000002");
  EXPECT_EQ(lease["spec"]["leaseTransitions"], 1);
  EXPECT_EQ(lease["spec"]["leaseDurationSeconds"], 15);

  // Released for good: A takes nothing any more, and a second release changes nothing.
  a.elector.Step();
  EXPECT_FALSE(a.elector.leading());
  EXPECT_TRUE(a.elector.Release().ok());
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "pod-b_0000000002");
}

TEST_F(LeaderElectorTest, AStandbyReleasesNothing) {
  Replica a(*client_, "pod-a_0000000001");
  Replica b(*client_, "pod-b_0000000002");
  a.elector.Step();
  b.elector.Step();
  EXPECT_TRUE(b.elector.Release().ok());
  EXPECT_EQ(Lease()["spec"]["holderIdentity"], "pod-a_0000000001");
  EXPECT_EQ(CountLeaseRequests("PUT"), 0);  // A created it; nobody updated it
}

TEST_F(LeaderElectorTest, MayAcquireHoldsACandidateOffAFreeLease) {
  Replica b(*client_, "pod-b_0000000002");
  bool may = false;
  b.elector.set_may_acquire([&] { return may; });
  b.elector.Step();
  EXPECT_FALSE(b.elector.leading());
  int status = 0;
  Api("GET", kLeasePath, nullptr, &status);
  EXPECT_EQ(status, 404);  // not even created
  may = true;
  b.elector.Step();
  EXPECT_TRUE(b.elector.leading());
}

TEST_F(LeaderElectorTest, TheLeaseIsReachableWhileItAnswers) {
  Replica b(*client_, "pod-b_0000000002");
  EXPECT_FALSE(b.elector.LeaseReachable());  // never asked yet
  b.elector.set_may_acquire([] { return false; });
  b.elector.Step();
  EXPECT_TRUE(b.elector.LeaseReachable());
  AddFault({{"status", 503}, {"count", 100}, {"methods", {"GET"}}, {"path", "/leases"}});
  b.clock.Advance(14s);
  b.elector.Step();
  EXPECT_TRUE(b.elector.LeaseReachable());
  b.clock.Advance(1s);
  EXPECT_FALSE(b.elector.LeaseReachable());  // no answer for a lease duration
}

TEST_F(LeaderElectorTest, AnUpdateKeepsWhatElseTheLeaseHolds) {
  Replica a(*client_, "pod-a_0000000001");
  a.elector.Step();
  json lease = Lease();
  lease["metadata"]["labels"] = {{"team", "platform"}};
  int status = 0;
  Api("PUT", kLeasePath, lease, &status);
  ASSERT_EQ(status, 200);
  a.clock.Advance(2s);
  a.elector.Step();  // the fast renewal meets a 409, reads again, renews
  lease = Lease();
  EXPECT_EQ(lease["metadata"]["labels"]["team"], "platform");
  EXPECT_EQ(lease["spec"]["renewTime"], "2026-11-28T12:00:02.000000Z");
}

TEST(LeaderElectionConfigTest, KubeControllerManagersRules) {
  LeaderElectionConfig c;  // 15s, 10s, 2s: kube-controller-manager's defaults
  EXPECT_EQ(ValidateLeaderElection(c), "");
  c.lease_duration = 10s;
  EXPECT_EQ(ValidateLeaderElection(c),
            "--leader-elect-lease-duration (10s) must be greater than "
            "--leader-elect-renew-deadline (10s): a leader must stop writing before another "
            "replica can take its Lease over");
  c = {};
  c.retry_period = 9s;
  EXPECT_EQ(ValidateLeaderElection(c),
            "--leader-elect-renew-deadline (10s) must be greater than 1.2 x "
            "--leader-elect-retry-period (9s): the leader must get more than one try to renew");
  c = {};
  c.lease_duration = 15500ms;
  EXPECT_EQ(ValidateLeaderElection(c),
            "--leader-elect-lease-duration 15.5s must be a whole number of seconds (a Lease holds "
            "its duration in seconds)");
  c = {};
  c.retry_period = 0ms;
  EXPECT_EQ(ValidateLeaderElection(c), "--leader-elect-retry-period must be positive");
  c = {};
  c.lease_duration = 3s;
  c.renew_deadline = 2s;
  c.retry_period = 500ms;
  EXPECT_EQ(ValidateLeaderElection(c), "");
}

TEST(LeaderElectionConfigTest, IdentityIsTheHostAndARandomSuffix) {
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    const std::string id = LeaderIdentity("crtoken-7d9f8c6b5-x2x7z");
    ASSERT_EQ(id.size(), std::string("crtoken-7d9f8c6b5-x2x7z_").size() + 10) << id;
    EXPECT_EQ(id.rfind("crtoken-7d9f8c6b5-x2x7z_", 0), 0u) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 50u);
  EXPECT_EQ(LeaderIdentity("").rfind("crtoken_", 0), 0u);
}

TEST(LeaderElectionConfigTest, LeaseNamesAreChecked) {
  EXPECT_EQ(ValidLeaseName("crtoken", "crtoken"), "");
  EXPECT_NE(ValidLeaseName("Crtoken", "crtoken").find("namespace \"Crtoken\""), std::string::npos);
  EXPECT_NE(ValidLeaseName("crtoken", "a/b").find("name \"a/b\""), std::string::npos);
}

}  // namespace
}  // namespace crtoken
