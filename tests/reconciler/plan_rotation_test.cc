// The planner for specs with spec.overlap: a token served by two slots ("<name>-a", "<name>-b"),
// renewed by issuing the idle slot and writing the secret with it, the previous slot retired
// `overlap` later. Each case builds the observed world of one instant (the slots' ids and
// expiries, the secret's record) and asserts the exact actions, counts and next wake-up: every
// instant is derived from the tokens, nothing is remembered.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "reconciler/plan.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;

const std::string kOwner = "crtoken";
const std::string kReg = "0b9d6a44-1f6e-4c5e-9a51-00000000000a";
const std::string kHost = "acme.cr.de-fra.ionos.com";
const Instant kNow = *ParseRfc3339("2026-11-28T12:00:00Z");
// lifetime 10d, renewBefore 3d, overlap 1h.
constexpr auto kLifetime = days(10);
constexpr auto kRenewBefore = days(3);
constexpr auto kOverlap = hours(1);

std::string Id(const std::string& name, uint16_t generation) {
  return OwnedTokenId(kOwner, kReg, name, generation);
}

TokenSpec Spec(bool overlap = true) {
  TokenSpec spec;
  spec.name = "ci";
  spec.registry_id = kReg;
  spec.lifetime = std::chrono::duration_cast<std::chrono::seconds>(kLifetime);
  spec.renew_before = std::chrono::duration_cast<std::chrono::seconds>(kRenewBefore);
  if (overlap) spec.overlap = std::chrono::duration_cast<std::chrono::seconds>(kOverlap);
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = "ci.json";
  spec.source = SourceLocation{"specs/ci.yaml", 4, 9};
  return spec;
}

// A live token of `name`, generation `generation`, issued at `issued` (expires issued + lifetime).
ObservedToken Live(const std::string& name, uint16_t generation, Instant issued) {
  ObservedToken token;
  token.id = Id(name, generation);
  token.name = name;
  token.expiry = issued + std::chrono::duration_cast<std::chrono::seconds>(kLifetime);
  token.scopes = {Scope{"app/*", "repository", {"pull"}}};
  return token;
}

// The secret as crtoken writes it for the token `name` of generation `generation`.
SecretState SecretOf(const std::string& name, uint16_t generation) {
  SecretState secret;
  secret.exists = true;
  secret.has_password = true;
  secret.hostname = kHost;
  secret.username = name;
  secret.record = SecretRecord{kOwner, kReg, name, Id(name, generation)};
  return secret;
}

struct World {
  DesiredState desired;
  ObservedState observed;
  PlanPolicy policy;
  Instant now = kNow;

  explicit World(bool overlap = true) {
    desired.specs.push_back(Spec(overlap));
    observed.registries[kReg] = ObservedRegistry{{kReg, "acme", kHost, "Running"}, {}};
    observed.secrets_listed = true;
    observed.secrets[TokenKey{kReg, "ci"}] = SecretState{};  // missing until Secret() is called
    policy.owner = kOwner;
  }
  World& Token(ObservedToken token) {
    observed.registries[kReg].tokens.push_back(std::move(token));
    return *this;
  }
  // The spec's secret holds `name`'s credential (and lists as this owner's).
  World& Secret(const std::string& name, uint16_t generation) {
    observed.secrets[TokenKey{kReg, "ci"}] = SecretOf(name, generation);
    SecretRef ref = desired.specs.front().secret;
    observed.listed.push_back(ListedSecret{ref, SecretOf(name, generation).record});
    return *this;
  }
  Plan Compute() const { return ComputePlan(desired, observed, policy, now); }
};

std::string Lines(const Plan& plan) {
  std::string out;
  for (const Action& a : plan.actions) out += a.Describe() + "\n";
  for (const Problem& p : plan.problems) out += "problem: " + p.ToString() + "\n";
  return out;
}

// No action names the token `id` (to delete or to change it).
bool Untouched(const Plan& plan, const std::string& id) {
  return std::none_of(plan.actions.begin(), plan.actions.end(),
                      [&](const Action& a) { return a.token_id == id; });
}

