// The reconcile pass for a spec with spec.overlap, on the in-memory fakes with a fake clock: a
// renewal issues the idle slot and writes the secret with it, the previous slot lives on for the
// overlap and is then retired; at every step the secret holds a credential the registry accepts.
// A process killed at each point of a rotation (ReconcilerConfig::test_hook, with or without a
// power loss that drops the unsynced secret writes) leaves at most two slot tokens and a working
// secret, and the next process finishes the rotation from what it observes.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "reconciler/metrics.h"
#include "reconciler/reconciler.h"
#include "reconciler/token_id.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

constexpr char kHost[] = "acme.cr.de-fra.ionos.com";
constexpr char kOwner[] = "crtoken";

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

class RotationTest : public ::testing::Test {
 protected:
  RotationTest() : acme_(api_.AddRegistry("acme", kHost)) {
    api_.UseClock(&clock_);
    TokenSpec spec;
    spec.name = "ci";
    spec.registry = "acme";
    spec.lifetime = hours(48);
    spec.renew_before = hours(16);
    spec.overlap = hours(1);
    spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
    spec.secret.kind = SecretRef::Kind::kFile;
    spec.secret.file = "ci.json";
    spec.source = SourceLocation{"/specs/ci.yaml", 4, 9};
    desired_.specs = {spec};
  }

  // A new process (nothing held), dying at `crash_at` when given: from there on the registry and
  // the sink take nothing more. Actions run one at a time.
  std::unique_ptr<Reconciler> Process(std::string crash_at = "") {
    ReconcilerConfig config;
    config.parallelism = 1;
    config.policy.owner = kOwner;
    config.test_hook = [this, crash_at](std::string_view point) {
      if (crash_at.empty() || point != crash_at || crashed_) return;
      crashed_ = true;
      api_.down = true;
      sink_.down = true;
    };
    return std::make_unique<Reconciler>(api_, sink_, clock_, &metrics_, config);
  }

  PassResult Pass() { return Process()->Reconcile(desired_); }

  // One pass that dies at `point`; the world comes back up (after a power loss when asked).
  bool CrashingPass(const std::string& point, bool power_loss) {
    crashed_ = false;
    Process(point)->Reconcile(desired_);
    api_.down = false;
    sink_.down = false;
    if (power_loss) sink_.PowerLoss();
    return crashed_;
  }

  std::set<std::string> Tokens() const {
    std::set<std::string> names;
    for (const auto& [registry, token] : api_.AllTokens()) names.insert(token.name);
    return names;
  }

  // The slot the secret holds a working credential of: its user is a live, enabled token of the
  // registry, with that password, and the token the secret records. "" (and a failure) otherwise.
  std::string WorkingSlot() const {
    auto secret = sink_.Get("file:ci.json");
    if (!secret) {
      ADD_FAILURE() << "no secret";
      return "";
    }
    auto token = api_.Find(acme_, secret->username);
    if (!token) {
      ADD_FAILURE() << "the secret's user " << secret->username << " is not in the registry";
      return "";
    }
    EXPECT_EQ(secret->hostname, kHost);
    EXPECT_EQ(secret->password.Reveal(), token->password) << "a wrong password";
    EXPECT_EQ(token->token.status, TokenStatus::kEnabled);
    EXPECT_EQ(secret->record, (SecretRecord{kOwner, acme_, secret->username, token->token.id}));
    for (const auto& [registry, t] : api_.AllTokens()) {
      EXPECT_EQ(ClassifyTokenId(kOwner, registry, t.name, t.id).cls, TokenIdClass::kMine);
    }
    return secret->username;
  }

