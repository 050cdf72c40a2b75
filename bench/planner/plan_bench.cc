// Prints how long ComputePlan takes for large worlds: every token in sync (the steady state of
// the daemon: every token's id classified, every secret's record read), every token to create (a
// first apply), and a mix of every kind of action.
// Usage: plan_bench [TOKENS...]   (default: 1000 10000)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "reconciler/plan.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

constexpr int kRegistries = 10;

std::string RegistryId(int r) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0b9d6a44-1f6e-4c5e-9a51-%012d", r);
  return buf;
}

struct World {
  DesiredState desired;
  ObservedState observed;
  World() { observed.secrets_listed = true; }
};

// kind 0: in sync; 1: to create; 2: a mix (create, update, reissue, delete, unmanaged, in sync).
World Build(int tokens, int kind) {
  World w;
  const Instant expiry = *ParseRfc3339("2027-06-30T00:00:00Z");
  for (int r = 0; r < kRegistries; ++r) {
    const std::string id = RegistryId(r);
    w.observed.registries[id].info = RegistryInfo{
        id, "reg-" + std::to_string(r), "reg-" + std::to_string(r) + ".example", "Running"};
  }
  for (int i = 0; i < tokens; ++i) {
    const std::string registry_id = RegistryId(i % kRegistries);
    const std::string name = "token-" + std::to_string(i);
    const int variant = kind == 2 ? i % 6 : kind;
    TokenSpec spec;
    spec.name = name;
    spec.registry_id = registry_id;
    spec.expiry = expiry;
    spec.scopes = {Scope{"app/*", "repository", {"push", "pull"}},
                   Scope{"lib/*", "repository", {"pull"}}};
    spec.secret.file = name + ".json";
    spec.source = SourceLocation{"specs/" + std::to_string(i / 50) + ".yaml", i % 50 * 20 + 1, 9};
    const std::string id = OwnedTokenId("crtoken", registry_id, name, 0);
    ObservedToken token{
        id,
        name,
        TokenStatus::kEnabled,
        expiry,
        {Scope{"lib/*", "repository", {"pull"}}, Scope{"app/*", "repository", {"pull", "push"}}}};
    const SecretRecord record{"crtoken", registry_id, name, id};
    const std::string& host = w.observed.registries[registry_id].info.hostname;
    const SecretState secret{true, true, host, name, record, ""};
    const TokenKey key{registry_id, name};
    switch (variant) {
      case 0:  // in sync
      case 5:
        w.desired.specs.push_back(spec);
        w.observed.registries[registry_id].tokens.push_back(token);
        w.observed.listed.push_back(ListedSecret{spec.secret, record});
        w.observed.secrets[key] = secret;
        break;
      case 1:  // create
        w.desired.specs.push_back(spec);
        break;
      case 2:  // update
        spec.status = TokenStatus::kDisabled;
        w.desired.specs.push_back(spec);
        w.observed.registries[registry_id].tokens.push_back(token);
        w.observed.listed.push_back(ListedSecret{spec.secret, record});
        w.observed.secrets[key] = secret;
        break;
      case 3:  // reissue
        w.desired.specs.push_back(spec);
        w.observed.registries[registry_id].tokens.push_back(token);
        w.observed.secrets[key] = SecretState{};
        break;
      case 4:  // delete (owned), or unmanaged (another tool's id)
        if (i % 12 == 4) {
          w.observed.registries[registry_id].tokens.push_back(token);
          w.observed.listed.push_back(ListedSecret{spec.secret, record});
        } else {
          token.id = "ffffffff-0000-4000-8000-" + std::string(12 - std::to_string(i).size(), '0') +
                     std::to_string(i);
          w.observed.registries[registry_id].tokens.push_back(token);
        }
        break;
    }
  }
  return w;
}

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

// Medians of wall time and of this thread's CPU time (the machine may be shared: CPU time is the
// steadier figure).
std::pair<double, double> MedianMs(const World& w, int runs, Plan* last) {
  std::vector<double> wall, cpu;
  const Instant now = *ParseRfc3339("2026-11-28T12:00:00Z");
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = ThreadCpuMs();
    *last = ComputePlan(w.desired, w.observed, PlanPolicy{}, now);
    cpu.push_back(ThreadCpuMs() - cpu_start);
    wall.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  return {wall[wall.size() / 2], cpu[cpu.size() / 2]};
}

}  // namespace
}  // namespace crtoken

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; ++i) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {1000, 10000};
  const char* kinds[] = {"in sync", "all create", "mixed"};
  std::printf("%-8s %-11s %12s %11s %8s\n", "tokens", "world", "wall_ms(med)", "cpu_ms(med)",
              "actions");
  for (int n : sizes) {
    for (int kind = 0; kind < 3; ++kind) {
      crtoken::World w = crtoken::Build(n, kind);
      crtoken::Plan plan;
      const auto [wall, cpu] = crtoken::MedianMs(w, n >= 10000 ? 11 : 31, &plan);
      std::printf("%-8d %-11s %12.2f %11.2f %8zu\n", n, kinds[kind], wall, cpu,
                  plan.actions.size());
    }
  }
  return 0;
}