TEST(PlanRotationTest, FirstIssueCreatesSlotA) {
  World w;
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  const Action& a = plan.actions[0];
  EXPECT_EQ(a.type, ActionType::kCreate);
  EXPECT_EQ(a.key, (TokenKey{kReg, "ci"}));
  EXPECT_EQ(a.slot, "ci-a");
  EXPECT_EQ(a.IssueName(), "ci-a");
  EXPECT_EQ(a.new_token_id, Id("ci-a", 0));
  EXPECT_EQ(a.Describe(),
            "create acme/ci slot ci-a (enabled, lifetime 10d, 1 scope) -> file:ci.json");
  EXPECT_EQ(plan.counts.pending, 1);
}

TEST(PlanRotationTest, BeforeRenewalNothingToDoAndWakesAtTheRenewal) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(5))).Secret("ci-a", 0);
  Plan plan = w.Compute();
  EXPECT_TRUE(plan.actions.empty()) << Lines(plan);
  EXPECT_EQ(plan.counts.in_sync, 1);
  EXPECT_EQ(plan.counts.pending, 0);
  EXPECT_EQ(plan.next_expiry, kNow - days(5) + kLifetime - kRenewBefore);
}

TEST(PlanRotationTest, RenewalDueRotatesIntoTheIdleSlot) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8))).Secret("ci-a", 0);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  const Action& a = plan.actions[0];
  EXPECT_EQ(a.type, ActionType::kRotate);
  EXPECT_EQ(a.slot, "ci-b");
  EXPECT_EQ(a.from_slot, "ci-a");
  EXPECT_EQ(a.token_id, "");  // nothing occupies the idle slot: the working one is not touched
  EXPECT_EQ(a.new_token_id, Id("ci-b", 1));
  EXPECT_EQ(a.Describe(),
            "rotate acme/ci to slot ci-b: renewal: ci-a expires 2026-11-30T12:00:00Z; new slot "
            "expires 2026-12-08T12:00:00Z, ci-a retires at 2026-11-28T13:00:00Z");
  EXPECT_EQ(plan.counts.pending, 1);
}

TEST(PlanRotationTest, InsideTheOverlapNothingToDoAndWakesAtTheRetirement) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8)))
      .Token(Live("ci-b", 1, kNow - minutes(20)))
      .Secret("ci-b", 1);
  Plan plan = w.Compute();
  EXPECT_TRUE(plan.actions.empty()) << Lines(plan);  // ci-a is declared: never pruned
  EXPECT_EQ(plan.counts.in_sync, 1);
  EXPECT_EQ(plan.next_expiry, kNow - minutes(20) + kOverlap);
}

TEST(PlanRotationTest, AfterTheOverlapRetiresThePreviousSlot) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8)))
      .Token(Live("ci-b", 1, kNow - minutes(61)))
      .Secret("ci-b", 1);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  const Action& a = plan.actions[0];
  EXPECT_EQ(a.type, ActionType::kDelete);
  EXPECT_EQ(a.key, (TokenKey{kReg, "ci-a"}));
  EXPECT_EQ(a.token_id, Id("ci-a", 0));
  EXPECT_TRUE(a.delete_secrets.empty());
  EXPECT_EQ(a.Describe(), "delete acme/ci-a: retire: overlap ended 2026-11-28T11:59:00Z");
  EXPECT_TRUE(Untouched(plan, Id("ci-b", 1)));
  // The next wake-up: the new slot's renewal.
  EXPECT_EQ(plan.next_expiry, kNow - minutes(61) + kLifetime - kRenewBefore);
  // Retirement is no prune: it goes ahead while deletes are held back, and under --prune none.
  w.observed.secrets_listed = false;
  w.policy.prune = PruneMode::kNone;
  EXPECT_EQ(w.Compute().actions.size(), 1u);
}

