// The planner's prune verdict (DesiredState::prune): while part of the spec tree cannot be read,
// or the daemon waits for the tree to settle, no delete of any kind is planned; creates, re-issues
// and updates still are. So it is while the owner's secrets cannot be listed.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "reconciler/plan.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

const std::string kProd = "0b9d6a44-1f6e-4c5e-9a51-000000000001";
const std::string kDev = "0b9d6a44-1f6e-4c5e-9a51-000000000002";
const Instant kNow = ParseRfc3339("2026-11-28T12:00:00Z").value();
const Instant kExpiry = ParseRfc3339("2027-06-30T00:00:00Z").value();

std::string Host(const std::string& registry_id) {
  return (registry_id == kProd ? "acme-prod" : "acme-dev") + std::string(".cr.de-fra.ionos.com");
}

TokenSpec Spec(const std::string& name, const std::string& registry_id = kProd) {
  TokenSpec spec;
  spec.name = name;
  spec.registry_id = registry_id;
  spec.expiry = kExpiry;
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.file = name + ".json";
  spec.source = SourceLocation{"specs/" + name + ".yaml", 4, 9};
  return spec;
}

// This owner's token `name`, as Spec(name) declares it.
ObservedToken Token(const std::string& name, const std::string& registry_id = kProd) {
  ObservedToken token;
  token.id = OwnedTokenId("crtoken", registry_id, name, 0);
  token.name = name;
  token.expiry = kExpiry;
  token.scopes = {Scope{"app/*", "repository", {"pull"}}};
  return token;
}

// This owner's secret NAME.json, recording its token.
ListedSecret Secret(const std::string& name, const std::string& registry_id = kProd) {
  SecretRef ref;
  ref.file = name + ".json";
  return ListedSecret{ref, SecretRecord{"crtoken", registry_id, name,
                                        OwnedTokenId("crtoken", registry_id, name, 0)}};
}

// acme-prod holds, besides what each test adds:
//  - "kept": declared, owned, in sync;
//  - "old": owned, no longer declared (a prune);
//  - "hand-made": not crtoken's, not declared (a prune only under --prune all);
//  - a secret of "vanished", whose token is gone (the secret is removed).
// And a change of every other kind: "new" is declared and absent (a create), "lost" is owned
// but its secret is missing (a re-issue), "edited" differs in status (an update).
struct World {
  DesiredState desired;
  ObservedState observed;
  PlanPolicy policy;

  // Without the deletes: no "old", no "hand-made", no "vanished".
  explicit World(bool with_deletes = true) {
    observed.registries[kProd] = ObservedRegistry{{kProd, "acme-prod", Host(kProd), "Running"}, {}};
    observed.registries[kDev] = ObservedRegistry{{kDev, "acme-dev", Host(kDev), "Running"}, {}};
    observed.secrets_listed = true;
    for (const char* name : {"kept", "lost", "edited"}) {
      desired.specs.push_back(Spec(name));
      observed.registries[kProd].tokens.push_back(Token(name));
      observed.listed.push_back(Secret(name));
      observed.secrets[TokenKey{kProd, name}] =
          SecretState{true, true, Host(kProd), name, Secret(name).record, ""};
    }
    desired.specs.back().status = TokenStatus::kDisabled;  // "edited"
    observed.secrets[TokenKey{kProd, "lost"}] = SecretState{};
    desired.specs.push_back(Spec("new"));
    if (!with_deletes) return;
    observed.registries[kProd].tokens.push_back(Token("old"));
    observed.listed.push_back(Secret("old"));
    ObservedToken hand_made = Token("hand-made");
    hand_made.id = "f47ac10b-58cc-4372-a567-0e02b2c3d479";  // not crtoken's
    observed.registries[kProd].tokens.push_back(hand_made);
    observed.listed.push_back(Secret("vanished"));
  }
  Plan Compute() const { return ComputePlan(desired, observed, policy, kNow); }
};

