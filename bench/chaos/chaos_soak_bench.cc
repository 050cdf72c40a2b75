// The chaos soak: the chaos test's driver (tests/chaos/chaos_driver.h) for minutes, printing its
// figures: rounds, faults injected by kind, kills survived, passes, tokens, invariant checks and
// wall time. Exits 1, naming every invariant broken and the seed, when one is.
//
// Usage: chaos_soak_bench [--seconds 300] [--rounds N] [--seed N] [--tokens 200]
// The variables CRTOKEN_CHAOS_SEED, CRTOKEN_CHAOS_ROUNDS, CRTOKEN_CHAOS_SECONDS and
// CRTOKEN_CHAOS_TOKENS set the same (a flag wins); QUICK=1 makes the default 60 s.
// CRTOKEN_BINARY runs another crtoken build (a sanitizer build). Other flags (bench/run.sh passes
// its arguments to every benchmark) are ignored.
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>

#include "tests/chaos/chaos_driver.h"

int main(int argc, char** argv) {
  using crtoken::test::chaos::ChaosBudget;
  const char* quick = std::getenv("QUICK");
  const bool is_quick = quick != nullptr && std::string(quick) == "1";
  ChaosBudget budget;
  try {
    budget = ChaosBudget::FromEnv(/*default_rounds=*/1000000, is_quick ? 60 : 300);
    for (int i = 1; i < argc; ++i) {
      const std::string flag = argv[i];
      const bool known =
          flag == "--seconds" || flag == "--rounds" || flag == "--seed" || flag == "--tokens";
      if (!known) continue;
      if (i + 1 >= argc) throw std::invalid_argument(flag + ": expected a number");
      const std::string value = argv[++i];
      size_t used = 0;
      const unsigned long long n = std::stoull(value, &used);
      if (used != value.size() || value[0] == '-') {
        throw std::invalid_argument(flag + " " + value + ": expected a non-negative integer");
      }
      if (flag == "--seconds") budget.seconds = static_cast<int>(n);
      if (flag == "--rounds") budget.rounds = static_cast<int>(n);
      if (flag == "--seed") budget.seed = n;
      if (flag == "--tokens") budget.tokens = static_cast<int>(n < 12 ? 12 : n);
    }
  } catch (const std::exception& e) {
    std::cerr << "chaos_soak_bench: " << e.what() << "\n";
    return 2;
  }
  crtoken::test::chaos::ChaosResult result;
  try {
    result = crtoken::test::chaos::RunChaos(budget, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "chaos_soak_bench: " << e.what() << "\n";
    return 2;
  }
  std::cout << result.figures.Text();
  if (!result.violations.empty()) {
    std::cout << result.violations.size() << " invariant violations (seed " << budget.seed
              << "; replay: CRTOKEN_CHAOS_SEED=" << budget.seed
              << " CRTOKEN_CHAOS_ROUNDS=" << result.figures.rounds << "):\n";
    for (const std::string& v : result.violations) std::cout << "  " << v << "\n";
    return 1;
  }
  std::cout << "every invariant held\n";
  return 0;
}