TEST(PlanRotationTest, CrashAfterTheNewSlotsPutReissuesThatSlotNeverTheWorkingOne) {
  // The rotation PUT ci-b (generation 1) and died before the secret was written: ci-b's password
  // is lost, the secret still holds ci-a, whose renewal is still due.
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8) - minutes(1)))
      .Token(Live("ci-b", 1, kNow - minutes(1)))
      .Secret("ci-a", 0);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  const Action& a = plan.actions[0];
  EXPECT_EQ(a.type, ActionType::kRotate);
  EXPECT_EQ(a.slot, "ci-b");
  EXPECT_EQ(a.token_id, Id("ci-b", 1));      // deleted first
  EXPECT_EQ(a.new_token_id, Id("ci-b", 2));  // never an id seen before
  EXPECT_TRUE(Untouched(plan, Id("ci-a", 0)));
}

TEST(PlanRotationTest, ALostNewerSlotIsDeletedWhenNoRenewalIsDue) {
  // As above, but renewBefore was shortened meanwhile: no rotation is due, the lost slot goes.
  World w;
  w.desired.specs[0].renew_before = std::chrono::hours(2);
  w.Token(Live("ci-a", 0, kNow - days(8)))
      .Token(Live("ci-b", 1, kNow - minutes(1)))
      .Secret("ci-a", 0);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].type, ActionType::kDelete);
  EXPECT_EQ(plan.actions[0].token_id, Id("ci-b", 1));
  EXPECT_TRUE(Untouched(plan, Id("ci-a", 0)));
}

TEST(PlanRotationTest, CrashAfterTheSecretLeavesOnlyTheRetirement) {
  // The secret holds ci-b, ci-a was not retired yet: inside the overlap nothing happens (above);
  // the retirement instant is derived from ci-b's expiry, whenever the next pass runs.
  World w;
  w.Token(Live("ci-a", 0, kNow - days(9)))
      .Token(Live("ci-b", 1, kNow - hours(30)))
      .Secret("ci-b", 1);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].reason,
            "retire: overlap ended " + FormatRfc3339(kNow - hours(30) + kOverlap));
}

TEST(PlanRotationTest, BothSlotsPresentAndTheSecretRecordsNeither) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8))).Token(Live("ci-b", 1, kNow - days(1)));
  Plan plan = w.Compute();  // secret missing
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  const Action& a = plan.actions[0];
  EXPECT_EQ(a.type, ActionType::kRotate);
  EXPECT_EQ(a.slot, "ci-a");  // the one that expires first is replaced
  EXPECT_EQ(a.token_id, Id("ci-a", 0));
  EXPECT_EQ(a.new_token_id, Id("ci-a", 2));
  EXPECT_EQ(a.reason, "secret missing");
  EXPECT_TRUE(Untouched(plan, Id("ci-b", 1)));
}

TEST(PlanRotationTest, OneSlotPresentAndTheSecretLostIssuesTheOtherSlot) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(1)));
  w.observed.secrets[TokenKey{kReg, "ci"}] = SecretState{true, false, "", "", {}, ""};
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].type, ActionType::kRotate);
  EXPECT_EQ(plan.actions[0].slot, "ci-b");
  EXPECT_EQ(plan.actions[0].token_id, "");
  EXPECT_EQ(plan.actions[0].reason, "password never reached the sink");
}

TEST(PlanRotationTest, HeldPasswordWaits) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8))).Token(Live("ci-b", 1, kNow));
  w.Secret("ci-a", 0);
  w.observed.held_passwords.insert(TokenKey{kReg, "ci"});
  Plan plan = w.Compute();
  EXPECT_TRUE(plan.actions.empty()) << Lines(plan);
  EXPECT_EQ(plan.counts.pending, 1);
}

TEST(PlanRotationTest, AddingOverlapKeepsTheBareTokenUntilItsRenewal) {
  World w;
  w.Token(Live("ci", 3, kNow - days(5))).Secret("ci", 3);
  Plan plan = w.Compute();
  EXPECT_TRUE(plan.actions.empty()) << Lines(plan);  // no needless re-issue
  EXPECT_EQ(plan.counts.in_sync, 1);

  w.now = kNow + days(3);  // its renewal is due: slot -a, the bare token stays for the overlap
  plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].type, ActionType::kRotate);
  EXPECT_EQ(plan.actions[0].slot, "ci-a");
  EXPECT_EQ(plan.actions[0].from_slot, "ci");
  EXPECT_EQ(plan.actions[0].new_token_id, Id("ci-a", 4));

  World after;
  after.Token(Live("ci", 3, kNow - days(8)))
      .Token(Live("ci-a", 4, kNow - hours(2)))
      .Secret("ci-a", 4);
  plan = after.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].type, ActionType::kDelete);
  EXPECT_EQ(plan.actions[0].key, (TokenKey{kReg, "ci"}));
  EXPECT_EQ(plan.actions[0].reason,
            "retire: overlap ended " + FormatRfc3339(kNow - hours(2) + kOverlap));
}

