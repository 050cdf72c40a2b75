// Table-driven tests of the pure planner: each case builds a declared and an observed world and
// asserts the exact actions (type, key, token id, reason, patch), the problems and the counts.
#include "reconciler/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <sstream>

#include "reconciler/time_util.h"

namespace crtoken {
namespace {

const std::string kProd = "0b9d6a44-1f6e-4c5e-9a51-000000000001";   // acme-prod
const std::string kDev = "0b9d6a44-1f6e-4c5e-9a51-000000000002";    // acme-dev
const std::string kStage = "0b9d6a44-1f6e-4c5e-9a51-000000000003";  // never observed
const std::string kProdHost = "acme-prod.cr.de-fra.ionos.com";
const std::string kDevHost = "acme-dev.cr.de-fra.ionos.com";

Instant At(const std::string& text) {
  std::optional<Instant> instant = ParseRfc3339(text);
  if (!instant) ADD_FAILURE() << "bad instant in test: " << text;
  return instant.value_or(Instant{});
}

const Instant kNow = At("2026-11-28T12:00:00Z");
const Instant kExpiry = At("2027-06-30T00:00:00Z");

Scope AppScope() { return Scope{"app/*", "repository", {"pull", "push"}}; }

SecretRef File(const std::string& path) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kFile;
  ref.file = path;
  return ref;
}

SecretRef Kube(const std::string& ns, const std::string& name) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = ns;
  ref.k8s_name = name;
  return ref;
}

// The spec of `name`, declared in specs/NAME.yaml, writing NAME.json.
TokenSpec Spec(const std::string& name, const std::string& registry_id = kProd) {
  TokenSpec spec;
  spec.name = name;
  spec.registry_id = registry_id;
  spec.status = TokenStatus::kEnabled;
  spec.expiry = kExpiry;
  spec.scopes = {AppScope()};
  spec.secret = File(name + ".json");
  spec.source = SourceLocation{"specs/" + name + ".yaml", 4, 9};
  return spec;
}

// A token exactly as Spec(name) declares it.
ObservedToken Token(const std::string& name, const std::string& id = "") {
  ObservedToken token;
  token.id = id.empty() ? "id-" + name : id;
  token.name = name;
  token.status = TokenStatus::kEnabled;
  token.expiry = kExpiry;
  token.scopes = {AppScope()};
  return token;
}

OwnershipRecord Record(const std::string& name, const std::string& id = "",
                       OwnershipRecord::Phase phase = OwnershipRecord::Phase::kReady,
                       const std::string& registry_id = kProd) {
  OwnershipRecord record;
  record.registry_id = registry_id;
  record.registry_name = registry_id == kDev ? "acme-dev" : "acme-prod";
  record.token_name = name;
  record.token_id = id.empty() ? "id-" + name : id;
  record.generation = 0;
  record.phase = phase;
  record.secret = File(name + ".json");
  record.source_file = "specs/" + name + ".yaml";
  return record;
}

SecretState GoodSecret(const std::string& name, const std::string& host = kProdHost) {
  return SecretState{true, true, host, name, SecretRecord{}, ""};
}

// A declared world and an observed one. acme-prod and acme-dev are readable; acme-stage never is.
struct World {
  DesiredState desired;
  ObservedState observed;
  PlanPolicy policy;
  Instant now = kNow;

  World() {
    observed.registries[kProd] = ObservedRegistry{{kProd, "acme-prod", kProdHost, "Running"}, {}};
    observed.registries[kDev] = ObservedRegistry{{kDev, "acme-dev", kDevHost, "Running"}, {}};
  }
  World& Declare(TokenSpec spec) {
    desired.specs.push_back(std::move(spec));
    return *this;
  }
  World& Exists(ObservedToken token, const std::string& registry_id = kProd) {
    observed.registries[registry_id].tokens.push_back(std::move(token));
    return *this;
  }
  World& Owns(OwnershipRecord record) {
    observed.owned.push_back(std::move(record));
    return *this;
  }
  World& Secret(const std::string& name, SecretState state,
                const std::string& registry_id = kProd) {
    observed.secrets[TokenKey{registry_id, name}] = std::move(state);
    return *this;
  }
  World& Hold(const std::string& name, const std::string& registry_id = kProd) {
    observed.held_passwords.insert(TokenKey{registry_id, name});
    return *this;
  }
  // Declared, existing, owned and with its secret in place: in sync.
  World& Managed(const std::string& name, const std::string& registry_id = kProd) {
    Declare(Spec(name, registry_id));
    Exists(Token(name), registry_id);
    Owns(Record(name, "", OwnershipRecord::Phase::kReady, registry_id));
    return Secret(name, GoodSecret(name, registry_id == kDev ? kDevHost : kProdHost), registry_id);
  }
  // Gives spec and token `i` (in declaration order) a lifetime instead of an expiryDate, and the
  // token the expiry `token_expiry`.
  World& Lifetime(size_t i, std::chrono::hours lifetime, std::chrono::hours renew_before,
                  std::optional<Instant> token_expiry, const std::string& registry_id = kProd) {
    TokenSpec& spec = desired.specs.at(i);
    spec.expiry.reset();
    spec.lifetime = lifetime;
    spec.renew_before = renew_before;
    for (ObservedToken& token : observed.registries[registry_id].tokens) {
      if (token.name == spec.name) token.expiry = token_expiry;
    }
    return *this;
  }
  World& Prune(PruneMode mode) {
    policy.prune = mode;
    return *this;
  }
};

