// The chaos test: about a minute of random spec edits, emulator faults and kill -9 of the real
// crtoken processes (tests/chaos/chaos_driver.h), failing with every invariant broken, the seed,
// and how to replay it. CRTOKEN_CHAOS_SEED=N replays a seed; CRTOKEN_CHAOS_ROUNDS and
// CRTOKEN_CHAOS_SECONDS bound the run (defaults: 100 rounds, none started after 45 s).
#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "tests/chaos/chaos_driver.h"

namespace crtoken::test::chaos {
namespace {

TEST(Chaos, EveryInvariantHoldsUnderSpecEditsFaultsAndKills) {
  const ChaosBudget budget = ChaosBudget::FromEnv(/*default_rounds=*/100, /*default_seconds=*/45);
  const ChaosResult result = RunChaos(budget, std::cout);
  std::cout << result.figures.Text();
  std::string failures;
  for (const std::string& v : result.violations) failures += "  " + v + "\n";
  EXPECT_TRUE(result.violations.empty())
      << result.violations.size() << " invariant violations with seed " << budget.seed << ":\n"
      << failures << "replay: CRTOKEN_CHAOS_SEED=" << budget.seed
      << " CRTOKEN_CHAOS_ROUNDS=" << result.figures.rounds << " build/tests/chaos/chaos_test";
  if (result.violations.empty()) {
    EXPECT_GT(result.figures.rounds, 0) << "no round ran (seed " << budget.seed << ")";
  }
}

}  // namespace
}  // namespace crtoken::test::chaos
