// Table-driven tests of the pure planner: each case builds a declared and an observed world and
// asserts the exact actions (type, key, token ids, reason, patch, secrets), the problems and the
// counts. Ownership and delivery are observed: from the token ids (reconciler/token_id.h) and from
// the records of this owner's secrets.
#include "reconciler/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>
#include <sstream>

#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

const std::string kOwner = "crtoken";
const std::string kProd = "0b9d6a44-1f6e-4c5e-9a51-000000000001";   // acme-prod
const std::string kDev = "0b9d6a44-1f6e-4c5e-9a51-000000000002";    // acme-dev
const std::string kStage = "0b9d6a44-1f6e-4c5e-9a51-000000000003";  // never observed
const std::string kProdHost = "acme-prod.cr.de-fra.ionos.com";
const std::string kDevHost = "acme-dev.cr.de-fra.ionos.com";
// Ids that are not crtoken's (random version 4 UUIDs, as the API or another tool makes them).
const std::string kForeign = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
const std::string kForeign2 = "9b2e6f4a-3c1d-4e8f-a0b7-5d6c7e8f9a01";

Instant At(const std::string& text) {
  std::optional<Instant> instant = ParseRfc3339(text);
  if (!instant) ADD_FAILURE() << "bad instant in test: " << text;
  return instant.value_or(Instant{});
}

const Instant kNow = At("2026-11-28T12:00:00Z");
const Instant kExpiry = At("2027-06-30T00:00:00Z");

// This owner's id of generation `generation` of `name`.
std::string Mine(const std::string& name, uint16_t generation = 0,
                 const std::string& registry_id = kProd) {
  return OwnedTokenId(kOwner, registry_id, name, generation);
}

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

// A token exactly as Spec(name) declares it. Without an id, World::Exists gives it this owner's
// id of generation 0.
ObservedToken Token(const std::string& name, const std::string& id = "") {
  ObservedToken token;
  token.id = id;
  token.name = name;
  token.status = TokenStatus::kEnabled;
  token.expiry = kExpiry;
  token.scopes = {AppScope()};
  return token;
}

SecretRecord RecordOf(const std::string& name, const std::string& id,
                      const std::string& registry_id = kProd) {
  return SecretRecord{kOwner, registry_id, name, id};
}