struct Counts {
  int in_sync = 0;
  int pending = 0;
  int error = 0;
  int unmanaged = 0;
};

std::string ScopesText(const std::vector<Scope>& scopes) {
  std::string out;
  for (const Scope& scope : scopes) {
    out += "{" + scope.type + " " + scope.name;
    for (const std::string& action : scope.actions) out += " " + action;
    out += "}";
  }
  return out;
}

std::string PatchText(const TokenPatch& patch) {
  std::string out;
  if (patch.status) out += std::string("status=") + TokenStatusName(*patch.status) + " ";
  if (patch.expiry) {
    out += "expiry=" + (*patch.expiry ? FormatRfc3339(**patch.expiry) : std::string("null")) + " ";
  }
  if (patch.scopes) out += "scopes=" + ScopesText(*patch.scopes) + " ";
  return out;
}

// One expected action. The patch is written as PatchText renders it ("" = empty patch).
struct Want {
  ActionType type;
  std::string name;
  std::string reason;
  std::string token_id = "";  // "" for a create or a delete of a gone token
  std::string patch = "";
  std::string registry_id = kProd;
  bool keep_secret = false;
};

struct Case {
  std::string name;
  std::function<World()> build;
  std::vector<Want> want;
  Counts counts;
  std::vector<std::string> problems = {};  // Problem::ToString(), in order
};

// So that test listings (ctest, --gtest_list_tests) name a case instead of dumping its bytes.
void PrintTo(const Case& c, std::ostream* out) { *out << c.name; }

std::string ActionText(const Action& a) {
  std::ostringstream out;
  out << ActionTypeName(a.type) << " " << a.key.registry_id << "/" << a.key.name
      << " id=" << a.token_id << " reason=" << a.reason << " patch=" << PatchText(a.patch)
      << " keep_secret=" << a.keep_secret;
  return out.str();
}

std::string WantText(const Want& w) {
  std::ostringstream out;
  out << ActionTypeName(w.type) << " " << w.registry_id << "/" << w.name << " id=" << w.token_id
      << " reason=" << w.reason << " patch=" << w.patch << " keep_secret=" << w.keep_secret;
  return out.str();
}

// Everything a plan says, as text: two plans are the same iff their fingerprints are.
std::string Fingerprint(const Plan& plan) {
  std::string out;
  for (const Action& a : plan.actions) {
    out += ActionText(a) + " | " + a.Describe();
    if (a.record)
      out += " | record " + a.record->token_id + "#" + std::to_string(a.record->generation);
    out += "\n";
  }
  for (const Problem& p : plan.problems) out += "problem " + p.ToString() + "\n";
  out += "counts " + std::to_string(plan.counts.in_sync) + " " +
         std::to_string(plan.counts.pending) + " " + std::to_string(plan.counts.error) + " " +
         std::to_string(plan.counts.unmanaged) + "\n";
  out += "next " + (plan.next_expiry ? FormatRfc3339(*plan.next_expiry) : std::string("none"));
  return out;
}

Plan PlanOf(const World& w) { return ComputePlan(w.desired, w.observed, w.policy, w.now); }

using Type = ActionType;

