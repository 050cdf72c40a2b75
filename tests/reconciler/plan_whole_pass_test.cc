// The reconcile pass plans once, over every registry of the pass. This checks that one
// ComputePlan over several registries says exactly what planning each registry on its own and
// merging the plans says (what the pass used to do), over random declared and observed states:
// the same actions in the same order, the same problems, counts, next expiry and held deletes.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "reconciler/plan.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

const std::vector<std::string> kIds = {"11111111-0000-4000-8000-000000000001",
                                       "11111111-0000-4000-8000-000000000002",
                                       "11111111-0000-4000-8000-000000000003"};
const std::vector<std::string> kNames = {"acme", "beta", "gamma"};
const Instant kNow = Instant{} + std::chrono::hours(24 * 365 * 57);

int TypeOrder(ActionType type) { return static_cast<int>(type); }

// Per registry (each resolved registry, each unresolved ref on its own), then merged and sorted.
Plan SplitAndMerge(const DesiredState& desired, const ObservedState& observed,
                   const std::vector<std::string>& resolved, const PlanPolicy& policy) {
  std::map<std::string, Plan> plans;
  for (const auto& id : resolved) {
    DesiredState d = desired.WithoutSpecs();
    for (const auto& spec : desired.specs) {
      if (spec.registry_id == id) d.specs.push_back(spec);
    }
    ObservedState o;
    o.secrets_listed = observed.secrets_listed;
    if (auto it = observed.registries.find(id); it != observed.registries.end()) {
      o.registries[id] = it->second;
    }
    for (const auto& secret : observed.listed) {
      if (secret.record.registry_id == id) o.listed.push_back(secret);
    }
    for (const auto& [key, s] : observed.secrets) {
      if (key.registry_id == id) o.secrets[key] = s;
    }
    for (const auto& key : observed.held_passwords) {
      if (key.registry_id == id) o.held_passwords.insert(key);
    }
    plans[id] = ComputePlan(d, o, policy, kNow);
  }
  std::map<std::string, std::vector<TokenSpec>> unresolved;
  for (const auto& spec : desired.specs) {
    if (spec.registry_id.empty()) unresolved[spec.registry].push_back(spec);
  }
  for (auto& [ref, specs] : unresolved) {
    DesiredState d = desired.WithoutSpecs();
    d.specs = specs;
    ObservedState o;
    o.secrets_listed = observed.secrets_listed;
    plans["ref:" + ref] = ComputePlan(d, o, policy, kNow);
  }
  Plan out;
  for (auto& [_, plan] : plans) {
    for (auto& a : plan.actions) out.actions.push_back(std::move(a));
    for (auto& p : plan.problems) out.problems.push_back(std::move(p));
    out.counts.in_sync += plan.counts.in_sync;
    out.counts.pending += plan.counts.pending;
    out.counts.error += plan.counts.error;
    out.counts.unmanaged += plan.counts.unmanaged;
    out.deletes_held += plan.deletes_held;
    if (plan.next_expiry && (!out.next_expiry || *plan.next_expiry < *out.next_expiry)) {
      out.next_expiry = plan.next_expiry;
    }
  }
  std::stable_sort(out.actions.begin(), out.actions.end(), [](const Action& a, const Action& b) {
    if (TypeOrder(a.type) != TypeOrder(b.type)) return TypeOrder(a.type) < TypeOrder(b.type);
    return a.key < b.key;
  });
  return out;
}

std::string Refs(const std::vector<SecretRef>& refs) {
  std::string out;
  for (const SecretRef& ref : refs) out += ref.ToString() + ",";
  return out;
}

std::string Text(const Plan& plan) {
  std::string out;
  for (const Action& a : plan.actions) {
    out += std::string(ActionTypeName(a.type)) + " " + a.key.registry_id + "/" + a.key.name +
           " id=" + a.token_id + " new=" + a.new_token_id + " reason=" + a.reason +
           " delete=" + Refs(a.delete_secrets) + " keep=" + Refs(a.kept_secrets) + " | " +
           a.Describe() + "\n";
  }
  std::vector<std::string> problems;
  for (const Problem& p : plan.problems) problems.push_back(p.ToString());
  std::sort(problems.begin(), problems.end());  // one per key or registry: their order is free
  for (const auto& p : problems) out += "problem " + p + "\n";
  out += "counts " + std::to_string(plan.counts.in_sync) + " " +
         std::to_string(plan.counts.pending) + " " + std::to_string(plan.counts.error) + " " +
         std::to_string(plan.counts.unmanaged) + " held " + std::to_string(plan.deletes_held) +
         " next " +
         (plan.next_expiry ? std::to_string(plan.next_expiry->time_since_epoch().count()) : "-");
  return out;
}

struct Random {
  std::mt19937 rng;
  explicit Random(unsigned seed) : rng(seed) {}
  int Int(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); }
  bool Chance(int percent) { return Int(100) < percent; }
  // A token id for `name` in `registry_id`: mostly this owner's (of a small generation), else
  // not crtoken's, another owner's, or this owner's for another name (collided).
  std::string Id(const std::string& registry_id, const std::string& name) {
    switch (Int(8)) {
      case 0:
        return "f47ac10b-58cc-4372-a567-0e02b2c3d47" + std::to_string(Int(3));
      case 1:
        return OwnedTokenId("team-b", registry_id, name, 0);
      case 2:
        return OwnedTokenId("crtoken", registry_id, name + "-x", 0);
      default:
        return OwnedTokenId("crtoken", registry_id, name, static_cast<uint16_t>(Int(3)));
    }
  }
};