std::vector<std::string> Lines(const Plan& plan) {
  std::vector<std::string> out;
  for (const Action& a : plan.actions) out.push_back(a.Describe());
  return out;
}

std::vector<std::string> Problems(const Plan& plan) {
  std::vector<std::string> out;
  for (const Problem& p : plan.problems) out.push_back(p.ToString());
  return out;
}

const std::vector<std::string> kNoDeletes = {
    "create acme-prod/new (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> file:new.json",
    "reissue acme-prod/lost: secret missing",
    "update acme-prod/edited: status enabled -> disabled",
};

TEST(PruneVerdict, AllowedPrunesAsUsual) {
  World w;
  w.policy.prune = PruneMode::kAll;
  const Plan plan = w.Compute();
  std::vector<std::string> want = kNoDeletes;
  want.push_back("delete acme-prod/hand-made: not declared (prune=all)");
  want.push_back("delete acme-prod/old: not declared");
  want.push_back("delete acme-prod/vanished: already gone; removing its secret");
  EXPECT_EQ(Lines(plan), want);
  EXPECT_EQ(plan.deletes_held, 0);
  EXPECT_TRUE(plan.problems.empty()) << ::testing::PrintToString(Problems(plan));
}

TEST(PruneVerdict, UnreadPathsHoldEveryDeleteAndSayWhyOncePerRegistry) {
  for (PruneMode mode : {PruneMode::kOwned, PruneMode::kAll}) {
    World w;
    w.policy.prune = mode;
    w.desired.prune.unread = {"spces: no such file or directory"};
    const Plan plan = w.Compute();
    EXPECT_EQ(Lines(plan), kNoDeletes) << PruneModeName(mode);
    const int held = mode == PruneMode::kAll ? 3 : 2;  // old and vanished (and hand-made)
    EXPECT_EQ(plan.deletes_held, held);
    EXPECT_EQ(Problems(plan),
              std::vector<std::string>{
                  "registry acme-prod: nothing pruned, " + std::to_string(held) +
                  " deletes held back while spec paths cannot be read (spces: no such file or "
                  "directory); restore them or correct --specs"});
    // Kept tokens count as left alone: "kept" and "old" in sync, "hand-made" unmanaged.
    EXPECT_EQ(plan.counts.in_sync, 2);
    EXPECT_EQ(plan.counts.unmanaged, 1);
    EXPECT_EQ(plan.counts.pending, 3);
  }
}

TEST(PruneVerdict, ManyUnreadPathsAreNamedUpToThree) {
  World w;
  w.desired.prune.unread = {"a: x", "b: y", "c: z", "d: w", "e: v"};
  const Plan plan = w.Compute();
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_NE(plan.problems[0].message.find("(a: x; b: y; c: z; and 2 more)"), std::string::npos)
      << plan.problems[0].message;
  EXPECT_EQ(plan.problems[0].key.registry_id, kProd);
}

TEST(PruneVerdict, ARegistryWithNothingToDeleteGetsNoProblem) {
  World w;
  w.desired.prune.unread = {"specs/sub: cannot read directory: Permission denied"};
  w.observed.listed.push_back(Secret("dev-old", kDev));
  w.observed.registries[kDev].tokens.push_back(Token("dev-old", kDev));
  Plan plan = w.Compute();
  EXPECT_EQ(plan.problems.size(), 2u) << ::testing::PrintToString(Problems(plan));
  EXPECT_EQ(plan.deletes_held, 3);

  World clean(/*with_deletes=*/false);
  clean.desired.prune.unread = {"specs/sub: cannot read directory: Permission denied"};
  plan = clean.Compute();
  EXPECT_EQ(Lines(plan), kNoDeletes);
  EXPECT_EQ(plan.deletes_held, 0);
  EXPECT_TRUE(plan.problems.empty()) << ::testing::PrintToString(Problems(plan));
}