std::vector<Case> Cases() {
  const std::string kPast =
      "token ci-push: expiryDate 2026-11-28T12:00:00Z is in the past; the "
      "token is not created or updated";
  return {
      // --- Keys: resolved and observed registries only ---------------------------------------
      {"UnresolvedRegistryIsAProblem",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push", "");
         spec.registry = "acme-gone";
         return std::move(w.Declare(spec));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push: registry acme-gone could not be resolved; the "
        "token is not acted on"}},
      {"UnresolvedSpecProtectsATokenOfThatNameFromPruneAll",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push", "");
         spec.registry = "acme-prod";
         return std::move(w.Declare(spec).Exists(Token("ci-push")).Prune(PruneMode::kAll));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push: registry acme-prod could not be resolved; the "
        "token is not acted on"}},
      {"UnobservedRegistryIsAProblemAndItsRecordsAreLeft",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push", kStage);
         spec.registry = "acme-stage";
         return std::move(w.Declare(spec)
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kReady, kStage))
                              .Owns(Record("old", "", OwnershipRecord::Phase::kReady, kStage))
                              .Prune(PruneMode::kAll));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push: the tokens of registry acme-stage could not be "
        "read; the token is not acted on"}},

      // --- Create -------------------------------------------------------------------------------
      {"CreateWhenAbsent",
       [] { return std::move(World().Declare(Spec("ci-push")).Declare(Spec("pull", kDev))); },
       {{Type::kCreate, "ci-push", "not in the registry"},
        {Type::kCreate, "pull", "not in the registry", "", "", kDev}},
       {.pending = 2}},
      {"CreateAgainWhenAnOwnedTokenDisappeared",
       [] { return std::move(World().Declare(Spec("ci-push")).Owns(Record("ci-push"))); },
       {{Type::kCreate, "ci-push", "disappeared from the registry (deleted by hand or expired)"}},
       {.pending = 1}},
      {"CreateAfterAnInterruptedCreate",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kCreating)));
       },
       {{Type::kCreate, "ci-push", "not in the registry (an earlier create did not complete)"}},
       {.pending = 1}},
      {"CreateEvenWithAHeldPasswordWhenTheTokenIsGone",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kCreated))
                              .Hold("ci-push"));
       },
       {{Type::kCreate, "ci-push", "disappeared from the registry (deleted by hand or expired)"}},
       {.pending = 1}},
      {"LifetimeTokenIsRenewedOnceLessThanRenewBeforeIsLeft",
       [] {
         // ci-push expires in 29 days (inside the 30-day window), fresh in 31 days.
         const std::chrono::hours days(24);
         return std::move(World()
                              .Managed("ci-push")
                              .Managed("fresh")
                              .Lifetime(0, 90 * days, 30 * days, kNow + 29 * days)
                              .Lifetime(1, 90 * days, 30 * days, kNow + 31 * days));
       },
       {{Type::kReissue, "ci-push", "renewal: expires 2026-12-27T12:00:00Z", "id-ci-push"}},
       {.in_sync = 1, .pending = 1}},
      {"LifetimeTokenExpiryIsSetOnlyWhenMissingOrBeyondTheLifetime",
       [] {
         using std::chrono::hours;
         return std::move(World()
                              .Managed("dated")
                              .Managed("undated")
                              .Managed("too-far")
                              .Managed("at-limit")
                              .Lifetime(0, hours(48), hours(16), kNow + hours(40))
                              .Lifetime(1, hours(48), hours(16), std::nullopt)
                              .Lifetime(2, hours(48), hours(16), kNow + hours(49))
                              .Lifetime(3, hours(48), hours(16), kNow + hours(48)));
       },
       {{Type::kUpdate, "too-far", "fields differ", "id-too-far", "expiry=2026-11-30T12:00:00Z "},
        {Type::kUpdate, "undated", "fields differ", "id-undated", "expiry=2026-11-30T12:00:00Z "}},
       {.in_sync = 2, .pending = 2}},
      {"LifetimeRenewalWaitsForAHeldPassword",
       [] {
         using std::chrono::hours;
         return std::move(World().Managed("ci-push").Hold("ci-push").Lifetime(
             0, hours(48), hours(16), kNow + hours(1)));
       },
       {},
       {.pending = 1}},
      {"PastExpiryIsNotCreated",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.expiry = kNow;  // at `now` is already past
         return std::move(World().Declare(spec));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: " + kPast}},
      {"PastExpiryIsNotUpdatedNorReissuedNorDeleted",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.expiry = kNow;
         spec.status = TokenStatus::kDisabled;
         return std::move(World()
                              .Declare(spec)
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push"))
                              .Secret("ci-push", SecretState{}));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: " + kPast}},

      // --- Adopt --------------------------------------------------------------------------------
      {"UnownedTokenWithTheDeclaredNameIsAProblem",
       [] { return std::move(World().Declare(Spec("ci-push")).Exists(Token("ci-push"))); },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: a token named ci-push exists in registry acme-prod but crtoken "
        "does not own it; set spec.adopt: true or --adopt"}},
      {"SpecAdoptReissuesAnUnownedToken",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.adopt = true;
         return std::move(World().Declare(spec).Exists(Token("ci-push", "foreign")));
       },
       {{Type::kReissue, "ci-push", "adopt", "foreign"}},
       {.pending = 1}},
      {"AdoptAllReissuesAnUnownedToken",
       [] {
         World w;
         w.policy.adopt_all = true;
         return std::move(w.Declare(Spec("ci-push")).Exists(Token("ci-push", "foreign")));
       },
       {{Type::kReissue, "ci-push", "adopt", "foreign"}},
       {.pending = 1}},
      {"TokenReplacedUnderOurNameIsNotOwned",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push", "foreign"))
                              .Owns(Record("ci-push", "ours"))
                              .Secret("ci-push", GoodSecret("ci-push")));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: a token named ci-push exists in registry acme-prod but crtoken "
        "does not own it (its id differs from the one crtoken created); set spec.adopt: true or "
        "--adopt"}},
      {"TokenReplacedUnderOurNameIsAdoptedWhenAsked",
       [] {
         World w;
         w.policy.adopt_all = true;
         return std::move(w.Declare(Spec("ci-push"))
                              .Exists(Token("ci-push", "foreign"))
                              .Owns(Record("ci-push", "ours")));
       },
       {{Type::kReissue, "ci-push", "adopt", "foreign"}},
       {.pending = 1}},

      // --- Re-issue -----------------------------------------------------------------------------
      {"ReissueWhenThePasswordNeverReachedTheSink",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kCreated))
                              .Secret("ci-push", GoodSecret("ci-push")));
       },
       {{Type::kReissue, "ci-push", "password never reached the sink", "id-ci-push"}},
       {.pending = 1}},
      {"ReissueWhenTheCreateWasInterruptedAfterThePut",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kCreating)));
       },
       {{Type::kReissue, "ci-push", "password never reached the sink", "id-ci-push"}},
       {.pending = 1}},
      {"HeldPasswordIsPendingNotReissued",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kCreated))
                              .Secret("ci-push", SecretState{})
                              .Hold("ci-push"));
       },
       {},
       {.pending = 1}},
      {"HeldPasswordStillGetsAnUpdate",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.status = TokenStatus::kDisabled;
         return std::move(World()
                              .Declare(spec)
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push", "", OwnershipRecord::Phase::kCreated))
                              .Hold("ci-push"));
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push", "status=disabled "}},
       {.pending = 1}},
      {"ReissueWhenTheSecretIsMissing",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", SecretState{});
         return w;
       },
       {{Type::kReissue, "ci-push", "secret missing", "id-ci-push"}},
       {.pending = 1}},
      {"ReissueWhenTheSecretHasNoPassword",
       [] {
         World w;
         w.Managed("ci-push").Secret(
             "ci-push", SecretState{true, false, kProdHost, "ci-push", SecretRecord{}, ""});
         return w;
       },
       {{Type::kReissue, "ci-push", "secret has no password", "id-ci-push"}},
       {.pending = 1}},
      {"ReissueWhenTheSecretNamesAnotherUser",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", GoodSecret("someone"));
         return w;
       },
       {{Type::kReissue, "ci-push", "secret has username \"someone\" instead of \"ci-push\"",
         "id-ci-push"}},
       {.pending = 1}},
      {"ReissueWhenTheSecretNamesAnotherHost",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", GoodSecret("ci-push", "old.example.com"));
         return w;
       },
       {{Type::kReissue, "ci-push",
         "secret is for host \"old.example.com\" instead of \"" + kProdHost + "\"", "id-ci-push"}},
       {.pending = 1}},
      {"NoHostCheckWhileTheRegistryHasNoHostname",
       [] {
         World w;
         w.observed.registries[kProd].info.hostname = "";
         w.Managed("ci-push").Secret("ci-push", GoodSecret("ci-push", "old.example.com"));
         return w;
       },
       {},
       {.in_sync = 1}},
      {"UninspectedSecretNeverCausesAReissue",
       [] {
         World w;
         w.Managed("ci-push").observed.secrets.clear();
         return w;
       },
       {},
       {.in_sync = 1}},
      {"HeldPasswordWithAMissingSecretIsNotReissued",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", SecretState{}).Hold("ci-push");
         return w;
       },
       {},
       {.pending = 1}},
      {"ReissueWhenTheSecretMoved",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.secret = Kube("ci", "ci-push-pull");
         return std::move(World()
                              .Declare(spec)
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push"))
                              .Secret("ci-push", SecretState{}));
       },
       {{Type::kReissue, "ci-push",
         "secret moved from file:ci-push.json to kubernetes:ci/ci-push-pull", "id-ci-push"}},
       {.pending = 1}},
      {"ReissueCarriesTheSpecSoNoSeparateUpdate",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", SecretState{});
         w.desired.specs[0].status = TokenStatus::kDisabled;
         w.desired.specs[0].expiry.reset();
         return w;
       },
       {{Type::kReissue, "ci-push", "secret missing", "id-ci-push"}},
       {.pending = 1}},

      // --- Update -------------------------------------------------------------------------------
      {"InSyncPlansNothing",
       [] { return std::move(World().Managed("ci-push").Managed("pull", kDev)); },
       {},
       {.in_sync = 2}},
      {"UpdateStatusOnly",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].status = TokenStatus::kDisabled;
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push", "status=disabled "}},
       {.pending = 1}},
      {"UpdateExpiryOnly",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].expiry = At("2028-01-01T00:00:00Z");
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push", "expiry=2028-01-01T00:00:00Z "}},
       {.pending = 1}},
      {"UpdateClearsAnExpiryNoLongerDeclared",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].expiry.reset();
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push", "expiry=null "}},
       {.pending = 1}},
      {"UpdateSetsAnExpiryTheRegistryLacks",
       [] {
         World w;
         w.Managed("ci-push").observed.registries[kProd].tokens[0].expiry.reset();
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push", "expiry=2027-06-30T00:00:00Z "}},
       {.pending = 1}},
      {"ExpiryComparesAsInstants",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].expiry = At("2027-01-01T01:00:00+01:00");
         w.observed.registries[kProd].tokens[0].expiry = At("2027-01-01T00:00:00Z");
         return w;
       },
       {},
       {.in_sync = 1}},
      {"ScopesCompareAsSets",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].scopes = {
             Scope{"lib/*", "repository", {"pull"}},
             Scope{"app/*", "repository", {"push", "pull", "pull"}},
             Scope{"app/*", "repository", {"pull", "push"}}};
         w.observed.registries[kProd].tokens[0].scopes = {
             Scope{"app/*", "repository", {"pull", "push"}},
             Scope{"lib/*", "repository", {"pull", "pull"}}};
         return w;
       },
       {},
       {.in_sync = 1}},
      {"UpdateScopesSendsTheWholeNormalizedList",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].scopes = {
             Scope{"lib/*", "repository", {"pull"}},
             Scope{"app/*", "repository", {"push", "delete", "pull"}}};
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push",
         "scopes={repository app/* delete pull push}{repository lib/* pull} "}},
       {.pending = 1}},
      {"UpdateAllThreeFieldsInOnePatch",
       [] {
         World w;
         TokenSpec& spec = w.Managed("ci-push").desired.specs[0];
         spec.status = TokenStatus::kDisabled;
         spec.expiry.reset();
         spec.scopes = {Scope{"*", "registry", {"pull"}}};
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", "id-ci-push",
         "status=disabled expiry=null scopes={registry * pull} "}},
       {.pending = 1}},

      // --- Delete and prune ---------------------------------------------------------------------
      {"OwnedUndeclaredIsDeletedUnderOwned",
       [] { return std::move(World().Exists(Token("old")).Owns(Record("old"))); },
       {{Type::kDelete, "old", "not declared", "id-old"}},
       {.pending = 1}},
      {"OwnedUndeclaredIsDeletedUnderAll",
       [] {
         return std::move(World().Exists(Token("old")).Owns(Record("old")).Prune(PruneMode::kAll));
       },
       {{Type::kDelete, "old", "not declared", "id-old"}},
       {.pending = 1}},
      {"OwnedUndeclaredIsLeftUnderNone",
       [] {
         return std::move(World().Exists(Token("old")).Owns(Record("old")).Prune(PruneMode::kNone));
       },
       {},
       {.unmanaged = 1}},
      {"OwnedTokenFromAFailingFileIsNeverDeleted",
       [] {
         World w;
         w.desired.failed_files.insert("specs/old.yaml");
         return std::move(w.Exists(Token("old")).Owns(Record("old")));
       },
       {},
       {.in_sync = 1}},
      {"OwnedTokenFromAFailingFileIsNeverDeletedUnderAll",
       [] {
         World w;
         w.desired.failed_files.insert("specs/old.yaml");
         return std::move(w.Exists(Token("old")).Owns(Record("old")).Prune(PruneMode::kAll));
       },
       {},
       {.in_sync = 1}},
      {"OwnedTokenFromAnotherFileIsDeletedWhileOneFails",
       [] {
         World w;
         w.desired.failed_files.insert("specs/broken.yaml");
         return std::move(w.Exists(Token("old")).Owns(Record("old")));
       },
       {{Type::kDelete, "old", "not declared", "id-old"}},
       {.pending = 1}},
      {"UnownedUndeclaredIsLeftUnderOwned",
       [] { return std::move(World().Exists(Token("theirs"))); },
       {},
       {.unmanaged = 1}},
      {"UnownedUndeclaredIsLeftUnderNone",
       [] { return std::move(World().Exists(Token("theirs")).Prune(PruneMode::kNone)); },
       {},
       {.unmanaged = 1}},
      {"UnownedUndeclaredIsDeletedUnderAll",
       [] {
         return std::move(World()
                              .Exists(Token("theirs"))
                              .Exists(Token("other", "x"), kDev)
                              .Prune(PruneMode::kAll));
       },
       {{Type::kDelete, "theirs", "not declared (prune=all)", "id-theirs"},
        {Type::kDelete, "other", "not declared (prune=all)", "x", "", kDev}},
       {.pending = 2}},
      {"NothingUnownedIsPrunedWhileASpecFileFails",
       [] {
         World w;
         w.desired.failed_files = {"specs/broken.yaml", "specs/bad.yaml"};
         return std::move(w.Exists(Token("a"))
                              .Exists(Token("b"))
                              .Exists(Token("c"), kDev)
                              .Managed("ci-push")
                              .Prune(PruneMode::kAll));
       },
       {},
       {.in_sync = 1, .unmanaged = 3},
       {"prune=all: 2 undeclared tokens in registry acme-prod that crtoken does not own are kept "
        "while spec files fail to load (specs/bad.yaml, specs/broken.yaml)",
        "prune=all: 1 undeclared token in registry acme-dev that crtoken does not own is kept "
        "while spec files fail to load (specs/bad.yaml, specs/broken.yaml)"}},
      {"RecordOfAGoneTokenIsDeleted",
       [] { return std::move(World().Owns(Record("old"))); },
       {{Type::kDelete, "old", "already gone; removing its secret and record"}},
       {.pending = 1}},
      {"RecordOfAGoneTokenIsKeptUnderNone",
       [] { return std::move(World().Owns(Record("old")).Prune(PruneMode::kNone)); },
       {},
       {}},
      {"RecordOfAGoneTokenFromAFailingFileIsKept",
       [] {
         World w;
         w.desired.failed_files.insert("specs/old.yaml");
         return std::move(w.Owns(Record("old")));
       },
       {},
       {}},
      {"StaleRecordWhoseNameWasTakenIsForgottenUnderOwned",
       [] {
         return std::move(World().Exists(Token("old", "foreign")).Owns(Record("old", "ours")));
       },
       {{Type::kDelete, "old", "already gone; removing its secret and record"}},
       {.pending = 1, .unmanaged = 1}},
      {"StaleRecordGoesWithTheForeignTokenUnderAll",
       [] {
         return std::move(World()
                              .Exists(Token("old", "foreign"))
                              .Owns(Record("old", "ours"))
                              .Prune(PruneMode::kAll));
       },
       {{Type::kDelete, "old", "not declared (prune=all)", "foreign"}},
       {.pending = 1}},

      {"DuplicateNamesInARegistryPreferTheOwnedId",
       [] {
         World w;
         w.Managed("dup").observed.registries[kProd].tokens[0].id = "b";
         w.observed.owned[0].token_id = "b";
         w.Exists(Token("dup", "a")).Exists(Token("dup", "c"));
         return w;
       },
       {},
       {.in_sync = 1, .unmanaged = 2}},
      {"DuplicateRecordsPreferTheOneWhoseTokenExists",
       [] {
         World w;
         w.Exists(Token("old", "b")).Owns(Record("old", "b")).Owns(Record("old", "a"));
         w.Owns(Record("gone", "d")).Owns(Record("gone", "c"));
         return w;
       },
       {{Type::kDelete, "gone", "already gone; removing its secret and record"},
        {Type::kDelete, "old", "not declared", "b"}},
       {.pending = 2}},

      // --- Protected and duplicate keys ---------------------------------------------------------
      {"ProtectedKeysAreNeverActedOn",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push");
         spec.status = TokenStatus::kDisabled;
         w.Declare(spec).Exists(Token("ci-push")).Owns(Record("ci-push"));
         w.Exists(Token("old")).Owns(Record("old")).Owns(Record("gone")).Prune(PruneMode::kAll);
         w.desired.protected_keys = {{kProd, "ci-push"}, {kProd, "old"}, {kProd, "gone"}};
         return w;
       },
       {},
       {.error = 2}},
      {"DuplicateSpecsAreProblemsNotActions",
       [] {
         TokenSpec other = Spec("ci-push");
         other.source = SourceLocation{"specs/other.yaml", 2, 9};
         return std::move(World().Declare(Spec("ci-push")).Declare(other));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push is declared 2 times in registry acme-prod; it is "
        "not acted on",
        "specs/other.yaml:2:9: token ci-push is declared 2 times in registry acme-prod; it is not "
        "acted on"}},

      // --- Rename -------------------------------------------------------------------------------
      {"RenameIsACreateThenADelete",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.source.file = "specs/ci-push.yaml";
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Exists(Token("ci-push")).Owns(Record("ci-push")));
       },
       {{Type::kCreate, "ci-push-v2", "renamed from ci-push"},
        {Type::kDelete, "ci-push", "renamed to ci-push-v2", "id-ci-push", "", kProd, true}},
       {.pending = 2}},
      {"NotARenameWhenTheSecretDiffers",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.source.file = "specs/ci-push.yaml";
         return std::move(World().Declare(spec).Exists(Token("ci-push")).Owns(Record("ci-push")));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry"},
        {Type::kDelete, "ci-push", "not declared", "id-ci-push"}},
       {.pending = 2}},
      {"NotARenameAcrossRegistries",
       [] {
         TokenSpec spec = Spec("ci-push-v2", kDev);
         spec.source.file = "specs/ci-push.yaml";
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Exists(Token("ci-push")).Owns(Record("ci-push")));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry", "", "", kDev},
        {Type::kDelete, "ci-push", "not declared", "id-ci-push", "", kProd, true}},
       {.pending = 2}},
      {"NoRenameUnderNone",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.source.file = "specs/ci-push.yaml";
         spec.secret = File("ci-push.json");
         return std::move(World()
                              .Declare(spec)
                              .Exists(Token("ci-push"))
                              .Owns(Record("ci-push"))
                              .Prune(PruneMode::kNone));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry"}},
       {.pending = 1, .unmanaged = 1}},
      {"GoneRecordKeepsASecretADeclaredSpecNowUses",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Owns(Record("ci-push")));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry"},
        {Type::kDelete, "ci-push", "already gone; removing its record", "", "", kProd, true}},
       {.pending = 2}},

      // --- Order and counts across everything ---------------------------------------------------
      {"OrderIsCreatesReissuesUpdatesDeletesByRegistryThenName",
       [] {
         World w;
         w.Declare(Spec("zeta")).Declare(Spec("alpha", kDev)).Declare(Spec("alpha"));
         w.Managed("lost").Secret("lost", SecretState{});
         w.Managed("changed").desired.specs.back().status = TokenStatus::kDisabled;
         w.Managed("fine").Managed("fine", kDev);
         w.Exists(Token("b-old")).Owns(Record("b-old"));
         w.Exists(Token("a-old")).Owns(Record("a-old"));
         w.Exists(Token("theirs"));
         w.Declare(Spec("taken")).Exists(Token("taken"));
         return w;
       },
       {{Type::kCreate, "alpha", "not in the registry"},
        {Type::kCreate, "zeta", "not in the registry"},
        {Type::kCreate, "alpha", "not in the registry", "", "", kDev},
        {Type::kReissue, "lost", "secret missing", "id-lost"},
        {Type::kUpdate, "changed", "fields differ", "id-changed", "status=disabled "},
        {Type::kDelete, "a-old", "not declared", "id-a-old"},
        {Type::kDelete, "b-old", "not declared", "id-b-old"}},
       {.in_sync = 2, .pending = 7, .error = 1, .unmanaged = 1},
       {"specs/taken.yaml:4:9: a token named taken exists in registry acme-prod but crtoken does "
        "not own it; set spec.adopt: true or --adopt"}},
  };
}