TEST(PlanWholePassTest, OnePlanOverAllRegistriesEqualsPlanningEachAndMerging) {
  const std::vector<std::string> names = {"ci", "push", "pull", "deploy", "bot"};
  for (unsigned seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE(seed);
    Random r(seed);
    DesiredState desired;
    ObservedState observed;
    PlanPolicy policy;
    policy.prune = static_cast<PruneMode>(r.Int(3));
    policy.adopt_all = r.Chance(20);
    if (r.Chance(15)) desired.failed_files.insert("specs/f1.yaml");
    if (r.Chance(10)) desired.prune.unread.push_back("specs/missing: no such file");
    if (r.Chance(10)) desired.prune.settling = "a quiet spec tree";
    observed.secrets_listed = r.Chance(90);

    std::vector<std::string> resolved;
    for (size_t i = 0; i < kIds.size(); ++i) {
      if (!r.Chance(80)) continue;
      resolved.push_back(kIds[i]);
      if (r.Chance(85)) {
        ObservedRegistry reg;
        reg.info = RegistryInfo{kIds[i], kNames[i], r.Chance(85) ? kNames[i] + ".cr.example" : "",
                                "Running"};
        for (const auto& n : names) {
          if (!r.Chance(45)) continue;
          ObservedToken t;
          t.id = r.Id(kIds[i], n);
          t.name = n;
          t.status = r.Chance(80) ? TokenStatus::kEnabled : TokenStatus::kDisabled;
          if (r.Chance(50)) t.expiry = kNow + std::chrono::hours(24 * (r.Int(40) - 5));
          t.scopes = {Scope{r.Chance(80) ? "app/*" : "lib/*", "repository", {"pull"}}};
          reg.tokens.push_back(t);
        }
        observed.registries[kIds[i]] = reg;
      }
      for (const auto& n : names) {
        const int file = r.Int(3);
        const std::string source = "specs/f" + std::to_string(file) + ".yaml";
        const std::string secret_file =
            kNames[i] + "-" + n + (r.Chance(10) ? "-moved" : "") + ".json";
        if (r.Chance(45)) {
          TokenSpec spec;
          spec.name = n;
          if (r.Chance(50)) {
            spec.registry = kNames[i];
          }
          spec.registry_id = kIds[i];
          spec.status = r.Chance(85) ? TokenStatus::kEnabled : TokenStatus::kDisabled;
          if (r.Chance(20)) {
            spec.lifetime = std::chrono::hours(24 * 30);
            spec.renew_before = std::chrono::hours(24 * 7);
          } else if (r.Chance(60)) {
            spec.expiry = kNow + std::chrono::hours(24 * (r.Int(40) - 5));
          }
          spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
          spec.secret.kind = SecretRef::Kind::kFile;
          spec.secret.file = secret_file;
          spec.adopt = r.Chance(20);
          spec.source = SourceLocation{source, 1 + r.Int(5), 1};
          desired.specs.push_back(spec);
          if (r.Chance(8)) desired.specs.push_back(spec);  // a duplicate
          const TokenKey key{kIds[i], n};
          if (r.Chance(80)) {
            SecretState s;
            s.exists = r.Chance(85);
            s.has_password = s.exists && r.Chance(90);
            s.hostname = s.exists ? kNames[i] + ".cr.example" : "";
            s.username = s.exists ? n : "";
            if (s.exists && r.Chance(70))
              s.record = SecretRecord{"crtoken", kIds[i], n, r.Id(kIds[i], n)};
            if (s.exists && r.Chance(5))
              s = SecretState{true, false, "", "", SecretRecord{}, "not ours"};
            observed.secrets[key] = s;
          }
          if (r.Chance(10)) observed.held_passwords.insert(key);
        }
        for (int copy = 0; copy < 2; ++copy) {
          if (!r.Chance(copy == 0 ? 40 : 10)) continue;
          ListedSecret secret;
          secret.ref.kind = SecretRef::Kind::kFile;
          secret.ref.file = kNames[i] + "-" + n + (copy == 0 ? "" : "-old") + ".json";
          secret.record = SecretRecord{"crtoken", kIds[i], n, r.Id(kIds[i], n)};
          observed.listed.push_back(secret);
        }
        if (r.Chance(5)) desired.protected_keys.insert(TokenKey{kIds[i], n});
      }
    }
    // Specs whose registry could not be resolved: named after no resolved registry.
    for (int k = 0; k < 2; ++k) {
      if (!r.Chance(30)) continue;
      TokenSpec spec;
      spec.name = names[r.Int(names.size())];
      spec.registry = "ghost-" + std::to_string(r.Int(2));
      spec.secret.kind = SecretRef::Kind::kFile;
      spec.secret.file = spec.registry + "-" + spec.name + ".json";
      spec.source = SourceLocation{"specs/ghost.yaml", 1 + k, 1};
      desired.specs.push_back(spec);
    }
    std::shuffle(desired.specs.begin(), desired.specs.end(), r.rng);

    const Plan whole = ComputePlan(desired, observed, policy, kNow);
    const Plan split = SplitAndMerge(desired, observed, resolved, policy);
    ASSERT_EQ(Text(whole), Text(split));
  }
}

}  // namespace
}  // namespace crtoken