TEST(PlanRotationTest, RemovingOverlapCreatesTheBareTokenBeforeTheSlotsGo) {
  World w(/*overlap=*/false);
  w.Token(Live("ci-a", 0, kNow - days(8)))
      .Token(Live("ci-b", 1, kNow - minutes(10)))
      .Secret("ci-b", 1);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 3u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].type, ActionType::kCreate);  // first: creates run before deletes
  EXPECT_EQ(plan.actions[0].IssueName(), "ci");
  EXPECT_EQ(plan.actions[1].type, ActionType::kDelete);
  EXPECT_EQ(plan.actions[1].key.name, "ci-a");
  EXPECT_EQ(plan.actions[2].type, ActionType::kDelete);
  EXPECT_EQ(plan.actions[2].key.name, "ci-b");
  // The secret is ci's now: kept by the delete of the slot it recorded.
  EXPECT_EQ(plan.actions[2].kept_secrets.size(), 1u);
  EXPECT_TRUE(plan.actions[2].delete_secrets.empty());
}

TEST(PlanRotationTest, SlotsArePrunedWithTheirSpec) {
  World w;
  w.Token(Live("ci-a", 0, kNow - days(8))).Token(Live("ci-b", 1, kNow)).Secret("ci-b", 1);
  w.desired.specs.clear();
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 2u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].Describe(), "delete acme/ci-a: not declared");
  EXPECT_EQ(plan.actions[1].Describe(), "delete acme/ci-b: not declared");
  EXPECT_EQ(plan.actions[1].delete_secrets.size(), 1u);
}

TEST(PlanRotationTest, ASlotNameHeldByAnotherTokenIsAProblem) {
  World w;
  ObservedToken foreign = Live("ci-b", 0, kNow);
  foreign.id = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
  w.Token(foreign);
  Plan plan = w.Compute();
  EXPECT_TRUE(plan.actions.empty()) << Lines(plan);
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].message.find("slot name ci-b"), std::string::npos)
      << plan.problems[0].message;
  EXPECT_EQ(plan.counts.error, 1);
}

TEST(PlanRotationTest, ASlotNameDeclaredAsATokenIsAProblemOfTheOverlapSpec) {
  World w;
  TokenSpec other = Spec(/*overlap=*/false);
  other.name = "ci-a";
  other.secret.file = "ci-a.json";
  other.source.file = "specs/ci-a.yaml";
  w.desired.specs.push_back(other);
  w.observed.secrets[TokenKey{kReg, "ci-a"}] = SecretState{};
  Plan plan = w.Compute();
  ASSERT_EQ(plan.problems.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.problems[0].where.file, "specs/ci.yaml");
  EXPECT_NE(plan.problems[0].message.find("is declared as a token"), std::string::npos);
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);  // ci-a itself is created as usual
  EXPECT_EQ(plan.actions[0].key.name, "ci-a");
  EXPECT_EQ(plan.actions[0].slot, "");
}

TEST(PlanRotationTest, RenewalOfSlotBRotatesBackToSlotA) {
  // The slot the secret records decides which one is idle; generations grow across the slots.
  World w;
  w.Token(Live("ci-b", 1, kNow - days(7) - hours(2))).Secret("ci-b", 1);
  Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u) << Lines(plan);
  EXPECT_EQ(plan.actions[0].type, ActionType::kRotate);
  EXPECT_EQ(plan.actions[0].slot, "ci-a");
  EXPECT_EQ(plan.actions[0].new_token_id, Id("ci-a", 2));
}

}  // namespace
}  // namespace crtoken