class PlanCase : public ::testing::TestWithParam<Case> {};

TEST_P(PlanCase, ExactActionsProblemsAndCounts) {
  const Case& c = GetParam();
  const World world = c.build();
  const Plan plan = PlanOf(world);

  std::vector<std::string> got, want;
  for (const Action& a : plan.actions) got.push_back(ActionText(a));
  for (const Want& w : c.want) want.push_back(WantText(w));
  EXPECT_EQ(got, want);

  std::vector<std::string> problems;
  for (const Problem& p : plan.problems) problems.push_back(p.ToString());
  EXPECT_EQ(problems, c.problems);

  EXPECT_EQ(plan.counts.in_sync, c.counts.in_sync);
  EXPECT_EQ(plan.counts.pending, c.counts.pending);
  EXPECT_EQ(plan.counts.error, c.counts.error);
  EXPECT_EQ(plan.counts.unmanaged, c.counts.unmanaged);
  EXPECT_EQ(plan.empty(), c.want.empty());

  // What the reconciler relies on beyond the table: creates, reissues and updates carry the spec
  // and the registry's hostname; reissues, updates and deletes of a token name its id; a patch
  // only on updates, never empty there.
  for (const Action& a : plan.actions) {
    SCOPED_TRACE(ActionText(a));
    auto registry = world.observed.registries.find(a.key.registry_id);
    ASSERT_NE(registry, world.observed.registries.end());
    EXPECT_EQ(a.registry_name, registry->second.info.name);
    EXPECT_EQ(a.hostname, registry->second.info.hostname);
    EXPECT_EQ(a.spec.has_value(), a.type != ActionType::kDelete);
    if (a.spec) {
      EXPECT_EQ(a.spec->name, a.key.name);
      EXPECT_EQ(a.spec->registry_id, a.key.registry_id);
    }
    EXPECT_EQ(a.type == ActionType::kUpdate, !a.patch.empty());
    EXPECT_EQ(a.observed.has_value(), !a.token_id.empty());
    if (a.observed) {
      EXPECT_EQ(a.observed->id, a.token_id);
    }
    if (a.record) {
      EXPECT_EQ(a.record->key(), a.key);
    }
    if (a.type == ActionType::kDelete && a.token_id.empty()) {
      EXPECT_TRUE(a.record.has_value());
    }
  }
}