// The secret of `name` as crtoken writes it: password, user, host, and the record of token `id`.
SecretState GoodSecret(const std::string& name, const std::string& host = kProdHost,
                       const std::string& id = "", const std::string& registry_id = kProd) {
  return SecretState{true,
                     true,
                     host,
                     name,
                     RecordOf(name, id.empty() ? Mine(name, 0, registry_id) : id, registry_id),
                     ""};
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
    observed.secrets_listed = true;
  }
  World& Declare(TokenSpec spec) {
    desired.specs.push_back(std::move(spec));
    return *this;
  }
  World& Exists(ObservedToken token, const std::string& registry_id = kProd) {
    if (token.id.empty()) token.id = Mine(token.name, 0, registry_id);
    observed.registries[registry_id].tokens.push_back(std::move(token));
    return *this;
  }
  // A secret of this owner at `place` (default NAME.json) recording token `id` (default: this
  // owner's generation 0) of `name`, as SecretSink::List reports it.
  World& Listed(const std::string& name, const std::string& id = "",
                const std::string& registry_id = kProd, std::optional<SecretRef> place = {}) {
    observed.listed.push_back(
        ListedSecret{place ? *place : File(name + ".json"),
                     RecordOf(name, id.empty() ? Mine(name, 0, registry_id) : id, registry_id)});
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
  // Declared, existing with this owner's id, and its secret recording it: in sync.
  World& Managed(const std::string& name, const std::string& registry_id = kProd) {
    Declare(Spec(name, registry_id));
    Exists(Token(name), registry_id);
    Listed(name, "", registry_id);
    return Secret(name,
                  GoodSecret(name, registry_id == kDev ? kDevHost : kProdHost, "", registry_id),
                  registry_id);
  }
  // An owned token no spec declares any more, with its secret.
  World& Undeclared(const std::string& name, const std::string& registry_id = kProd) {
    Exists(Token(name), registry_id);
    return Listed(name, "", registry_id);
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

std::string RefsText(const std::vector<SecretRef>& refs) {
  std::string out;
  for (const SecretRef& ref : refs) out += (out.empty() ? "" : ",") + ref.ToString();
  return out;
}

// One expected action. The patch is written as PatchText renders it ("" = empty patch); the
// secrets as RefsText does.
struct Want {
  ActionType type;
  std::string name;
  std::string reason;
  std::string token_id = "";      // "" for a create or a delete of a gone token
  std::string new_token_id = "";  // creates and re-issues
  std::string patch = "";
  std::string registry_id = kProd;
  std::string delete_secrets = "";
  std::string kept_secrets = "";
};

struct Case {
  std::string name;
  std::function<World()> build;
  std::vector<Want> want;
  Counts counts;
  std::vector<std::string> problems = {};  // Problem::ToString(), in order
  int deletes_held = 0;
};

// So that test listings (ctest, --gtest_list_tests) name a case instead of dumping its bytes.
void PrintTo(const Case& c, std::ostream* out) { *out << c.name; }

std::string ActionText(const Action& a) {
  std::ostringstream out;
  out << ActionTypeName(a.type) << " " << a.key.registry_id << "/" << a.key.name
      << " id=" << a.token_id << " new=" << a.new_token_id << " reason=" << a.reason
      << " patch=" << PatchText(a.patch) << " delete=" << RefsText(a.delete_secrets)
      << " keep=" << RefsText(a.kept_secrets);
  return out.str();
}

std::string WantText(const Want& w) {
  std::ostringstream out;
  out << ActionTypeName(w.type) << " " << w.registry_id << "/" << w.name << " id=" << w.token_id
      << " new=" << w.new_token_id << " reason=" << w.reason << " patch=" << w.patch
      << " delete=" << w.delete_secrets << " keep=" << w.kept_secrets;
  return out.str();
}

// Everything a plan says, as text: two plans are the same iff their fingerprints are.
std::string Fingerprint(const Plan& plan) {
  std::string out;
  for (const Action& a : plan.actions) out += ActionText(a) + " | " + a.Describe() + "\n";
  for (const Problem& p : plan.problems) out += "problem " + p.ToString() + "\n";
  out += "counts " + std::to_string(plan.counts.in_sync) + " " +
         std::to_string(plan.counts.pending) + " " + std::to_string(plan.counts.error) + " " +
         std::to_string(plan.counts.unmanaged) + " held " + std::to_string(plan.deletes_held) +
         "\n";
  out += "next " + (plan.next_expiry ? FormatRfc3339(*plan.next_expiry) : std::string("none"));
  return out;
}

Plan PlanOf(const World& w) { return ComputePlan(w.desired, w.observed, w.policy, w.now); }

using Type = ActionType;

std::vector<Case> Cases() {
  const std::string kPast =
      "token ci-push: expiryDate 2026-11-28T12:00:00Z is in the past; the "
      "token is not created or updated";
  const std::string kFailing =
      "registry acme-prod: nothing pruned, 1 delete held back while spec files fail to load "
      "(specs/broken.yaml): any of them may declare any token";
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
         return std::move(
             w.Declare(spec).Exists(Token("ci-push", kForeign)).Prune(PruneMode::kAll));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push: registry acme-prod could not be resolved; the "
        "token is not acted on"}},
      {"UnresolvedSpecProtectsAnOwnedTokenOfThatName",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push", "");
         spec.registry = "acme-prod";
         return std::move(w.Declare(spec).Undeclared("ci-push"));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push: registry acme-prod could not be resolved; the "
        "token is not acted on"}},
      {"UnobservedRegistryIsAProblemAndItsSecretsAreLeft",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push", kStage);
         spec.registry = "acme-stage";
         return std::move(w.Declare(spec)
                              .Listed("ci-push", "", kStage)
                              .Listed("old", "", kStage)
                              .Prune(PruneMode::kAll));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: token ci-push: the tokens of registry acme-stage could not be "
        "read; the token is not acted on"}},

      // --- Create -------------------------------------------------------------------------------
      {"CreateWhenAbsentWithGenerationZero",
       [] { return std::move(World().Declare(Spec("ci-push")).Declare(Spec("pull", kDev))); },
       {{Type::kCreate, "ci-push", "not in the registry", "", Mine("ci-push")},
        {Type::kCreate, "pull", "not in the registry", "", Mine("pull", 0, kDev), "", kDev}},
       {.pending = 2}},
      {"CreateAgainWhenAnOwnedTokenDisappeared",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Listed("ci-push")
                              .Secret("ci-push", GoodSecret("ci-push")));
       },
       {{Type::kCreate, "ci-push", "disappeared from the registry (deleted by hand or expired)", "",
         Mine("ci-push", 1)}},
       {.pending = 1}},
      {"CreateAfterAnInterruptedReissueTakesTheGenerationAfterTheSecrets",
       [] {
         // A re-issue deleted generation 3 and crashed: its secret still records it.
         return std::move(
             World()
                 .Declare(Spec("ci-push"))
                 .Listed("ci-push", Mine("ci-push", 3))
                 .Secret("ci-push", GoodSecret("ci-push", kProdHost, Mine("ci-push", 3))));
       },
       {{Type::kCreate, "ci-push", "disappeared from the registry (deleted by hand or expired)", "",
         Mine("ci-push", 4)}},
       {.pending = 1}},
      {"CreateSeesTheSpecsOwnRecordWhenTheListingMissesIt",
       [] {
         // The listing failed: the generation still skips what the spec's own secret records.
         World w;
         w.observed.secrets_listed = false;
         return std::move(
             w.Declare(Spec("ci-push"))
                 .Secret("ci-push", GoodSecret("ci-push", kProdHost, Mine("ci-push", 7))));
       },
       {{Type::kCreate, "ci-push", "disappeared from the registry (deleted by hand or expired)", "",
         Mine("ci-push", 8)}},
       {.pending = 1}},
      {"CreateEvenWithAHeldPasswordWhenTheTokenIsGone",
       [] { return std::move(World().Declare(Spec("ci-push")).Hold("ci-push")); },
       {{Type::kCreate, "ci-push", "not in the registry", "", Mine("ci-push")}},
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
       {{Type::kReissue, "ci-push", "renewal: expires 2026-12-27T12:00:00Z", Mine("ci-push"),
         Mine("ci-push", 1)}},
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
       {{Type::kUpdate, "too-far", "fields differ", Mine("too-far"), "",
         "expiry=2026-11-30T12:00:00Z "},
        {Type::kUpdate, "undated", "fields differ", Mine("undated"), "",
         "expiry=2026-11-30T12:00:00Z "}},
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
         return std::move(
             World().Declare(spec).Exists(Token("ci-push")).Secret("ci-push", SecretState{}));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: " + kPast}},

      // --- Ownership and adoption ---------------------------------------------------------------
      {"ATokenThatIsNotCrtokensIsAProblem",
       [] {
         return std::move(World().Declare(Spec("ci-push")).Exists(Token("ci-push", kForeign)));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: a token named ci-push exists in registry acme-prod but crtoken "
        "does not own it; set spec.adopt: true or --adopt"}},
      {"SpecAdoptReissuesATokenThatIsNotCrtokens",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.adopt = true;
         return std::move(World().Declare(spec).Exists(Token("ci-push", kForeign)));
       },
       {{Type::kReissue, "ci-push", "adopt", kForeign, Mine("ci-push")}},
       {.pending = 1}},
      {"AdoptAllReissuesATokenThatIsNotCrtokens",
       [] {
         World w;
         w.policy.adopt_all = true;
         return std::move(w.Declare(Spec("ci-push")).Exists(Token("ci-push", kForeign)));
       },
       {{Type::kReissue, "ci-push", "adopt", kForeign, Mine("ci-push")}},
       {.pending = 1}},
      {"TokenReplacedUnderOurNameIsNotOwned",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push", kForeign))
                              .Listed("ci-push")
                              .Secret("ci-push", GoodSecret("ci-push")));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: a token named ci-push exists in registry acme-prod but crtoken "
        "does not own it (its id differs from the one crtoken created); set spec.adopt: true or "
        "--adopt"}},
      {"TokenReplacedUnderOurNameIsAdoptedWhenAskedWithTheNextGeneration",
       [] {
         World w;
         w.policy.adopt_all = true;
         return std::move(w.Declare(Spec("ci-push"))
                              .Exists(Token("ci-push", kForeign))
                              .Listed("ci-push", Mine("ci-push", 2)));
       },
       {{Type::kReissue, "ci-push", "adopt", kForeign, Mine("ci-push", 3)}},
       {.pending = 1}},
      {"ATokenCreatedBeforeIdsCarriedTheOwnerIsOwnedThroughItsSecret",
       [] {
         // Its id is not crtoken's, but this owner's secret records exactly it: owned, delivered.
         World w;
         w.Declare(Spec("legacy")).Exists(Token("legacy", kForeign)).Listed("legacy", kForeign);
         w.Secret("legacy", GoodSecret("legacy", kProdHost, kForeign));
         w.desired.specs[0].status = TokenStatus::kDisabled;
         return w;
       },
       {{Type::kUpdate, "legacy", "fields differ", kForeign, "", "status=disabled "}},
       {.pending = 1}},
      {"ALegacyTokenIsOwnedThroughTheSpecsOwnSecretWhenTheListingFails",
       [] {
         World w;
         w.observed.secrets_listed = false;
         w.Declare(Spec("legacy")).Exists(Token("legacy", kForeign));
         return std::move(w.Secret("legacy", GoodSecret("legacy", kProdHost, kForeign)));
       },
       {},
       {.in_sync = 1}},
      {"ALegacyRecordMustNameExactlyTheTokensKey",
       [] {
         // The secret records the id, but for another name: not this token's record.
         World w;
         w.Declare(Spec("legacy")).Exists(Token("legacy", kForeign));
         w.observed.listed.push_back(
             ListedSecret{File("legacy.json"), RecordOf("other", kForeign)});
         return w;
       },
       {},
       {.error = 1},
       {"specs/legacy.yaml:4:9: a token named legacy exists in registry acme-prod but crtoken does "
        "not own it; set spec.adopt: true or --adopt"}},
      {"ALegacyRecordOfAnotherOwnerDoesNotCount",
       [] {
         World w;
         w.Declare(Spec("legacy")).Exists(Token("legacy", kForeign));
         SecretState theirs = GoodSecret("legacy", kProdHost, kForeign);
         theirs.record.owner = "team-b";
         w.observed.listed.push_back(ListedSecret{File("legacy.json"), theirs.record});
         return std::move(w.Secret("legacy", theirs));
       },
       {},
       {.error = 1},
       {"specs/legacy.yaml:4:9: a token named legacy exists in registry acme-prod but crtoken does "
        "not own it; set spec.adopt: true or --adopt"}},
      {"ATokenOfAnotherOwnerIsAProblemNamingTheHolder",
       [] {
         return std::move(
             World()
                 .Declare(Spec("ci-push"))
                 .Exists(Token("ci-push", OwnedTokenId("team-b", kProd, "ci-push", 0))));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: a token named ci-push exists in registry acme-prod and belongs to "
        "another crtoken installation (owner fingerprint 55f6ce41; this one is owner \"crtoken\", "
        "fingerprint 69ae24dc); declare it in one installation only, or set spec.adopt: true or "
        "--adopt to take it over"}},
      {"ATokenOfAnotherOwnerIsTakenOverWhenAdopted",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.adopt = true;
         return std::move(World().Declare(spec).Exists(
             Token("ci-push", OwnedTokenId("team-b", kProd, "ci-push", 5))));
       },
       {{Type::kReissue, "ci-push", "adopt", OwnedTokenId("team-b", kProd, "ci-push", 5),
         Mine("ci-push")}},
       {.pending = 1}},
      {"AForgedOrCollidedIdIsAProblemNamingItEvenWithAdopt",
       [] {
         World w;
         w.policy.adopt_all = true;
         return std::move(w.Declare(Spec("ci-push")).Exists(Token("ci-push", Mine("other"))));
       },
       {},
       {.error = 1},
       {"specs/ci-push.yaml:4:9: a token named ci-push exists in registry acme-prod with id " +
        Mine("other") +
        ", which carries this owner's mark but was not made for this name (forged, or a "
        "collision); crtoken leaves it alone: delete it by hand"}},

      // --- Re-issue -----------------------------------------------------------------------------
      {"ReissueWhenThePasswordNeverReachedTheSink",
       [] {
         // Crash after the PUT of generation 1: the secret still records generation 0.
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push", Mine("ci-push", 1)))
                              .Listed("ci-push")
                              .Secret("ci-push", GoodSecret("ci-push")));
       },
       {{Type::kReissue, "ci-push", "password never reached the sink", Mine("ci-push", 1),
         Mine("ci-push", 2)}},
       {.pending = 1}},
      {"ReissueWhenTheCreateWasInterruptedAfterThePut",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push"))
                              .Secret("ci-push", SecretState{}));
       },
       {{Type::kReissue, "ci-push", "secret missing", Mine("ci-push"), Mine("ci-push", 1)}},
       {.pending = 1}},
      {"ReissueWhenTheSecretRecordsNothing",
       [] {
         // A secret written without a record (by hand, or by a version before records).
         World w;
         w.Managed("ci-push").observed.secrets.begin()->second.record = SecretRecord{};
         w.observed.listed.clear();
         return w;
       },
       {{Type::kReissue, "ci-push", "password never reached the sink", Mine("ci-push"),
         Mine("ci-push", 1)}},
       {.pending = 1}},
      {"HeldPasswordIsPendingNotReissued",
       [] {
         return std::move(World()
                              .Declare(Spec("ci-push"))
                              .Exists(Token("ci-push"))
                              .Secret("ci-push", SecretState{})
                              .Hold("ci-push"));
       },
       {},
       {.pending = 1}},
      {"HeldPasswordStillGetsAnUpdate",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.status = TokenStatus::kDisabled;
         return std::move(World().Declare(spec).Exists(Token("ci-push")).Hold("ci-push"));
       },
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "", "status=disabled "}},
       {.pending = 1}},
      {"ReissueWhenTheSecretIsMissing",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", SecretState{});
         return w;
       },
       {{Type::kReissue, "ci-push", "secret missing", Mine("ci-push"), Mine("ci-push", 1)}},
       {.pending = 1}},
      {"ReissueWhenTheSecretHasNoPassword",
       [] {
         World w;
         SecretState empty = GoodSecret("ci-push");
         empty.has_password = false;
         w.Managed("ci-push").Secret("ci-push", empty);
         return w;
       },
       {{Type::kReissue, "ci-push", "secret has no password", Mine("ci-push"), Mine("ci-push", 1)}},
       {.pending = 1}},
      {"ReissueWhenTheSecretNamesAnotherUser",
       [] {
         World w;
         SecretState other = GoodSecret("ci-push");
         other.username = "someone";
         w.Managed("ci-push").Secret("ci-push", other);
         return w;
       },
       {{Type::kReissue, "ci-push", "secret has username \"someone\" instead of \"ci-push\"",
         Mine("ci-push"), Mine("ci-push", 1)}},
       {.pending = 1}},
      {"ReissueWhenTheSecretNamesAnotherHost",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", GoodSecret("ci-push", "old.example.com"));
         return w;
       },
       {{Type::kReissue, "ci-push",
         "secret is for host \"old.example.com\" instead of \"" + kProdHost + "\"", Mine("ci-push"),
         Mine("ci-push", 1)}},
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
      {"ReissueWhenTheSecretMovedAndTheOldOneGoesWithIt",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.secret = Kube("ci", "ci-push-pull");
         return std::move(World()
                              .Declare(spec)
                              .Exists(Token("ci-push"))
                              .Listed("ci-push")
                              .Secret("ci-push", SecretState{}));
       },
       {{Type::kReissue, "ci-push",
         "secret moved from file:ci-push.json to kubernetes:ci/ci-push-pull", Mine("ci-push"),
         Mine("ci-push", 1), "", kProd, "file:ci-push.json"}},
       {.pending = 1}},
      {"AMovedSecretIsKeptUnderNone",
       [] {
         TokenSpec spec = Spec("ci-push");
         spec.secret = Kube("ci", "ci-push-pull");
         return std::move(World()
                              .Declare(spec)
                              .Exists(Token("ci-push"))
                              .Listed("ci-push")
                              .Secret("ci-push", SecretState{})
                              .Prune(PruneMode::kNone));
       },
       {{Type::kReissue, "ci-push",
         "secret moved from file:ci-push.json to kubernetes:ci/ci-push-pull", Mine("ci-push"),
         Mine("ci-push", 1)}},
       {.pending = 1}},
      {"AnOldSecretGoesOnceTheTokenIsDeliveredAtItsNewPlace",
       [] {
         // A re-issue wrote the new place and crashed before it deleted the old one.
         World w;
         w.Managed("ci-push").Listed("ci-push", "", kProd, File("old/ci-push.json"));
         return w;
       },
       {{Type::kDelete, "ci-push", "secret moved to file:ci-push.json", "", "", "", kProd,
         "file:old/ci-push.json"}},
       {.pending = 1}},
      {"AnOldSecretGoesWithAnUpdateCountedOnce",
       [] {
         World w;
         w.Managed("ci-push").Listed("ci-push", Mine("ci-push", 9), kProd, File("old.json"));
         w.desired.specs[0].status = TokenStatus::kDisabled;
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "", "status=disabled "},
        {Type::kDelete, "ci-push", "secret moved to file:ci-push.json", "", "", "", kProd,
         "file:old.json"}},
       {.pending = 1}},
      {"AnOldSecretWaitsWhileDeletesAreHeld",
       [] {
         World w;
         w.desired.prune.settling = "the spec files changed";
         return std::move(w.Managed("ci-push").Listed("ci-push", "", kProd, File("old.json")));
       },
       {},
       {.in_sync = 1},
       {},
       1},
      {"ReissueCarriesTheSpecSoNoSeparateUpdate",
       [] {
         World w;
         w.Managed("ci-push").Secret("ci-push", SecretState{});
         w.desired.specs[0].status = TokenStatus::kDisabled;
         w.desired.specs[0].expiry.reset();
         return w;
       },
       {{Type::kReissue, "ci-push", "secret missing", Mine("ci-push"), Mine("ci-push", 1)}},
       {.pending = 1}},
      {"TheNextGenerationWrapsAfterTheLast",
       [] {
         World w;
         w.Declare(Spec("ci-push")).Exists(Token("ci-push", Mine("ci-push", 65535)));
         return std::move(w.Secret("ci-push", SecretState{}));
       },
       {{Type::kReissue, "ci-push", "secret missing", Mine("ci-push", 65535), Mine("ci-push", 0)}},
       {.pending = 1}},
      {"TheNextGenerationSkipsEveryGenerationSeenAfterTheWrap",
       [] {
         // Generation 0 is live (after the wrap), its secret still records 65535, and an old copy
         // records 1: neither 0 (highest + 1) nor 1 may be used again.
         World w;
         w.Declare(Spec("ci-push")).Exists(Token("ci-push", Mine("ci-push", 0)));
         w.Listed("ci-push", Mine("ci-push", 65535));
         w.Listed("ci-push", Mine("ci-push", 1), kProd, File("copy.json"));
         return std::move(
             w.Secret("ci-push", GoodSecret("ci-push", kProdHost, Mine("ci-push", 65535))));
       },
       {{Type::kReissue, "ci-push", "password never reached the sink", Mine("ci-push", 0),
         Mine("ci-push", 2), "", kProd, "file:copy.json"}},
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
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "", "status=disabled "}},
       {.pending = 1}},
      {"UpdateExpiryOnly",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].expiry = At("2028-01-01T00:00:00Z");
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "",
         "expiry=2028-01-01T00:00:00Z "}},
       {.pending = 1}},
      {"UpdateClearsAnExpiryNoLongerDeclared",
       [] {
         World w;
         w.Managed("ci-push").desired.specs[0].expiry.reset();
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "", "expiry=null "}},
       {.pending = 1}},
      {"UpdateSetsAnExpiryTheRegistryLacks",
       [] {
         World w;
         w.Managed("ci-push").observed.registries[kProd].tokens[0].expiry.reset();
         return w;
       },
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "",
         "expiry=2027-06-30T00:00:00Z "}},
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
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "",
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
       {{Type::kUpdate, "ci-push", "fields differ", Mine("ci-push"), "",
         "status=disabled expiry=null scopes={registry * pull} "}},
       {.pending = 1}},

      // --- Delete and prune ---------------------------------------------------------------------
      {"OwnedUndeclaredIsDeletedWithItsSecretUnderOwned",
       [] { return std::move(World().Undeclared("old")); },
       {{Type::kDelete, "old", "not declared", Mine("old"), "", "", kProd, "file:old.json"}},
       {.pending = 1}},
      {"OwnedUndeclaredIsDeletedUnderAll",
       [] { return std::move(World().Undeclared("old").Prune(PruneMode::kAll)); },
       {{Type::kDelete, "old", "not declared", Mine("old"), "", "", kProd, "file:old.json"}},
       {.pending = 1}},
      {"OwnedUndeclaredWithoutASecretIsDeletedToo",
       [] {
         // A create that crashed after its PUT, then the spec went: the id says whose it is.
         return std::move(World().Exists(Token("old")));
       },
       {{Type::kDelete, "old", "not declared", Mine("old")}},
       {.pending = 1}},
      {"OwnedUndeclaredIsLeftUnderNone",
       [] { return std::move(World().Undeclared("old").Prune(PruneMode::kNone)); },
       {},
       {.unmanaged = 1}},
      {"AFailingSpecFileHoldsTheDeleteOfATokenItMayDeclare",
       [] {
         World w;
         w.desired.failed_files.insert("specs/old.yaml");
         return std::move(w.Undeclared("old"));
       },
       {},
       {.in_sync = 1},
       {"registry acme-prod: nothing pruned, 1 delete held back while spec files fail to load "
        "(specs/old.yaml): any of them may declare any token"},
       1},
      {"AFailingSpecFileHoldsEveryDeleteUnderAll",
       [] {
         World w;
         w.desired.failed_files.insert("specs/broken.yaml");
         return std::move(w.Undeclared("old").Prune(PruneMode::kAll));
       },
       {},
       {.in_sync = 1},
       {kFailing},
       1},
      {"AFailingSpecFileHoldsTheDeleteOfATokenDeclaredNowhere",
       [] {
         // Which file declared it is not known: any failing file may have.
         World w;
         w.desired.failed_files.insert("specs/broken.yaml");
         return std::move(w.Undeclared("old"));
       },
       {},
       {.in_sync = 1},
       {kFailing},
       1},
      {"AFailedSecretListingHoldsEveryDelete",
       [] {
         World w;
         w.observed.secrets_listed = false;
         w.Exists(Token("old")).Exists(Token("theirs", kForeign));
         return std::move(w.Declare(Spec("new")).Prune(PruneMode::kAll));
       },
       {{Type::kCreate, "new", "not in the registry", "", Mine("new")}},
       {.in_sync = 1, .pending = 1, .unmanaged = 1},
       {"registry acme-prod: nothing pruned, 2 deletes held back while the secrets of owner "
        "\"crtoken\" cannot be listed"},
       2},
      {"UnownedUndeclaredIsLeftUnderOwned",
       [] { return std::move(World().Exists(Token("theirs", kForeign))); },
       {},
       {.unmanaged = 1}},
      {"UnownedUndeclaredIsLeftUnderNone",
       [] { return std::move(World().Exists(Token("theirs", kForeign)).Prune(PruneMode::kNone)); },
       {},
       {.unmanaged = 1}},
      {"UnownedUndeclaredIsDeletedUnderAll",
       [] {
         return std::move(World()
                              .Exists(Token("theirs", kForeign))
                              .Exists(Token("other", kForeign2), kDev)
                              .Prune(PruneMode::kAll));
       },
       {{Type::kDelete, "theirs", "not declared (prune=all)", kForeign},
        {Type::kDelete, "other", "not declared (prune=all)", kForeign2, "", "", kDev}},
       {.pending = 2}},
      {"PruneAllNeverDeletesATokenASecretOfThisOwnerRecords",
       [] {
         World w;
         w.Exists(Token("theirs", kForeign)).Prune(PruneMode::kAll);
         // Recorded for another key: not owned through it, but crtoken's once; left alone.
         w.observed.listed.push_back(ListedSecret{File("x.json"), RecordOf("other", kForeign)});
         return w;
       },
       {{Type::kDelete, "other", "already gone; removing its secret", "", "", "", kProd,
         "file:x.json"}},
       {.pending = 1, .unmanaged = 1}},
      {"AnotherOwnersAndCollidedTokensAreNeverPrunedEvenUnderAll",
       [] {
         return std::move(World()
                              .Exists(Token("theirs", OwnedTokenId("team-b", kProd, "theirs", 0)))
                              .Exists(Token("forged", Mine("someone-else")))
                              .Prune(PruneMode::kAll));
       },
       {},
       {.unmanaged = 2}},
      {"NothingUnownedIsPrunedWhileASpecFileFails",
       [] {
         World w;
         w.desired.failed_files = {"specs/broken.yaml", "specs/bad.yaml"};
         return std::move(w.Exists(Token("a", kForeign))
                              .Exists(Token("b", kForeign2))
                              .Exists(Token("c", kForeign), kDev)
                              .Managed("ci-push")
                              .Prune(PruneMode::kAll));
       },
       {},
       {.in_sync = 1, .unmanaged = 3},
       {"registry acme-prod: nothing pruned, 2 deletes held back while spec files fail to load "
        "(specs/bad.yaml, specs/broken.yaml): any of them may declare any token",
        "registry acme-dev: nothing pruned, 1 delete held back while spec files fail to load "
        "(specs/bad.yaml, specs/broken.yaml): any of them may declare any token"},
       3},
      {"SecretOfAGoneTokenIsDeleted",
       [] { return std::move(World().Listed("old")); },
       {{Type::kDelete, "old", "already gone; removing its secret", "", "", "", kProd,
         "file:old.json"}},
       {.pending = 1}},
      {"SecretOfAGoneTokenIsKeptUnderNone",
       [] { return std::move(World().Listed("old").Prune(PruneMode::kNone)); },
       {},
       {}},
      {"SecretOfAGoneTokenIsKeptWhileAFileFails",
       [] {
         World w;
         w.desired.failed_files.insert("specs/broken.yaml");
         return std::move(w.Listed("old"));
       },
       {},
       {},
       {kFailing},
       1},
      {"SecretsOfAGoneRegistryAreDeleted",
       [] {
         // A registry the caller confirmed gone: observed with no tokens.
         const std::string gone = "0b9d6a44-1f6e-4c5e-9a51-00000000000f";
         World w;
         w.observed.registries[gone] = ObservedRegistry{{gone, "", "", "gone"}, {}};
         return std::move(w.Listed("old", "", gone));
       },
       {{Type::kDelete, "old", "already gone; removing its secret", "", "", "",
         "0b9d6a44-1f6e-4c5e-9a51-00000000000f", "file:old.json"}},
       {.pending = 1}},
      {"SecretsWhoseTokenNameWasTakenAreDeletedUnderOwned",
       [] { return std::move(World().Exists(Token("old", kForeign)).Listed("old")); },
       {{Type::kDelete, "old", "already gone; removing its secret", "", "", "", kProd,
         "file:old.json"}},
       {.pending = 1, .unmanaged = 1}},
      {"SecretsOfAGoneTokenGoWithTheForeignTokenUnderAll",
       [] {
         return std::move(
             World().Exists(Token("old", kForeign)).Listed("old").Prune(PruneMode::kAll));
       },
       {{Type::kDelete, "old", "not declared (prune=all)", kForeign, "", "", kProd,
         "file:old.json"}},
       {.pending = 1}},
      {"DuplicateNamesInARegistryPreferTheOwnedId",
       [] {
         World w;
         w.Managed("dup").Exists(Token("dup", kForeign)).Exists(Token("dup", kForeign2));
         return w;
       },
       {},
       {.in_sync = 1, .unmanaged = 2}},
      {"EverySecretOfAKeyGoesWithItsToken",
       [] {
         World w;
         w.Undeclared("old").Listed("old", Mine("old", 4), kProd, File("old-copy.json"));
         w.Listed("gone").Listed("gone", Mine("gone", 1), kProd, File("gone-copy.json"));
         return w;
       },
       {{Type::kDelete, "gone", "already gone; removing its secret", "", "", "", kProd,
         "file:gone-copy.json,file:gone.json"},
        {Type::kDelete, "old", "not declared", Mine("old"), "", "", kProd,
         "file:old-copy.json,file:old.json"}},
       {.pending = 2}},

      // --- Protected and duplicate keys ---------------------------------------------------------
      {"ProtectedKeysAreNeverActedOn",
       [] {
         World w;
         TokenSpec spec = Spec("ci-push");
         spec.status = TokenStatus::kDisabled;
         w.Declare(spec).Exists(Token("ci-push")).Listed("ci-push");
         w.Undeclared("old").Listed("gone").Prune(PruneMode::kAll);
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
      {"RenameIsACreateThenADeleteThatKeepsTheSecret",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Undeclared("ci-push"));
       },
       {{Type::kCreate, "ci-push-v2", "renamed from ci-push", "", Mine("ci-push-v2")},
        {Type::kDelete, "ci-push", "renamed to ci-push-v2", Mine("ci-push"), "", "", kProd, "",
         "file:ci-push.json"}},
       {.pending = 2}},
      {"NotARenameWhenTheSecretDiffers",
       [] { return std::move(World().Declare(Spec("ci-push-v2")).Undeclared("ci-push")); },
       {{Type::kCreate, "ci-push-v2", "not in the registry", "", Mine("ci-push-v2")},
        {Type::kDelete, "ci-push", "not declared", Mine("ci-push"), "", "", kProd,
         "file:ci-push.json"}},
       {.pending = 2}},
      {"NotARenameAcrossRegistries",
       [] {
         TokenSpec spec = Spec("ci-push-v2", kDev);
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Undeclared("ci-push"));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry", "", Mine("ci-push-v2", 0, kDev), "",
         kDev},
        {Type::kDelete, "ci-push", "not declared", Mine("ci-push"), "", "", kProd, "",
         "file:ci-push.json"}},
       {.pending = 2}},
      {"NoRenameUnderNone",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Undeclared("ci-push").Prune(PruneMode::kNone));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry", "", Mine("ci-push-v2")}},
       {.pending = 1, .unmanaged = 1}},
      {"ASecretOfAGoneTokenThatADeclaredSpecNowWritesIsLeftToIt",
       [] {
         TokenSpec spec = Spec("ci-push-v2");
         spec.secret = File("ci-push.json");
         return std::move(World().Declare(spec).Listed("ci-push"));
       },
       {{Type::kCreate, "ci-push-v2", "not in the registry", "", Mine("ci-push-v2")}},
       {.pending = 1}},

      // --- Order and counts across everything ---------------------------------------------------
      {"OrderIsCreatesReissuesUpdatesDeletesByRegistryThenName",
       [] {
         World w;
         w.Declare(Spec("zeta")).Declare(Spec("alpha", kDev)).Declare(Spec("alpha"));
         w.Managed("lost").Secret("lost", SecretState{});
         w.Managed("changed").desired.specs.back().status = TokenStatus::kDisabled;
         w.Managed("fine").Managed("fine", kDev);
         w.Undeclared("b-old").Undeclared("a-old");
         w.Exists(Token("theirs", kForeign));
         w.Declare(Spec("taken")).Exists(Token("taken", kForeign2));
         return w;
       },
       {{Type::kCreate, "alpha", "not in the registry", "", Mine("alpha")},
        {Type::kCreate, "zeta", "not in the registry", "", Mine("zeta")},
        {Type::kCreate, "alpha", "not in the registry", "", Mine("alpha", 0, kDev), "", kDev},
        {Type::kReissue, "lost", "secret missing", Mine("lost"), Mine("lost", 1)},
        {Type::kUpdate, "changed", "fields differ", Mine("changed"), "", "status=disabled "},
        {Type::kDelete, "a-old", "not declared", Mine("a-old"), "", "", kProd, "file:a-old.json"},
        {Type::kDelete, "b-old", "not declared", Mine("b-old"), "", "", kProd, "file:b-old.json"}},
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
  EXPECT_EQ(plan.deletes_held, c.deletes_held);
  EXPECT_EQ(plan.empty(), c.want.empty());

  // What the reconciler relies on beyond the table: creates, reissues and updates carry the spec
  // and the registry's hostname; creates and re-issues an id of this owner for their key;
  // reissues, updates and deletes of a token name its id; a patch only on updates, never empty
  // there; a delete does something; no secret a spec writes is ever deleted.
  std::set<SecretRef> declared;
  for (const TokenSpec& spec : world.desired.specs) declared.insert(spec.secret);
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
    const bool issues = a.type == ActionType::kCreate || a.type == ActionType::kReissue;
    EXPECT_EQ(!a.new_token_id.empty(), issues);
    if (issues) {
      EXPECT_EQ(ClassifyTokenId(kOwner, a.key.registry_id, a.key.name, a.new_token_id).cls,
                TokenIdClass::kMine);
      EXPECT_NE(a.new_token_id, a.token_id);
    }
    EXPECT_EQ(a.type == ActionType::kUpdate, !a.patch.empty());
    EXPECT_EQ(a.observed.has_value(), !a.token_id.empty());
    if (a.observed) {
      EXPECT_EQ(a.observed->id, a.token_id);
    }
    if (a.type == ActionType::kDelete && a.token_id.empty()) {
      EXPECT_FALSE(a.delete_secrets.empty());
    }
    for (const SecretRef& ref : a.delete_secrets) EXPECT_EQ(declared.count(ref), 0u);
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
    std::shuffle(shuffled.observed.listed.begin(), shuffled.observed.listed.end(), rng);
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
  // Two specs renamed, each keeping its own secret: each pairs with its own old token.
  World w;
  for (const auto& [old_name, new_name] :
       {std::pair{"push-a", "push-a2"}, std::pair{"push-b", "push-b2"}}) {
    TokenSpec spec = Spec(new_name);
    spec.secret = File(std::string(old_name) + ".json");
    w.Declare(spec).Undeclared(old_name);
  }
  const Plan plan = PlanOf(w);
  ASSERT_EQ(plan.actions.size(), 4u);
  EXPECT_EQ(plan.actions[0].reason, "renamed from push-a");
  EXPECT_EQ(plan.actions[1].reason, "renamed from push-b");
  EXPECT_EQ(plan.actions[2].reason, "renamed to push-a2");
  EXPECT_EQ(plan.actions[3].reason, "renamed to push-b2");
}

