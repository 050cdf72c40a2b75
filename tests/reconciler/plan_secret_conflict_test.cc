// The planner and a secret place that is not crtoken's to write (SecretState::conflict): a problem
// naming the spec, the token, the secret and what to do; nothing planned for the key.
#include <gtest/gtest.h>

#include "reconciler/plan.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

const std::string kReg = "0b9d6a44-1f6e-4c5e-9a51-00000000000a";
const std::string kHost = "acme.cr.de-fra.ionos.com";
const Instant kNow = *ParseRfc3339("2026-11-28T12:00:00Z");
const char kForeign[] =
    "Secret team-a/pull exists and is not managed by crtoken (no label "
    "app.kubernetes.io/managed-by=crtoken): delete or rename it, or label it "
    "app.kubernetes.io/managed-by=crtoken to let crtoken take it over";

TokenSpec Spec(const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.registry_id = kReg;
  spec.scopes = {Scope{"*", "repository", {"pull"}}};
  spec.secret.kind = SecretRef::Kind::kKubernetes;
  spec.secret.k8s_namespace = "team-a";
  spec.secret.k8s_name = "pull";
  spec.source = SourceLocation{"specs/" + name + ".yaml", 4, 9};
  return spec;
}

ObservedToken Token(const std::string& name, const std::string& id) {
  ObservedToken token;
  token.id = id;
  token.name = name;
  token.scopes = {Scope{"*", "repository", {"pull"}}};
  return token;
}

// This owner's id of `name`.
std::string Mine(const std::string& name) { return OwnedTokenId("crtoken", kReg, name, 0); }

SecretState Foreign() {
  SecretState state;
  state.exists = true;
  state.conflict = kForeign;
  return state;
}

struct World {
  DesiredState desired;
  ObservedState observed;
  PlanPolicy policy;
  World() {
    observed.registries[kReg] = ObservedRegistry{{kReg, "acme", kHost, "Running"}, {}};
    observed.secrets_listed = true;
  }
  Plan Compute() const { return ComputePlan(desired, observed, policy, kNow); }
};

std::string ExpectedProblem(const std::string& name) {
  return "specs/" + name + ".yaml:4:9: token " + name +
         ": secret kubernetes:team-a/pull cannot be written: " + kForeign +
         "; the token is not created or re-issued until then";
}

void ExpectOnlyTheProblem(const Plan& plan, const std::string& name) {
  EXPECT_TRUE(plan.actions.empty()) << plan.actions.front().Describe();
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0].ToString(), ExpectedProblem(name));
  EXPECT_EQ(plan.problems[0].key, (TokenKey{kReg, name}));
  EXPECT_EQ(plan.counts.error, 1);
  EXPECT_EQ(plan.counts.in_sync + plan.counts.pending + plan.counts.unmanaged, 0);
}

TEST(PlanSecretConflict, ADeclaredAbsentTokenIsNotCreated) {
  World w;
  w.desired.specs = {Spec("puller")};
  ASSERT_EQ(w.Compute().actions.size(), 1u);  // without the conflict: a create
  w.observed.secrets[TokenKey{kReg, "puller"}] = Foreign();
  ExpectOnlyTheProblem(w.Compute(), "puller");
}

TEST(PlanSecretConflict, AnOwnedTokenIsLeftAsItIsNeitherReissuedNorUpdated) {
  World w;
  TokenSpec spec = Spec("puller");
  spec.status = TokenStatus::kDisabled;  // differs from the token: an update without the conflict
  w.desired.specs = {spec};
  w.observed.registries[kReg].tokens = {Token("puller", Mine("puller"))};
  // Never reached the sink (no secret records it): a re-issue without the conflict.
  w.observed.secrets[TokenKey{kReg, "puller"}] = SecretState{};
  ASSERT_EQ(w.Compute().actions.size(), 1u);
  EXPECT_EQ(w.Compute().actions[0].type, ActionType::kReissue);
  w.observed.secrets[TokenKey{kReg, "puller"}] = Foreign();
  ExpectOnlyTheProblem(w.Compute(), "puller");
}

TEST(PlanSecretConflict, NoAdoptionIntoASecretCrtokenCannotWrite) {
  World w;
  TokenSpec spec = Spec("puller");
  spec.adopt = true;
  w.desired.specs = {spec};
  w.observed.registries[kReg].tokens = {
      Token("puller", "f47ac10b-58cc-4372-a567-0e02b2c3d479")};  // not crtoken's
  ASSERT_EQ(w.Compute().actions.size(), 1u);                     // the adopting re-issue
  w.observed.secrets[TokenKey{kReg, "puller"}] = Foreign();
  ExpectOnlyTheProblem(w.Compute(), "puller");
  EXPECT_EQ(w.Compute().counts.unmanaged, 0);
}

TEST(PlanSecretConflict, AHeldPasswordDoesNotBypassIt) {
  World w;
  TokenSpec spec = Spec("puller");
  w.desired.specs = {spec};
  w.observed.registries[kReg].tokens = {Token("puller", Mine("puller"))};
  w.observed.held_passwords = {TokenKey{kReg, "puller"}};
  w.observed.secrets[TokenKey{kReg, "puller"}] = Foreign();
  ExpectOnlyTheProblem(w.Compute(), "puller");
}

TEST(PlanSecretConflict, OtherTokensArePlannedAsUsual) {
  World w;
  TokenSpec other = Spec("other");
  other.secret.k8s_name = "other";
  w.desired.specs = {Spec("puller"), other};
  w.observed.secrets[TokenKey{kReg, "puller"}] = Foreign();
  const Plan plan = w.Compute();
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0].type, ActionType::kCreate);
  EXPECT_EQ(plan.actions[0].key.name, "other");
  ASSERT_EQ(plan.problems.size(), 1u);
  EXPECT_EQ(plan.problems[0].ToString(), ExpectedProblem("puller"));
}

}  // namespace
}  // namespace crtoken
