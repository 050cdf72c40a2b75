// The chaos driver shared by the chaos test (tests/chaos/chaos_test.cc, in `make test`) and the
// soak (bench/chaos/chaos_soak_bench.cc): rounds of random spec edits, emulator faults and kill -9
// of the real `crtoken apply` and `crtoken run` processes, over about 200 tokens in 4 registries
// shared by three installations (owners `crtoken`, `other`, and `ha` with two `--leader-elect`
// replicas on the Kubernetes API emulator) and by decoy tokens no crtoken owns. Time moves: every
// crtoken process runs under libfaketime (tests/support/fake_wall_clock.h), and once per turn of
// owner crtoken its clock and the emulator's move forward together, so that its short lifetimes
// are renewed and its specs with spec.overlap rotate between their two slots (where libfaketime
// is missing, time stands still). After each installation's turn in a round (faults cleared, one
// clean convergence) the invariants of docs/reliability.md are checked against the emulator's
// admin state and the secrets.
//
// Every choice (edits, faults, kills, their delays) is drawn from one generator seeded by
// `seed`, in a fixed order that never depends on what was observed, so a seed replays the same
// choices; only the moments at which kills land vary with the machine's speed.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace crtoken::test::chaos {

struct ChaosBudget {
  uint64_t seed = 0;
  int rounds = 1000;  // at most this many rounds
  int seconds = 45;   // no round starts once this much wall time has passed
  int tokens = 200;   // declared tokens over the three installations (decoys come on top)

  // The defaults given, overridden by CRTOKEN_CHAOS_SEED (else a random seed),
  // CRTOKEN_CHAOS_ROUNDS, CRTOKEN_CHAOS_SECONDS and CRTOKEN_CHAOS_TOKENS. A value that is not a
  // number is an error naming the variable (thrown as std::invalid_argument).
  static ChaosBudget FromEnv(int default_rounds, int default_seconds);
};

struct ChaosFigures {
  uint64_t seed = 0;
  int rounds = 0;
  std::map<std::string, int> faults;  // fault rules injected, by kind
  int apply_runs = 0;                 // crtoken apply processes started (chaotic and clean)
  int apply_kills = 0;                // applies killed with SIGKILL mid-run
  int crash_points = 0;               // processes that stopped at CRTOKEN_TEST_CRASH_AT (exit 137)
  int daemon_kills = 0;               // `crtoken run` (owner crtoken) killed with SIGKILL
  int replica_kills = 0;              // `--leader-elect` replicas killed with SIGKILL
  int daemon_starts = 0;              // `crtoken run` processes started (replicas included)
  int spec_edits = 0;
  int tokens_declared = 0;        // at the end
  int token_ids_seen = 0;         // distinct token ids observed in the emulator
  int passwords_seen = 0;         // distinct passwords observed (all scanned for)
  bool time_moves = false;        // libfaketime found: crtoken's wall clock is moved
  int clock_advances = 0;         // crtoken's and the emulator's clocks moved forward together
  long clock_offset_seconds = 0;  // how far, in all
  int slots_issued = 0;           // distinct slot tokens (<name>-a, <name>-b) seen
  int rotations = 0;              // a secret of a spec with overlap seen switched to another token
  int retirements = 0;            // a token a secret switched away from seen deleted, in time
  long rotation_samples = 0;      // looks at the secrets and the state during turns
  long invariant_checks = 0;      // individual assertions evaluated
  long output_bytes_scanned = 0;
  double seconds = 0;

  // Several lines, one figure each.
  std::string Text() const;
};

struct ChaosResult {
  ChaosFigures figures;
  // Each violation: "seed S, round R, PHASE: invariant NAME: detail". Empty when every invariant
  // held. The run stops after the check that found the first violations.
  std::vector<std::string> violations;
};

// Runs the chaos rounds within `budget`, printing the seed at once and one line per round to
// `progress`. Throws std::runtime_error when the world cannot be set up (a binary missing, an
// emulator that does not start); violations are returned, not thrown.
ChaosResult RunChaos(const ChaosBudget& budget, std::ostream& progress);

}  // namespace crtoken::test::chaos