TEST(ComputePlan, TwoOwnersOnOneRegistrySeeOnlyTheirOwnTokens) {
  // One registry, two installations: each owns its tokens, and neither prunes the other's.
  World w;
  w.Exists(Token("a-push", OwnedTokenId("team-a", kProd, "a-push", 0)));
  w.Exists(Token("b-push", OwnedTokenId("team-b", kProd, "b-push", 0)));
  for (const std::string owner : {"team-a", "team-b"}) {
    World mine = w;
    mine.policy.owner = owner;
    const Plan plan = PlanOf(mine);
    ASSERT_EQ(plan.actions.size(), 1u) << owner;
    EXPECT_EQ(plan.actions[0].type, ActionType::kDelete);
    EXPECT_EQ(plan.actions[0].key.name, owner == "team-a" ? "a-push" : "b-push");
    EXPECT_EQ(plan.counts.unmanaged, 1) << owner;
  }
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

TEST(ComputePlan, TheOwnerIsPartOfEveryIdItPlans) {
  World w;
  w.policy.owner = "team-b";
  w.Declare(Spec("ci-push"));
  const Plan plan = PlanOf(w);
  ASSERT_EQ(plan.actions.size(), 1u);
  EXPECT_EQ(plan.actions[0].new_token_id, OwnedTokenId("team-b", kProd, "ci-push", 0));
  // Its own id of generation 0, seen by the default owner: another owner's.
  World other;
  other.Declare(Spec("ci-push")).Exists(Token("ci-push", plan.actions[0].new_token_id));
  EXPECT_TRUE(PlanOf(other).actions.empty());
  EXPECT_EQ(PlanOf(other).counts.error, 1);
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
  w.Undeclared("old");  // delete
  w.Listed("gone");     // delete of a gone token's secret
  w.Managed("moved").Listed("moved", "", kProd, File("was/moved.json"));  // an old place
  w.Listed("gone-dev", "", kDev);                                         // its secret is reused
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
      "delete acme-prod/gone: already gone; removing its secret",
      "delete acme-prod/moved: secret moved to file:moved.json",
      "delete acme-prod/old: not declared",
  };
  EXPECT_EQ(got, want);
}

TEST(Describe, CreateNamesARenameOrADisappearance) {
  TokenSpec spec = Spec("ci-push-v2");
  spec.secret = File("ci-push.json");
  World renamed;
  renamed.Declare(spec).Undeclared("ci-push");
  const Plan plan = PlanOf(renamed);
  ASSERT_EQ(plan.actions.size(), 2u);
  EXPECT_EQ(plan.actions[0].Describe(),
            "create acme-prod/ci-push-v2 (enabled, expires 2027-06-30T00:00:00Z, 1 scope) -> "
            "file:ci-push.json: renamed from ci-push");
  EXPECT_EQ(plan.actions[1].Describe(),
            "delete acme-prod/ci-push: renamed to ci-push-v2 (keeping file:ci-push.json, now "
            "declared by a spec)");

  const Plan again = PlanOf(World().Declare(Spec("ci-push")).Listed("ci-push"));
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