// The same world in any input order gives the same plan, byte for byte.
TEST_P(PlanCase, DeterministicUnderInputShuffles) {
  const World world = GetParam().build();
  const std::string expected = Fingerprint(PlanOf(world));
  std::mt19937 rng(20261128);
  for (int round = 0; round < 8; ++round) {
    World shuffled = world;
    std::shuffle(shuffled.desired.specs.begin(), shuffled.desired.specs.end(), rng);
    std::shuffle(shuffled.observed.owned.begin(), shuffled.observed.owned.end(), rng);
    for (auto& [id, registry] : shuffled.observed.registries) {
      std::shuffle(registry.tokens.begin(), registry.tokens.end(), rng);
    }
    EXPECT_EQ(Fingerprint(PlanOf(shuffled)), expected) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Rules, PlanCase, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(ComputePlan, RenamePairsAreDeterministicWithSeveralCandidates) {
  // Two specs renamed in one file, each keeping its own secret: each pairs with its own old token.
  World w;
  for (const auto& [old_name, new_name] :
       {std::pair{"push-a", "push-a2"}, std::pair{"push-b", "push-b2"}}) {
    TokenSpec spec = Spec(new_name);
    spec.source.file = "specs/all.yaml";
    spec.secret = File(std::string(old_name) + ".json");
    OwnershipRecord record = Record(old_name);
    record.source_file = "specs/all.yaml";
    w.Declare(spec).Exists(Token(old_name)).Owns(record);
  }
  const Plan plan = PlanOf(w);
  ASSERT_EQ(plan.actions.size(), 4u);
  EXPECT_EQ(plan.actions[0].reason, "renamed from push-a");
  EXPECT_EQ(plan.actions[1].reason, "renamed from push-b");
  EXPECT_EQ(plan.actions[2].reason, "renamed to push-a2");
  EXPECT_EQ(plan.actions[3].reason, "renamed to push-b2");
}

TEST(ComputePlan, NextExpiryIsTheNearestDeclaredExpiryAfterNow) {
  World w;
  TokenSpec past = Spec("past"), at_now = Spec("at-now"), soon = Spec("soon"),
            later = Spec("later", kDev), never = Spec("never"), elsewhere = Spec("x", kStage);
  past.expiry = At("2026-01-01T00:00:00Z");
  at_now.expiry = kNow;
  soon.expiry = At("2027-02-01T00:00:00+01:00");
  later.expiry = At("2027-03-01T00:00:00Z");
  never.expiry.reset();
  elsewhere.expiry = At("2028-01-01T00:00:00Z");
  w.Declare(later).Declare(past).Declare(soon).Declare(at_now).Declare(never).Declare(elsewhere);
  EXPECT_EQ(PlanOf(w).next_expiry, At("2027-01-31T23:00:00Z"));

  World none;
  none.Declare(past).Declare(never);
  EXPECT_FALSE(PlanOf(none).next_expiry.has_value());
}

TEST(ComputePlan, NextExpiryIncludesTheRenewalOfLifetimeTokens) {
  using std::chrono::hours;
  World w;
  w.Managed("ci-push").Managed("dated").Lifetime(0, hours(48), hours(16), kNow + hours(40));
  // Renewal at expiry - renewBefore = now + 24h, before dated's kExpiry.
  EXPECT_EQ(PlanOf(w).next_expiry, kNow + std::chrono::hours(24));
}

TEST(ComputePlan, ACreateOfALifetimeTokenSaysSo) {
  TokenSpec spec = Spec("ci-push");
  spec.expiry.reset();
  spec.lifetime = std::chrono::hours(24 * 90);
  spec.renew_before = std::chrono::hours(24 * 30);
  const Plan plan = PlanOf(World().Declare(spec));
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0].Describe(),
            "create acme-prod/ci-push (enabled, lifetime 90d, 1 scope) -> file:ci-push.json");
}

