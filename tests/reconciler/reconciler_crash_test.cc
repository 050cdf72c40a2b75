// Crash safety of the reconcile pass without any state of its own: the process dies at each named
// point of a create, a re-issue (renewal) and a prune (ReconcilerConfig::test_hook), with or
// without a power loss that drops the secrets not yet synced, and the next pass of a new process
// converges: one token per spec, no orphan (every token of the owner is declared), and no secret
// with a password the registry does not hold for the token the secret records.
//
// A crash is played on the in-memory fakes: at the hook, the registry and the sink go down (the
// process sends and writes nothing more); the Reconciler, with the passwords it held, is dropped.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "reconciler/reconciler.h"
#include "reconciler/token_id.h"
#include "tests/support/fakes.h"

namespace crtoken {
namespace {

using test::FakeClock;
using test::FakeRegistryApi;
using test::MemorySecretSink;

constexpr char kHost[] = "acme.cr.de-fra.ionos.com";
constexpr char kOwner[] = "crtoken";

TokenSpec Spec(const std::string& name) {
  TokenSpec spec;
  spec.name = name;
  spec.registry = "acme";
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.kind = SecretRef::Kind::kFile;
  spec.secret.file = name + ".json";
  spec.source = SourceLocation{"/specs/" + name + ".yaml", 4, 9};
  return spec;
}

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

enum class Scenario { kCreate, kRenewal, kPrune };
const char* ScenarioName(Scenario s) {
  switch (s) {
    case Scenario::kCreate:
      return "Create";
    case Scenario::kRenewal:
      return "Renewal";
    case Scenario::kPrune:
      return "Prune";
  }
  return "?";
}

// So that test listings name the scenario instead of dumping its bytes.
void PrintTo(Scenario s, std::ostream* out) { *out << ScenarioName(s); }

class CrashTest : public ::testing::Test {
 protected:
  CrashTest() : acme_(api_.AddRegistry("acme", kHost)) {}

  // A new process: nothing held. Actions run one at a time, so that nothing runs on after the
  // crash point in another thread.
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
    return std::make_unique<Reconciler>(api_, sink_, clock_, nullptr, config);
  }

  // Runs one pass of a process that dies at `crash_at`, then brings the world back up, after a
  // power loss when `power_loss`. True when the process reached the point.
  bool CrashingPass(const DesiredState& desired, const std::string& crash_at, bool power_loss) {
    crashed_ = false;
    Process(crash_at)->Reconcile(desired);
    api_.down = false;
    sink_.down = false;
    if (power_loss) sink_.PowerLoss();
    return crashed_;
  }

  // The end state every pass must reach.
  void ExpectConverged(const DesiredState& desired) {
    std::set<std::string> declared;
    for (const TokenSpec& spec : desired.specs) {
      SCOPED_TRACE(spec.name);
      declared.insert(spec.name);
      int tokens = 0;
      std::string id, password;
      for (const auto& [registry, token] : api_.AllTokens()) {
        if (registry == acme_ && token.name == spec.name) {
          ++tokens;
          id = token.id;
          password = api_.Find(acme_, spec.name)->password;
        }
      }
      ASSERT_EQ(tokens, 1) << "one token per spec";
      auto secret = sink_.Get(spec.secret.ToString());
      ASSERT_TRUE(secret.has_value());
      EXPECT_EQ(secret->password.Reveal(), password);
      EXPECT_EQ(secret->record, (SecretRecord{kOwner, acme_, spec.name, id}));
    }
    for (const auto& [registry, token] : api_.AllTokens()) {
      EXPECT_EQ(ClassifyTokenId(kOwner, registry, token.name, token.id).cls, TokenIdClass::kMine)
          << token.name << ": every token here is crtoken's";
      EXPECT_TRUE(declared.count(token.name)) << token.name << ": an orphan";
    }
    // No secret with a password the registry does not hold for the token it records.
    for (const auto& [ref, state] : sink_.All()) {
      SCOPED_TRACE(ref);
      ASSERT_FALSE(state.record.empty());
      EXPECT_TRUE(declared.count(state.record.token_name)) << "a secret of an undeclared token";
      auto token = api_.Find(state.record.registry_id, state.record.token_name);
      ASSERT_TRUE(token.has_value()) << "a secret of a token that is gone";
      EXPECT_EQ(token->token.id, state.record.token_id);
      EXPECT_EQ(sink_.Get(ref)->password.Reveal(), token->password) << "a wrong password";
    }
  }