  std::string MetricsText() {
    return prometheus::TextSerializer().Serialize(metrics_.registry()->Collect());
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  Metrics metrics_;
  std::string acme_;
  DesiredState desired_;
  bool crashed_ = false;
};

TEST_F(RotationTest, TwoRotationsKeepAWorkingCredentialAndWakeForEveryStep) {
  PassResult first = Pass();
  ASSERT_TRUE(first.converged) << Joined(first.errors);
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a"}));
  EXPECT_EQ(WorkingSlot(), "ci-a");
  const Instant issued_a = std::chrono::floor<std::chrono::seconds>(clock_.Now());
  // The next pass without a change: the renewal (expiry - renewBefore).
  PassResult idle = Pass();
  EXPECT_TRUE(idle.plan.empty());
  EXPECT_EQ(idle.next_expiry, issued_a + hours(48) - hours(16));

  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"ci-a", "ci-b"}, {"ci-b", "ci-a"}}) {
    SCOPED_TRACE(from + " -> " + to);
    clock_.Advance(hours(32));  // the renewal is due
    PassResult rotate = Pass();
    ASSERT_TRUE(rotate.converged) << Joined(rotate.errors);
    ASSERT_EQ(rotate.plan.actions.size(), 1u);
    EXPECT_EQ(rotate.plan.actions[0].type, ActionType::kRotate);
    EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a", "ci-b"}));
    EXPECT_EQ(WorkingSlot(), to);
    const Instant rotated = std::chrono::floor<std::chrono::seconds>(clock_.Now());

    // Inside the overlap: nothing to do; the daemon comes back at the retirement.
    clock_.Advance(minutes(30));
    PassResult inside = Pass();
    EXPECT_TRUE(inside.plan.empty());
    EXPECT_EQ(inside.next_expiry, rotated + hours(1));
    EXPECT_EQ(inside.tokens.at(0).expiry, rotated + hours(48));
    EXPECT_EQ(inside.tokens.at(0).slot_expiry.size(), 2u);

    clock_.Advance(minutes(30));
    PassResult retire = Pass();
    ASSERT_TRUE(retire.converged) << Joined(retire.errors);
    ASSERT_EQ(retire.plan.actions.size(), 1u);
    EXPECT_EQ(
        retire.plan.actions[0].Describe(),
        "delete acme/" + from + ": retire: overlap ended " + FormatRfc3339(rotated + hours(1)));
    EXPECT_EQ(Tokens(), (std::set<std::string>{to}));
    EXPECT_EQ(WorkingSlot(), to);
    EXPECT_EQ(retire.next_expiry, rotated + hours(32));
  }
  const std::string text = MetricsText();
  EXPECT_NE(text.find("crtoken_token_rotations_total{result=\"success\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("crtoken_token_slot_expiry_timestamp_seconds{registry=\"acme\",slot=\"ci-a\","
                      "token=\"ci\"}"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("slot=\"ci-b\""), std::string::npos) << "ci-b is retired: " << text;
  EXPECT_NE(text.find("crtoken_token_operations_total{operation=\"rotate\",result=\"success\"} 2"),
            std::string::npos)
      << text;
}

// Kill the rotation at each point, with and without a power loss: at most two slot tokens, the
// secret still logs in, and the next process finishes the rotation.
class RotationCrashTest : public RotationTest,
                          public ::testing::WithParamInterface<std::tuple<std::string, bool>> {};

TEST_P(RotationCrashTest, TheNextPassFinishesTheRotation) {
  const auto [point, power_loss] = GetParam();
  ASSERT_TRUE(Pass().converged);
  clock_.Advance(hours(32));
  ASSERT_TRUE(CrashingPass(point, power_loss));
  EXPECT_LE(Tokens().size(), 2u);
  const std::string after_crash = WorkingSlot();
  EXPECT_TRUE(after_crash == "ci-a" || after_crash == "ci-b") << after_crash;

  PassResult next = Pass();
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_EQ(WorkingSlot(), "ci-b");
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a", "ci-b"}));  // ci-a serves the overlap
  clock_.Advance(minutes(61));
  PassResult retire = Pass();
  EXPECT_TRUE(retire.converged) << Joined(retire.errors);
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-b"}));
  EXPECT_EQ(WorkingSlot(), "ci-b");
  PassResult after = Pass();
  EXPECT_TRUE(after.plan.empty());
  EXPECT_EQ(after.write_requests, 0);
}

INSTANTIATE_TEST_SUITE_P(EveryPoint, RotationCrashTest,
                         ::testing::Combine(::testing::Values("after-put", "after-secret"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           std::string point = std::get<0>(info.param);
                           point.erase(std::remove(point.begin(), point.end(), '-'), point.end());
                           return point + (std::get<1>(info.param) ? "_PowerLoss" : "");
                         });

// A fan-out secret of an overlap spec is replicated with the slot that serves it (the token the
// copies record is "<name>-a", not the spec's name), so a namespace that joins the target set gets
// the live slot's password without a re-issue.
TEST_F(RotationTest, AFanOutSecretIsReplicatedWithTheServingSlot) {
  SecretRef& ref = desired_.specs[0].secret;
  ref = SecretRef{};
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_name = "ci";
  ref.k8s_namespaces = {"team-a", "team-b"};
  PassResult first = Pass();
  ASSERT_TRUE(first.converged) << Joined(first.errors);
  PassResult second = Pass();
  ASSERT_TRUE(second.converged) << Joined(second.errors);
  EXPECT_TRUE(second.plan.empty());
  auto copy = sink_.Copy("team-b/ci");
  ASSERT_TRUE(copy) << "the second pass did not replicate the secret";
  EXPECT_EQ(copy->username, "ci-a");
  auto token = api_.Find(acme_, "ci-a");
  ASSERT_TRUE(token);
  EXPECT_EQ(copy->password.Reveal(), token->password);
  EXPECT_EQ(copy->record.token_id, token->token.id);
}

TEST_F(RotationTest, CrashesAfterThePutThenAfterDeletingTheLostSlot) {
  ASSERT_TRUE(Pass().converged);
  clock_.Advance(hours(32));
  ASSERT_TRUE(CrashingPass("after-put", false));  // ci-b made, its password lost with the process
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a", "ci-b"}));
  EXPECT_EQ(WorkingSlot(), "ci-a");
  ASSERT_TRUE(CrashingPass("after-delete", false));  // the next one deleted that ci-b, and died
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a"}));
  EXPECT_EQ(WorkingSlot(), "ci-a");
  PassResult next = Pass();
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_EQ(WorkingSlot(), "ci-b");
  // The next generation after the one the secret records (ci-a 0): the lost ci-b's id is free
  // again, and no secret ever recorded it.
  EXPECT_EQ(api_.Find(acme_, "ci-b")->token.id, OwnedTokenId(kOwner, acme_, "ci-b", 1));
}

TEST_F(RotationTest, CrashAfterTheRetirementsDelete) {
  ASSERT_TRUE(Pass().converged);
  clock_.Advance(hours(32));
  ASSERT_TRUE(Pass().converged);
  clock_.Advance(minutes(61));
  ASSERT_TRUE(CrashingPass("after-delete", true));
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-b"}));
  EXPECT_EQ(WorkingSlot(), "ci-b");
  PassResult next = Pass();
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_TRUE(next.plan.empty());
}

TEST_F(RotationTest, SecretDeletedByHandIssuesTheIdleSlot) {
  ASSERT_TRUE(Pass().converged);
  sink_.EraseByHand("file:ci.json");
  PassResult next = Pass();
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  EXPECT_EQ(WorkingSlot(), "ci-b");
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a", "ci-b"}));  // ci-a retires after the overlap
}

TEST_F(RotationTest, AddingThenRemovingOverlap) {
  desired_.specs[0].overlap.reset();
  ASSERT_TRUE(Pass().converged);
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci"}));
  const std::string bare_id = api_.Find(acme_, "ci")->token.id;

  desired_.specs[0].overlap = hours(1);
  PassResult kept = Pass();
  EXPECT_TRUE(kept.plan.empty()) << "no needless re-issue";
  EXPECT_EQ(api_.Find(acme_, "ci")->token.id, bare_id);
  clock_.Advance(hours(32));
  ASSERT_TRUE(Pass().converged);
  EXPECT_EQ(WorkingSlot(), "ci-a");
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci", "ci-a"}));
  clock_.Advance(minutes(61));
  ASSERT_TRUE(Pass().converged);
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci-a"}));

  desired_.specs[0].overlap.reset();
  PassResult removed = Pass();
  ASSERT_TRUE(removed.converged) << Joined(removed.errors);
  EXPECT_EQ(Tokens(), (std::set<std::string>{"ci"}));
  EXPECT_EQ(WorkingSlot(), "ci");
}

}  // namespace
}  // namespace crtoken