TEST(ComputePlan, CreateCarriesTheRecordOfADisappearedToken) {
  OwnershipRecord record = Record("ci-push");
  record.generation = 3;
  const Plan plan = PlanOf(World().Declare(Spec("ci-push")).Owns(record));
  ASSERT_EQ(plan.actions.size(), 1u);
  ASSERT_TRUE(plan.actions[0].record.has_value());
  EXPECT_EQ(plan.actions[0].record->generation, 3);
  EXPECT_TRUE(plan.actions[0].token_id.empty());
}

TEST(NormalizeScopes, SortsScopesAndActionsAndDropsDuplicates) {
  const std::vector<Scope> got = NormalizeScopes({
      Scope{"lib/*", "repository", {"push", "pull", "push"}},
      Scope{"*", "registry", {"pull"}},
      Scope{"app/*", "repository", {"delete", "pull"}},
      Scope{"lib/*", "repository", {"pull", "push"}},
  });
  const std::vector<Scope> want = {
      Scope{"*", "registry", {"pull"}},
      Scope{"app/*", "repository", {"delete", "pull"}},
      Scope{"lib/*", "repository", {"pull", "push"}},
  };
  EXPECT_EQ(got, want);
  EXPECT_TRUE(NormalizeScopes({}).empty());
}

TEST(PruneMode, ParsesAndNamesEachMode) {
  for (PruneMode mode : {PruneMode::kOwned, PruneMode::kNone, PruneMode::kAll}) {
    EXPECT_EQ(ParsePruneMode(PruneModeName(mode)), mode);
  }
  EXPECT_FALSE(ParsePruneMode("Owned").has_value());
  EXPECT_FALSE(ParsePruneMode("").has_value());
}