TEST(PruneVerdict, SettlingHoldsDeletesWithoutAProblem) {
  World w;
  w.policy.prune = PruneMode::kAll;
  w.desired.prune.settling = "the spec files changed";
  const Plan plan = w.Compute();
  EXPECT_EQ(Lines(plan), kNoDeletes);
  EXPECT_EQ(plan.deletes_held, 3);
  EXPECT_TRUE(plan.problems.empty()) << ::testing::PrintToString(Problems(plan));
}

TEST(PruneVerdict, ARenameWhileSettlingCreatesTheNewNameAndKeepsTheOld) {
  World w;
  // "old" was renamed to "renamed", keeping its secret.
  TokenSpec renamed = Spec("renamed");
  renamed.secret.file = "old.json";
  w.desired.specs.push_back(renamed);
  w.desired.prune.settling = "the spec files changed";
  Plan plan = w.Compute();
  std::vector<std::string> want = kNoDeletes;
  want.insert(want.begin() + 1,
              "create acme-prod/renamed (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> "
              "file:old.json");
  EXPECT_EQ(Lines(plan), want);
  // Once settled, the old name goes and the shared secret stays.
  w.desired.prune.settling.clear();
  plan = w.Compute();
  ASSERT_FALSE(plan.actions.empty());
  EXPECT_EQ(plan.actions.back().Describe(),
            "delete acme-prod/vanished: already gone; removing its secret");
  EXPECT_EQ(plan.actions[plan.actions.size() - 2].Describe(),
            "delete acme-prod/old: renamed to renamed (keeping file:old.json, now declared by a "
            "spec)");
}

TEST(PruneVerdict, AFailedSecretListingHoldsEveryDeleteAndSaysSo) {
  for (PruneMode mode : {PruneMode::kOwned, PruneMode::kAll}) {
    World w;
    w.policy.prune = mode;
    w.observed.secrets_listed = false;
    w.observed.listed.clear();  // what a failed listing leaves
    const Plan plan = w.Compute();
    // "lost" is re-issued, "edited" updated, "new" created all the same; "kept" is owned through
    // its id and its own secret's record, so it stays in sync.
    EXPECT_EQ(Lines(plan), kNoDeletes) << PruneModeName(mode);
    const int held = mode == PruneMode::kAll ? 2 : 1;  // old (and hand-made)
    EXPECT_EQ(plan.deletes_held, held);
    EXPECT_EQ(Problems(plan), std::vector<std::string>{
                                  "registry acme-prod: nothing pruned, " + std::to_string(held) +
                                  " delete" + (held == 1 ? "" : "s") +
                                  " held back while the secrets of owner \"crtoken\" cannot be "
                                  "listed"});
    EXPECT_EQ(plan.counts.in_sync, 2);
  }
}

TEST(PruneVerdict, PruneNoneHasNothingToHold) {
  World w;
  w.policy.prune = PruneMode::kNone;
  w.desired.prune.unread = {"spces: no such file or directory"};
  const Plan plan = w.Compute();
  EXPECT_EQ(Lines(plan), kNoDeletes);
  EXPECT_EQ(plan.deletes_held, 0);
  EXPECT_TRUE(plan.problems.empty());
}

TEST(PruneVerdict, WithoutSpecsKeepsTheVerdict) {
  DesiredState d;
  d.specs.push_back(Spec("a"));
  d.failed_files = {"f.yaml"};
  d.protected_keys = {TokenKey{kProd, "p"}};
  d.prune.unread = {"x: y"};
  d.prune.settling = "s";
  const DesiredState copy = d.WithoutSpecs();
  EXPECT_TRUE(copy.specs.empty());
  EXPECT_EQ(copy.failed_files, d.failed_files);
  EXPECT_EQ(copy.protected_keys, d.protected_keys);
  EXPECT_EQ(copy.prune.unread, d.prune.unread);
  EXPECT_EQ(copy.prune.settling, "s");
}

}  // namespace
}  // namespace crtoken