  FakeRegistryApi api_;
  MemorySecretSink sink_;
  FakeClock clock_;
  std::string acme_;
  bool crashed_ = false;
};

// Each scenario is set up by a converged process, then the pass that crashes is the one that
// creates (three new tokens), renews (every token's renewal is due), or prunes (two of three specs
// are gone).
class CrashPointTest
    : public CrashTest,
      public ::testing::WithParamInterface<std::tuple<Scenario, std::string, bool>> {};

TEST_P(CrashPointTest, TheNextPassConverges) {
  const auto [scenario, point, power_loss] = GetParam();
  DesiredState desired;
  desired.specs = {Spec("a-push"), Spec("b-pull"), Spec("c-deploy")};
  for (TokenSpec& spec : desired.specs) {
    spec.lifetime = std::chrono::hours(48);
    spec.renew_before = std::chrono::hours(16);
  }
  if (scenario != Scenario::kCreate) {
    PassResult setup = Process()->Reconcile(desired);
    ASSERT_TRUE(setup.converged) << Joined(setup.errors);
    ExpectConverged(desired);
  }
  if (scenario == Scenario::kRenewal) clock_.Advance(std::chrono::hours(33));
  if (scenario == Scenario::kPrune) desired.specs.resize(1);

  const bool reached = CrashingPass(desired, point, power_loss);
  // A create never deletes; a prune never creates; a renewal passes every point.
  const bool expected = scenario == Scenario::kRenewal ||
                        (scenario == Scenario::kCreate && point != "after-delete") ||
                        (scenario == Scenario::kPrune && point == "after-delete");
  ASSERT_EQ(reached, expected);

  PassResult next = Process()->Reconcile(desired);
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  ExpectConverged(desired);
  // And it stays so: the pass after has nothing to do.
  PassResult after = Process()->Reconcile(desired);
  EXPECT_TRUE(after.converged) << Joined(after.errors);
  EXPECT_TRUE(after.plan.empty());
  EXPECT_EQ(after.write_requests, 0);
}

INSTANTIATE_TEST_SUITE_P(
    EveryPoint, CrashPointTest,
    ::testing::Combine(::testing::Values(Scenario::kCreate, Scenario::kRenewal, Scenario::kPrune),
                       ::testing::Values("after-put", "after-secret", "after-delete"),
                       ::testing::Bool()),
    [](const auto& info) {
      std::string point = std::get<1>(info.param);
      point.erase(std::remove(point.begin(), point.end(), '-'), point.end());
      return std::string(ScenarioName(std::get<0>(info.param))) + "_" + point +
             (std::get<2>(info.param) ? "_PowerLoss" : "");
    });

// Two crashes in a row: a renewal dies after deleting the old token, and the create of the next
// pass dies after its PUT. The secret still records the generation before both: the id of the
// token created after the second crash must not be one a secret records, or that secret would be
// believed with the password of a token that is gone.
TEST_F(CrashTest, TwoCrashesInARowNeverReuseAnIdASecretRecords) {
  DesiredState desired;
  desired.specs = {Spec("ci-push")};
  desired.specs[0].lifetime = std::chrono::hours(48);
  desired.specs[0].renew_before = std::chrono::hours(16);
  ASSERT_TRUE(Process()->Reconcile(desired).converged);
  const std::string first_id = api_.Find(acme_, "ci-push")->token.id;
  clock_.Advance(std::chrono::hours(33));

  ASSERT_TRUE(CrashingPass(desired, "after-delete", false));
  EXPECT_FALSE(api_.Find(acme_, "ci-push").has_value());
  ASSERT_TRUE(CrashingPass(desired, "after-put", false));
  auto live = api_.Find(acme_, "ci-push");
  ASSERT_TRUE(live.has_value());
  EXPECT_NE(live->token.id, first_id);
  EXPECT_EQ(sink_.Get("file:ci-push.json")->record.token_id, first_id);

  PassResult next = Process()->Reconcile(desired);
  EXPECT_TRUE(next.converged) << Joined(next.errors);
  ExpectConverged(desired);
}

// A power loss after a pass that reported success loses nothing: the pass synced before it said
// the secrets were delivered.
TEST_F(CrashTest, APowerLossAfterAConvergedPassLosesNoSecret) {
  DesiredState desired;
  desired.specs = {Spec("a-push"), Spec("b-pull")};
  ASSERT_TRUE(Process()->Reconcile(desired).converged);
  sink_.PowerLoss();
  ExpectConverged(desired);
  PassResult next = Process()->Reconcile(desired);
  EXPECT_TRUE(next.plan.empty());
}

}  // namespace
}  // namespace crtoken