// Describe() for every action type, from real plans.
TEST(Describe, OneReadableLinePerAction) {
  World w;
  w.Declare(Spec("ci-push"));  // create
  TokenSpec pull = Spec("pull", kDev);
  pull.status = TokenStatus::kDisabled;
  pull.expiry.reset();
  pull.scopes = {Scope{"b/*", "repository", {"pull"}}, Scope{"*", "registry", {"pull"}}};
  pull.secret = Kube("team-a", "pull-secret");
  w.Declare(pull);                                                 // create, no expiry, 2 scopes
  w.Managed("lost").Secret("lost", SecretState{});                 // reissue
  TokenSpec& changed = w.Managed("changed").desired.specs.back();  // update
  changed.status = TokenStatus::kDisabled;
  changed.expiry.reset();
  changed.scopes = {Scope{"lib/*", "repository", {"pull"}}, Scope{"app/*", "repository", {"pull"}}};
  w.Exists(Token("old")).Owns(Record("old"));                            // delete
  w.Owns(Record("gone"));                                                // delete of a gone token
  w.Owns(Record("gone-dev", "", OwnershipRecord::Phase::kReady, kDev));  // its secret is reused
  TokenSpec reuse = Spec("reuse", kDev);
  reuse.secret = File("gone-dev.json");
  w.Declare(reuse);

  std::vector<std::string> got;
  for (const Action& a : PlanOf(w).actions) got.push_back(a.Describe());
  const std::vector<std::string> want = {
      "create acme-prod/ci-push (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> "
      "file:ci-push.json",
      "create acme-dev/pull (disabled, no expiry, 2 scopes) -> kubernetes:team-a/pull-secret",
      "create acme-dev/reuse (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> "
      "file:gone-dev.json",
      "reissue acme-prod/lost: secret missing",
      "update acme-prod/changed: status enabled -> disabled; expiryDate 2027-06-30T00:00:00Z -> "
      "none; scopes [repository app/* pull,push] -> [repository app/* pull | repository lib/* "
      "pull]",
      "delete acme-prod/gone: already gone; removing its secret and record",
      "delete acme-prod/old: not declared",
      "delete acme-dev/gone-dev: already gone; removing its record (keeping file:gone-dev.json, "
      "now declared by a spec)",
  };
  EXPECT_EQ(got, want);
}

TEST(Describe, CreateNamesARenameOrADisappearance) {
  TokenSpec spec = Spec("ci-push-v2");
  spec.source.file = "specs/ci-push.yaml";
  spec.secret = File("ci-push.json");
  World renamed;
  renamed.Declare(spec).Exists(Token("ci-push")).Owns(Record("ci-push"));
  const Plan plan = PlanOf(renamed);
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(plan.actions[0].Describe(),
            "create acme-prod/ci-push-v2 (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> "
            "file:ci-push.json: renamed from ci-push");
  EXPECT_EQ(plan.actions[1].Describe(),
            "delete acme-prod/ci-push: renamed to ci-push-v2 (keeping file:ci-push.json, now "
            "declared by a spec)");

  const Plan again = PlanOf(World().Declare(Spec("ci-push")).Owns(Record("ci-push")));
  ASSERT_EQ(again.actions.size(), 1u);
  EXPECT_EQ(again.actions[0].Describe(),
            "create acme-prod/ci-push (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> "
            "file:ci-push.json: disappeared from the registry (deleted by hand or expired)");
}

TEST(Problem, ToStringPrefixesTheLocationWhenKnown) {
  Problem p{TokenKey{kProd, "ci-push"}, SourceLocation{"specs/a.yaml", 3, 7}, "boom"};
  EXPECT_EQ(p.ToString(), "specs/a.yaml:3:7: boom");
  p.where = SourceLocation{"specs/a.yaml", 0, 0};
  EXPECT_EQ(p.ToString(), "specs/a.yaml: boom");
  p.where = SourceLocation{};
  EXPECT_EQ(p.ToString(), "boom");
}

}  // namespace
}  // namespace crtoken
