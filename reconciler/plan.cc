#include "reconciler/plan.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <tuple>
#include <utility>

#include "reconciler/time_util.h"
#include "reconciler/token_id.h"

namespace crtoken {

const char* PruneModeName(PruneMode mode) {
  switch (mode) {
    case PruneMode::kOwned:
      return "owned";
    case PruneMode::kNone:
      return "none";
    case PruneMode::kAll:
      return "all";
  }
  return "owned";
}

std::optional<PruneMode> ParsePruneMode(const std::string& text) {
  if (text == "owned") return PruneMode::kOwned;
  if (text == "none") return PruneMode::kNone;
  if (text == "all") return PruneMode::kAll;
  return std::nullopt;
}

const char* ActionTypeName(ActionType type) {
  switch (type) {
    case ActionType::kCreate:
      return "create";
    case ActionType::kReissue:
      return "reissue";
    case ActionType::kRotate:
      return "rotate";
    case ActionType::kUpdate:
      return "update";
    case ActionType::kDelete:
      return "delete";
  }
  return "unknown";
}

std::vector<Scope> NormalizeScopes(std::vector<Scope> scopes) {
  for (Scope& scope : scopes) {
    std::sort(scope.actions.begin(), scope.actions.end());
    scope.actions.erase(std::unique(scope.actions.begin(), scope.actions.end()),
                        scope.actions.end());
  }
  // A set: the same scope listed twice is one scope.
  std::sort(scopes.begin(), scopes.end());
  scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
  return scopes;
}

namespace {

const char kNotInRegistry[] = "not in the registry";
const char kNotDeclared[] = "not declared";

std::string ExpiryText(const std::optional<Instant>& expiry) {
  return expiry ? FormatRfc3339(*expiry) : "none";
}

// "[repository app/* pull,push | registry * pull]"
std::string ScopesText(const std::vector<Scope>& scopes) {
  std::string out = "[";
  for (size_t i = 0; i < scopes.size(); ++i) {
    if (i > 0) out += " | ";
    out += scopes[i].type + " " + scopes[i].name + " ";
    for (size_t j = 0; j < scopes[i].actions.size(); ++j) {
      if (j > 0) out += ",";
      out += scopes[i].actions[j];
    }
  }
  return out + "]";
}

// "90d", "36h", "1h30m", "45s": the largest units that divide it exactly.
std::string DurationText(std::chrono::seconds d) {
  const long long total = d.count();
  if (total > 0 && total % 86400 == 0) return std::to_string(total / 86400) + "d";
  std::string out;
  long long rest = total;
  for (const auto& [unit, size] : {std::pair<const char*, long long>{"h", 3600}, {"m", 60}}) {
    if (rest >= size) {
      out += std::to_string(rest / size) + unit;
      rest %= size;
    }
  }
  if (rest > 0 || out.empty()) out += std::to_string(rest) + "s";
  return out;
}

std::string PlacesText(const std::vector<SecretRef>& places) {
  std::string out;
  for (const SecretRef& place : places) out += (out.empty() ? "" : ", ") + place.ToString();
  return out;
}

std::string CountText(size_t n, const char* noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

}  // namespace

std::string Action::Describe() const {
  // Only names, states, dates, scopes and secret locations: the planner never sees a password.
  const std::string who =
      (registry_name.empty() ? key.registry_id : registry_name) + "/" + key.name;
  std::string out = std::string(ActionTypeName(type)) + " " + who;
  switch (type) {
    case ActionType::kRotate:
      out += " to slot " + slot;
      if (!reason.empty()) out += ": " + reason;
      return out;
    case ActionType::kCreate: {
      if (!slot.empty()) out += " slot " + slot;
      if (spec) {
        std::string expiry = "no expiry";
        if (spec->expiry) expiry = "expires " + FormatRfc3339(*spec->expiry);
        if (spec->lifetime) expiry = "lifetime " + DurationText(*spec->lifetime);
        out += std::string(" (") + TokenStatusName(spec->status) + ", " + expiry + ", " +
               CountText(NormalizeScopes(spec->scopes).size(), "scope") + ") -> " +
               spec->secret.ToString();
      }
      // The common case reads cleanly without its reason; renames and disappearances say so.
      if (!reason.empty() && reason != kNotInRegistry) out += ": " + reason;
      return out;
    }
    case ActionType::kUpdate: {
      std::vector<std::string> parts;
      if (patch.status) {
        parts.push_back(std::string("status ") +
                        (observed ? TokenStatusName(observed->status) : "?") + " -> " +
                        TokenStatusName(*patch.status));
      }
      if (patch.expiry) {
        parts.push_back("expiryDate " + (observed ? ExpiryText(observed->expiry) : "?") + " -> " +
                        ExpiryText(*patch.expiry));
      }
      if (patch.scopes) {
        parts.push_back("scopes " +
                        (observed ? ScopesText(NormalizeScopes(observed->scopes)) : "?") + " -> " +
                        ScopesText(*patch.scopes));
      }
      for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? ": " : "; ") + parts[i];
      if (parts.empty() && !reason.empty()) out += ": " + reason;
      return out;
    }
    case ActionType::kReissue:
    case ActionType::kDelete:
      if (!reason.empty()) out += ": " + reason;
      if (type == ActionType::kDelete && !kept_secrets.empty()) {
        out += " (keeping " + PlacesText(kept_secrets) + ", now declared by a spec)";
      }
      return out;
  }
  return out;
}

DesiredState DesiredState::WithoutSpecs() const {
  DesiredState out;
  out.failed_files = failed_files;
  out.protected_keys = protected_keys;
  out.prune = prune;
  return out;
}

std::string Problem::ToString() const {
  if (where.file.empty()) return message;
  return where.ToString() + ": " + message;
}

namespace {

// Token ids compare without regard to case; the API writes them lower-case.
bool SameId(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string LowerId(std::string id) {
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

// True when `record` is `owner`'s and names the token `id` of `key`.
bool Records(const SecretRecord& record, const std::string& owner, const TokenKey& key,
             const std::string& id) {
  return !record.empty() && record.owner == owner && record.registry_id == key.registry_id &&
         record.token_name == key.name && SameId(record.token_id, id);
}

// An observed token and what its id says to this owner.
struct SeenToken {
  const ObservedToken* token = nullptr;
  TokenIdInfo id;
  bool owned = false;  // kMine, or not crtoken's and recorded by one of this owner's secrets
};

// Everything the planner looks things up in, built once per ComputePlan. Pointers point into the
// caller's DesiredState and ObservedState, which outlive the call.
struct Index {
  // Resolved specs by key; more than one entry is a duplicate declaration.
  std::map<TokenKey, std::vector<const TokenSpec*>> specs;
  std::vector<const TokenSpec*> unresolved;
  // (registry name, token name) of unresolved specs: such a token is declared, just not reachable
  // through a resolved id, so it must never be pruned.
  std::set<std::pair<std::string, std::string>> unresolved_names;
  // Every place a spec (resolved or not) writes: a secret there is never deleted.
  std::set<SecretRef> declared_places;
  // This owner's listed secrets by the key they record, in ref order.
  std::map<TokenKey, std::vector<const ListedSecret*>> secrets;
  // (registry id, lower-case token id) of every token a listed secret records.
  std::set<std::pair<std::string, std::string>> recorded_ids;
  // One token per (registry, name); `extra_tokens` holds any further ones with the same name (the
  // API forbids that; if it ever happens they are left alone).
  std::map<TokenKey, SeenToken> tokens;
  std::vector<TokenKey> extra_tokens;
  // The slot token keys of resolved specs with overlap (registry id, "<name>-a" / "<name>-b"):
  // declared, as their spec's own key is.
  std::set<TokenKey> slots;
};

bool SpecLess(const TokenSpec* a, const TokenSpec* b) {
  return std::tie(a->registry_id, a->name, a->registry, a->source.file, a->source.line,
                  a->source.column) < std::tie(b->registry_id, b->name, b->registry, b->source.file,
                                               b->source.line, b->source.column);
}

Index BuildIndex(const DesiredState& desired, const ObservedState& observed,
                 const PlanPolicy& policy) {
  Index index;
  std::vector<const TokenSpec*> specs;
  for (const TokenSpec& spec : desired.specs) specs.push_back(&spec);
  std::sort(specs.begin(), specs.end(), SpecLess);
  for (const TokenSpec* spec : specs) {
    index.declared_places.insert(spec->secret);
    if (spec->registry_id.empty()) {
      index.unresolved.push_back(spec);
      index.unresolved_names.emplace(spec->registry, spec->name);
    } else {
      index.specs[TokenKey{spec->registry_id, spec->name}].push_back(spec);
      if (spec->overlap) {
        for (const std::string& slot : SlotNames(spec->name)) {
          index.slots.insert(TokenKey{spec->registry_id, slot});
        }
      }
    }
  }
  std::vector<const ListedSecret*> listed;
  for (const ListedSecret& secret : observed.listed) {
    if (secret.record.empty() || secret.record.owner != policy.owner) continue;  // not this owner's
    listed.push_back(&secret);
  }
  std::sort(listed.begin(), listed.end(),
            [](const ListedSecret* a, const ListedSecret* b) { return a->ref < b->ref; });
  for (const ListedSecret* secret : listed) {
    index.secrets[TokenKey{secret->record.registry_id, secret->record.token_name}].push_back(
        secret);
    index.recorded_ids.emplace(secret->record.registry_id, LowerId(secret->record.token_id));
  }
  for (const auto& [registry_id, registry] : observed.registries) {
    std::map<std::string, std::vector<SeenToken>> by_name;
    for (const ObservedToken& token : registry.tokens) {
      const TokenKey key{registry_id, token.name};
      SeenToken seen;
      seen.token = &token;
      seen.id = ClassifyTokenId(policy.owner, registry_id, token.name, token.id);
      seen.owned = seen.id.cls == TokenIdClass::kMine;
      if (seen.id.cls == TokenIdClass::kNotCrtoken) {
        // Tokens created before ids carried the owner: owned through a secret that records them.
        if (auto it = index.secrets.find(key); it != index.secrets.end()) {
          for (const ListedSecret* secret : it->second) {
            seen.owned = seen.owned || Records(secret->record, policy.owner, key, token.id);
          }
        }
        if (auto it = observed.secrets.find(key); it != observed.secrets.end()) {
          seen.owned = seen.owned || Records(it->second.record, policy.owner, key, token.id);
        }
      }
      by_name[token.name].push_back(seen);
    }
    for (auto& [name, tokens] : by_name) {
      // Prefer the owned one, then the smallest id: the choice must not depend on input order.
      std::sort(tokens.begin(), tokens.end(), [](const SeenToken& a, const SeenToken& b) {
        return std::make_tuple(!a.owned, a.token->id) < std::make_tuple(!b.owned, b.token->id);
      });
      const TokenKey key{registry_id, name};
      index.tokens[key] = tokens.front();
      for (size_t i = 1; i < tokens.size(); ++i) index.extra_tokens.push_back(key);
    }
  }
  return index;
}

std::string RegistryLabel(const TokenSpec& spec, const ObservedState& observed) {
  auto it = observed.registries.find(spec.registry_id);
  if (it != observed.registries.end() && !it->second.info.name.empty()) return it->second.info.name;
  if (!spec.registry.empty()) return spec.registry;
  return spec.registry_id;
}

std::string RegistryLabel(const RegistryInfo& info) {
  return info.name.empty() ? info.id : info.name;
}

TokenPatch Diff(const TokenSpec& spec, const ObservedToken& token, Instant now) {
  TokenPatch patch;
  if (spec.status != token.status) patch.status = spec.status;
  if (spec.lifetime) {
    // The expiry is set once per issue, and renewal replaces the token. Only a token with no
    // expiry, or one further off than the lifetime allows (the spec had an expiryDate before, or a
    // longer lifetime), is given now + lifetime; a minute of slack absorbs clock steps.
    const Instant latest = now + *spec.lifetime;
    if (!token.expiry || *token.expiry > latest + std::chrono::minutes(1)) {
      patch.expiry.emplace(latest);
    }
  } else if (spec.expiry != token.expiry) {
    patch.expiry.emplace(spec.expiry);  // nullopt inside: clear
  }
  std::vector<Scope> want = NormalizeScopes(spec.scopes);
  if (want != NormalizeScopes(token.scopes)) patch.scopes = std::move(want);
  return patch;
}

// What is known of one declared key's secrets: the spec's own place, as inspected, and the other
// places where this owner's secrets record the key.
struct KeySecrets {
  const SecretState* own = nullptr;            // nullptr: could not be inspected
  std::vector<const ListedSecret*> elsewhere;  // at places no spec writes
};

class Planner {
 public:
  Planner(const DesiredState& desired, const ObservedState& observed, const PlanPolicy& policy,
          Instant now)
      : desired_(desired),
        observed_(observed),
        policy_(policy),
        now_(now),
        index_(BuildIndex(desired, observed, policy)),
        prune_allowed_(desired.prune.allowed() && desired.failed_files.empty() &&
                       observed.secrets_listed) {}

  Plan Run() {
    for (const TokenSpec* spec : index_.unresolved) {
      AddProblem(*spec, "token " + spec->name + ": registry " + RegistryLabel(*spec, observed_) +
                            " could not be resolved; the token is not acted on");
      ++plan_.counts.error;
    }
    for (const auto& [key, specs] : index_.specs) PlanDeclared(key, specs);
    for (const auto& [registry_id, registry] : observed_.registries) PlanUndeclared(registry);
    PlanOrphanSecrets();
    ReportHeldDeletes();
    plan_.counts.error += static_cast<int>(protected_seen_.size());
    plan_.counts.unmanaged += static_cast<int>(index_.extra_tokens.size());
    NextExpiry();
    Order();
    PairRenames();
    return std::move(plan_);
  }

 private:
  void AddProblem(const TokenSpec& spec, std::string message) {
    plan_.problems.push_back(
        Problem{TokenKey{spec.registry_id, spec.name}, spec.source, std::move(message)});
  }

  bool Protected(const TokenKey& key) {
    if (desired_.protected_keys.count(key) == 0) return false;
    protected_seen_.insert(key);
    return true;
  }

  bool Declared(const TokenKey& key, const RegistryInfo& info) const {
    return index_.specs.count(key) > 0 || index_.slots.count(key) > 0 ||
           index_.unresolved_names.count({info.name, key.name}) > 0;
  }

  const SeenToken* TokenFor(const TokenKey& key) const {
    auto it = index_.tokens.find(key);
    return it == index_.tokens.end() ? nullptr : &it->second;
  }

  const std::vector<const ListedSecret*>& SecretsOf(const TokenKey& key) const {
    static const std::vector<const ListedSecret*> kNone;
    auto it = index_.secrets.find(key);
    return it == index_.secrets.end() ? kNone : it->second;
  }

  KeySecrets SecretsOfDeclared(const TokenKey& key, const TokenSpec& spec) const {
    KeySecrets out;
    if (auto it = observed_.secrets.find(key); it != observed_.secrets.end()) {
      out.own = &it->second;
    }
    for (const ListedSecret* secret : SecretsOf(key)) {
      if (secret->ref != spec.secret && index_.declared_places.count(secret->ref) == 0) {
        out.elsewhere.push_back(secret);
      }
    }
    return out;
  }

  // True when the spec's own secret is this owner's and records a token of the key.
  bool OwnRecordsKey(const TokenKey& key, const KeySecrets& secrets) const {
    return secrets.own != nullptr && !secrets.own->record.empty() &&
           secrets.own->record.owner == policy_.owner &&
           secrets.own->record.registry_id == key.registry_id &&
           secrets.own->record.token_name == key.name;
  }

  // True when some secret of this owner records the key (whatever the id).
  bool AnySecretRecords(const TokenKey& key, const KeySecrets& secrets) const {
    return !SecretsOf(key).empty() || OwnRecordsKey(key, secrets);
  }

  // One more than the highest generation seen for the key (the live token's, and those of this
  // owner's ids its secrets record), skipping every generation seen: after the counter wraps, the
  // highest is not the newest. 0 when none is seen.
  uint16_t NextGeneration(const TokenKey& key, const SeenToken* token,
                          const KeySecrets& secrets) const {
    std::set<uint16_t> seen;
    auto consider = [&](const std::string& id) {
      const TokenIdInfo info = ClassifyTokenId(policy_.owner, key.registry_id, key.name, id);
      if (info.cls == TokenIdClass::kMine) seen.insert(info.generation);
    };
    if (token != nullptr) consider(token->token->id);
    for (const ListedSecret* secret : SecretsOf(key)) consider(secret->record.token_id);
    if (OwnRecordsKey(key, secrets)) consider(secrets.own->record.token_id);
    if (seen.empty()) return 0;
    uint16_t next = static_cast<uint16_t>(*seen.rbegin() + 1);
    while (seen.count(next) > 0) next = static_cast<uint16_t>(next + 1);
    return next;
  }

  // Why an owned token's password must be replaced, or "" when it is delivered (or its secret
  // could not be inspected: nothing is decided on that).
  std::string ReissueReason(const TokenSpec& spec, const TokenKey& key, const ObservedToken& token,
                            const KeySecrets& secrets, const std::string& hostname) const {
    if (secrets.own == nullptr) return "";
    const SecretState& secret = *secrets.own;
    if (!Records(secret.record, policy_.owner, key, token.id)) {
      for (const ListedSecret* other : secrets.elsewhere) {
        if (SameId(other->record.token_id, token.id)) {
          return "secret moved from " + other->ref.ToString() + " to " + spec.secret.ToString();
        }
      }
      if (!secret.exists) return "secret missing";
      return "password never reached the sink";
    }
    if (!secret.has_password) return "secret has no password";
    if (secret.username != spec.name) {
      return "secret has username \"" + secret.username + "\" instead of \"" + spec.name + "\"";
    }
    if (!hostname.empty() && secret.hostname != hostname) {
      return "secret is for host \"" + secret.hostname + "\" instead of \"" + hostname + "\"";
    }
    return "";
  }

  // The places of `secrets` that may be deleted in this pass; held back ones are counted.
  std::vector<SecretRef> Deletable(const std::vector<const ListedSecret*>& secrets,
                                   const RegistryInfo& info) {
    std::vector<SecretRef> out;
    if (secrets.empty() || policy_.prune == PruneMode::kNone) return out;
    if (!prune_allowed_) {
      for (size_t i = 0; i < secrets.size(); ++i) Hold(info);
      return out;
    }
    for (const ListedSecret* secret : secrets) out.push_back(secret->ref);
    return out;
  }

  void PlanDeclared(const TokenKey& key, const std::vector<const TokenSpec*>& specs) {
    if (Protected(key)) return;
    if (specs.size() > 1) {
      for (const TokenSpec* spec : specs) {
        AddProblem(*spec, "token " + key.name + " is declared " + std::to_string(specs.size()) +
                              " times in registry " + RegistryLabel(*spec, observed_) +
                              "; it is not acted on");
      }
      ++plan_.counts.error;
      return;
    }
    const TokenSpec& spec = *specs.front();
    auto registry_it = observed_.registries.find(key.registry_id);
    if (registry_it == observed_.registries.end()) {
      AddProblem(spec, "token " + spec.name + ": the tokens of registry " +
                           RegistryLabel(spec, observed_) +
                           " could not be read; the token is not acted on");
      ++plan_.counts.error;
      return;
    }
    const RegistryInfo& info = registry_it->second.info;
    if (spec.expiry && *spec.expiry <= now_) {
      AddProblem(spec, "token " + spec.name + ": expiryDate " + FormatRfc3339(*spec.expiry) +
                           " is in the past; the token is not created or updated");
      ++plan_.counts.error;
      return;
    }
    if (auto secret = observed_.secrets.find(key);
        secret != observed_.secrets.end() && !secret->second.conflict.empty()) {
      // Whatever is planned here would end in a password the sink refuses to take.
      AddProblem(spec, "token " + spec.name + ": secret " + spec.secret.ToString() +
                           " cannot be written: " + secret->second.conflict +
                           "; the token is not created or re-issued until then");
      ++plan_.counts.error;
      return;
    }
    if (spec.overlap) {
      PlanSlots(key, spec, info);
      return;
    }
    const SeenToken* seen = TokenFor(key);
    const KeySecrets secrets = SecretsOfDeclared(key, spec);
    const bool held = observed_.held_passwords.count(key) > 0;

    // Built only when there is something to do: most tokens in a steady state are in sync.
    auto make = [&](ActionType type, std::string reason) {
      Action action;
      action.type = type;
      action.key = key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      if (seen != nullptr) {
        action.token_id = seen->token->id;
        action.observed = *seen->token;
      }
      action.reason = std::move(reason);
      return action;
    };
    // A create or re-issue: the id of the next generation, and the secrets the key left at places
    // its spec no longer writes, deleted once the new secret is in place.
    auto issue = [&](ActionType type, std::string reason) {
      Action action = make(type, std::move(reason));
      action.spec = spec;
      action.new_token_id = OwnedTokenId(policy_.owner, key.registry_id, key.name,
                                         NextGeneration(key, seen, secrets));
      action.delete_secrets = Deletable(secrets.elsewhere, info);
      Add(std::move(action));
    };

    if (seen == nullptr) {
      // The caller did not look the token up by id: a create is safe even when the list missed a
      // live token. Its PUT goes to a new id (a generation no secret records) and the API refuses
      // a second token with the name (409); the secret is written only after a PUT that succeeded.
      issue(ActionType::kCreate, AnySecretRecords(key, secrets)
                                     ? "disappeared from the registry (deleted by hand or expired)"
                                     : kNotInRegistry);
      return;
    }
    const ObservedToken& token = *seen->token;
    if (!seen->owned) {
      const bool adopt = spec.adopt || policy_.adopt_all;
      switch (seen->id.cls) {
        case TokenIdClass::kCollided:
          // Never acted on, not even to adopt it: whoever made it can delete it.
          AddProblem(spec, "a token named " + spec.name + " exists in registry " + info.name +
                               " with id " + token.id +
                               ", which carries this owner's mark but was not made for this "
                               "name (forged, or a collision); crtoken leaves it alone: delete it "
                               "by hand");
          ++plan_.counts.error;
          return;
        case TokenIdClass::kOtherOwner:
          if (adopt) {
            issue(ActionType::kReissue, "adopt");
            return;
          }
          AddProblem(spec, "a token named " + spec.name + " exists in registry " + info.name +
                               " and belongs to another crtoken installation (owner fingerprint " +
                               FingerprintText(seen->id.fingerprint) + "; this one is owner \"" +
                               policy_.owner + "\", fingerprint " +
                               FingerprintText(OwnerFingerprint(policy_.owner)) +
                               "); declare it in one installation only, or set spec.adopt: true "
                               "or --adopt to take it over");
          ++plan_.counts.error;
          return;
        case TokenIdClass::kMine:
        case TokenIdClass::kNotCrtoken:
          break;
      }
      if (adopt) {
        // Its password is unknown, so taking it over means replacing it.
        issue(ActionType::kReissue, "adopt");
        return;
      }
      AddProblem(spec, "a token named " + spec.name + " exists in registry " + info.name +
                           " but crtoken does not own it" +
                           (AnySecretRecords(key, secrets)
                                ? " (its id differs from the one crtoken created)"
                                : "") +
                           "; set spec.adopt: true or --adopt");
      ++plan_.counts.error;
      return;
    }
    // A held password is on its way to the sink: the reconciler retries the write.
    if (!held) {
      std::string reason = ReissueReason(spec, key, token, secrets, info.hostname);
      if (!reason.empty()) {
        issue(ActionType::kReissue, std::move(reason));  // carries the full spec: no update
        return;
      }
    }
    // Renewal: a token with a lifetime is replaced (new password, secret rewritten) once less
    // than renewBefore is left, so that it never expires in use. Not while a password is held:
    // the token that password belongs to is still the one consumers are waiting for.
    if (spec.lifetime && token.expiry && now_ >= *token.expiry - spec.renew_before && !held) {
      issue(ActionType::kReissue, "renewal: expires " + FormatRfc3339(*token.expiry));
      return;
    }
    TokenPatch patch = Diff(spec, token, now_);
    bool counted = false;
    if (!patch.empty()) {
      Action action = make(ActionType::kUpdate, "fields differ");
      action.spec = spec;
      action.patch = std::move(patch);
      Add(std::move(action));
      counted = true;
    }
    // Delivered at the spec's place: secrets the key left elsewhere go.
    const bool delivered = !held && secrets.own != nullptr;
    if (delivered && !secrets.elsewhere.empty()) {
      std::vector<SecretRef> places = Deletable(secrets.elsewhere, info);
      if (!places.empty()) {
        Action action = make(ActionType::kDelete, "secret moved to " + spec.secret.ToString());
        action.token_id.clear();  // the token stays: only its old secrets go
        action.observed.reset();
        action.delete_secrets = std::move(places);
        if (counted) {
          plan_.actions.push_back(std::move(action));  // the key is counted once, as pending
        } else {
          Add(std::move(action));
          counted = true;
        }
      }
    }
    if (counted) return;
    if (held) {
      ++plan_.counts.pending;
    } else {
      ++plan_.counts.in_sync;
    }
  }

  // A spec with overlap. Its tokens are the slots "<name>-a" and "<name>-b" and, from before
  // overlap was set, the bare "<name>"; each is recognised by its id (OwnedTokenId of its own
  // name). The current one is the token the spec's secret records (with a password for its user
  // and host). Every other one was issued before it (its previous slot, kept for `overlap` after
  // the current one was issued: the current one's expiry minus lifetime) or after it (a crash
  // between its PUT and the secret write: its password is lost). Nothing is remembered: every
  // instant is derived from the tokens' expiries.
  void PlanSlots(const TokenKey& key, const TokenSpec& spec, const RegistryInfo& info) {
    struct Live {
      std::string name;
      const ObservedToken* token = nullptr;
    };
    const std::vector<std::string> slots = SlotNames(spec.name);
    std::vector<std::string> names = {spec.name};
    names.insert(names.end(), slots.begin(), slots.end());
    for (const std::string& slot : slots) {
      if (index_.specs.count(TokenKey{key.registry_id, slot}) > 0) {
        // Declared by another spec too (by registry name in one, by id in the other: the
        // validator could not see it). That spec is planned as usual; this one waits.
        AddProblem(spec, "token " + spec.name + ": its slot name " + slot +
                             " (spec.overlap) is declared as a token of registry " + info.name +
                             " too; rename one of them");
        ++plan_.counts.error;
        return;
      }
    }
    std::vector<Live> live;
    for (const std::string& name : names) {
      const SeenToken* seen = TokenFor(TokenKey{key.registry_id, name});
      if (seen == nullptr) continue;
      if (seen->owned) {
        live.push_back(Live{name, seen->token});
        continue;
      }
      if (name == spec.name) {
        ++plan_.counts.unmanaged;  // not a slot: left alone
        continue;
      }
      AddProblem(spec, "token " + spec.name + ": its slot name " + name +
                           " (spec.overlap) is held in registry " + info.name + " by token " +
                           seen->token->id +
                           ", which crtoken does not own; delete or rename that token, or rename "
                           "the spec");
      ++plan_.counts.error;
      return;
    }
    auto find = [&](const std::string& name) -> const Live* {
      for (const Live& l : live) {
        if (l.name == name) return &l;
      }
      return nullptr;
    };
    const bool held = observed_.held_passwords.count(key) > 0;
    const SecretState* own = nullptr;
    if (auto it = observed_.secrets.find(key); it != observed_.secrets.end()) own = &it->second;
    std::vector<const ListedSecret*> elsewhere;  // this owner's secrets of the spec, moved away
    bool any_recorded = false;
    for (const std::string& name : names) {
      for (const ListedSecret* secret : SecretsOf(TokenKey{key.registry_id, name})) {
        any_recorded = true;
        if (secret->ref != spec.secret && index_.declared_places.count(secret->ref) == 0) {
          elsewhere.push_back(secret);
        }
      }
    }
    // The current slot, or why the secret holds no working credential.
    const Live* current = nullptr;
    std::string why_not;
    if (own != nullptr) {
      for (const Live& l : live) {
        if (Records(own->record, policy_.owner, TokenKey{key.registry_id, l.name}, l.token->id)) {
          current = &l;
        }
      }
      if (current == nullptr) {
        why_not = own->exists ? "password never reached the sink" : "secret missing";
        for (const ListedSecret* other : elsewhere) {
          for (const Live& l : live) {
            if (SameId(other->record.token_id, l.token->id)) {
              why_not =
                  "secret moved from " + other->ref.ToString() + " to " + spec.secret.ToString();
            }
          }
        }
      } else if (!own->has_password) {
        why_not = "secret has no password";
      } else if (own->username != current->name) {
        why_not =
            "secret has username \"" + own->username + "\" instead of \"" + current->name + "\"";
      } else if (!info.hostname.empty() && own->hostname != info.hostname) {
        why_not =
            "secret is for host \"" + own->hostname + "\" instead of \"" + info.hostname + "\"";
      }
      if (!why_not.empty()) current = nullptr;
      any_recorded = any_recorded || OwnRecordsAny(key, names, own);
    }

    std::vector<Action> actions;
    auto make = [&](ActionType type, const TokenKey& action_key, std::string reason) {
      Action action;
      action.type = type;
      action.key = action_key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      action.reason = std::move(reason);
      return action;
    };
    // Issue `slot` (after deleting `occupant`, a token in it): the secret is written with it.
    auto issue = [&](ActionType type, const std::string& slot, const Live* occupant,
                     std::string reason) {
      Action action = make(type, key, std::move(reason));
      action.spec = spec;
      action.slot = slot;
      if (occupant != nullptr) {
        action.token_id = occupant->token->id;
        action.observed = *occupant->token;
      }
      if (current != nullptr) action.from_slot = current->name;
      action.new_token_id =
          OwnedTokenId(policy_.owner, key.registry_id, slot, NextSlotGeneration(key, names, own));
      action.delete_secrets = Deletable(elsewhere, info);
      actions.push_back(std::move(action));
    };
    // Retirement is no prune: the token belongs to a declared spec, so it is never held back.
    auto retire = [&](const Live& l, std::string reason) {
      Action action =
          make(ActionType::kDelete, TokenKey{key.registry_id, l.name}, std::move(reason));
      action.token_id = l.token->id;
      action.observed = *l.token;
      actions.push_back(std::move(action));
    };

    if (held) {
      // A slot was issued and its password waits in memory for the sink: nothing else until then.
      ++plan_.counts.pending;
      return;
    }
    if (own == nullptr) {
      ++plan_.counts.in_sync;  // the secret could not be inspected: nothing is decided on it
      return;
    }
    if (current == nullptr) {
      // No working credential in the secret: issue a slot that holds no token, else replace the
      // one that expires first. The others are older than the new one: retired after the overlap.
      std::string target;
      const Live* occupant = nullptr;
      for (const std::string& slot : slots) {
        if (find(slot) == nullptr) {
          target = slot;
          break;
        }
      }
      if (target.empty()) {
        for (const std::string& slot : slots) {
          const Live* l = find(slot);
          if (occupant == nullptr || (l->token->expiry < occupant->token->expiry)) occupant = l;
        }
        target = occupant->name;
      }
      if (live.empty()) {
        issue(ActionType::kCreate, target, nullptr,
              any_recorded ? "disappeared from the registry (deleted by hand or expired)"
                           : kNotInRegistry);
      } else {
        issue(ActionType::kRotate, target, occupant, why_not);
      }
    } else {
      const ObservedToken& token = *current->token;
      const std::string idle = current->name == slots[0] ? slots[1] : slots[0];
      const Live* occupant = find(idle);
      // When the current slot was issued: its expiry minus lifetime (a token without an expiry is
      // given one by an update; its previous slots are retired at once).
      const std::optional<Instant> issued =
          token.expiry ? std::optional<Instant>(*token.expiry - *spec.lifetime) : std::nullopt;
      const bool due = token.expiry && now_ >= *token.expiry - spec.renew_before;
      for (const Live& l : live) {
        if (&l == current || (due && &l == occupant)) continue;
        if (l.token->expiry && token.expiry && *l.token->expiry > *token.expiry) {
          retire(l, "password never delivered (issued after " + current->name + ", the slot " +
                        spec.secret.ToString() + " holds)");
          continue;
        }
        const Instant retire_at = issued ? *issued + *spec.overlap : now_;
        if (now_ >= retire_at) {
          retire(l, "retire: overlap ended " + FormatRfc3339(retire_at));
        } else {
          wake_.push_back(retire_at);
        }
      }
      if (due) {
        issue(ActionType::kRotate, idle, occupant,
              "renewal: " + current->name + " expires " + FormatRfc3339(*token.expiry) +
                  "; new slot expires " + FormatRfc3339(now_ + *spec.lifetime) + ", " +
                  current->name + " retires at " + FormatRfc3339(now_ + *spec.overlap));
      } else {
        if (token.expiry) wake_.push_back(*token.expiry - spec.renew_before);
        TokenPatch patch = Diff(spec, token, now_);
        if (!patch.empty()) {
          Action action = make(ActionType::kUpdate, key, "fields differ");
          action.token_id = token.id;
          action.observed = token;
          action.spec = spec;
          action.patch = std::move(patch);
          actions.push_back(std::move(action));
        }
        std::vector<SecretRef> places = Deletable(elsewhere, info);
        if (!places.empty()) {
          Action action =
              make(ActionType::kDelete, key, "secret moved to " + spec.secret.ToString());
          action.delete_secrets = std::move(places);
          actions.push_back(std::move(action));
        }
      }
    }
    if (actions.empty()) {
      ++plan_.counts.in_sync;
      return;
    }
    ++plan_.counts.pending;  // the spec counts once, however many actions it has
    for (Action& action : actions) plan_.actions.push_back(std::move(action));
  }

  // True when the spec's own secret is this owner's and records a token of one of `names`.
  bool OwnRecordsAny(const TokenKey& key, const std::vector<std::string>& names,
                     const SecretState* own) const {
    if (own == nullptr || own->record.empty() || own->record.owner != policy_.owner ||
        own->record.registry_id != key.registry_id) {
      return false;
    }
    return std::find(names.begin(), names.end(), own->record.token_name) != names.end();
  }

  // The generation of a new slot token: one more than the highest seen among the spec's tokens
  // (each id read with its own name) and the ids its secrets record, skipping every one seen; so
  // generations grow across the slots, and a slot never reuses an id a secret records.
  uint16_t NextSlotGeneration(const TokenKey& key, const std::vector<std::string>& names,
                              const SecretState* own) const {
    std::set<uint16_t> seen;
    auto consider = [&](const std::string& name, const std::string& id) {
      const TokenIdInfo info = ClassifyTokenId(policy_.owner, key.registry_id, name, id);
      if (info.cls == TokenIdClass::kMine) seen.insert(info.generation);
    };
    for (const std::string& name : names) {
      const TokenKey k{key.registry_id, name};
      if (const SeenToken* token = TokenFor(k)) consider(name, token->token->id);
      for (const ListedSecret* secret : SecretsOf(k)) consider(name, secret->record.token_id);
    }
    if (OwnRecordsAny(key, names, own)) consider(own->record.token_name, own->record.token_id);
    if (seen.empty()) return 0;
    uint16_t next = static_cast<uint16_t>(*seen.rbegin() + 1);
    while (seen.count(next) > 0) next = static_cast<uint16_t>(next + 1);
    return next;
  }

  void PlanUndeclared(const ObservedRegistry& registry) {
    const RegistryInfo& info = registry.info;
    for (auto it = index_.tokens.lower_bound(TokenKey{info.id, ""});
         it != index_.tokens.end() && it->first.registry_id == info.id; ++it) {
      const TokenKey& key = it->first;
      const SeenToken& seen = it->second;
      if (Declared(key, info) || Protected(key)) continue;
      Action action;
      action.type = ActionType::kDelete;
      action.key = key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      action.token_id = seen.token->id;
      action.observed = *seen.token;
      for (const ListedSecret* secret : SecretsOf(key)) {
        if (index_.declared_places.count(secret->ref) > 0) {
          action.kept_secrets.push_back(secret->ref);
        } else {
          action.delete_secrets.push_back(secret->ref);
        }
      }
      if (seen.owned) {
        if (policy_.prune == PruneMode::kNone) {
          ++plan_.counts.unmanaged;
        } else if (!prune_allowed_) {
          ++plan_.counts.in_sync;  // pruning is held back: left as it was
          Hold(info);
        } else {
          action.reason = kNotDeclared;
          consumed_.insert(key);
          Add(std::move(action));
        }
        continue;
      }
      // Another owner's, forged or collided: never touched. Not crtoken's: only under kAll, and
      // only when no secret of this owner records it (such a secret says it was crtoken's).
      if (policy_.prune != PruneMode::kAll || seen.id.cls != TokenIdClass::kNotCrtoken ||
          index_.recorded_ids.count({info.id, LowerId(seen.token->id)}) > 0) {
        ++plan_.counts.unmanaged;
        continue;
      }
      if (!prune_allowed_) {
        ++plan_.counts.unmanaged;
        Hold(info);
        continue;
      }
      action.reason = "not declared (prune=all)";
      consumed_.insert(key);  // this owner's secrets of the key (of gone tokens) go with it
      Add(std::move(action));
    }
  }

  // This owner's secrets that record a token of an undeclared key that no longer exists (or whose
  // name another id now holds): they are deleted. The caller has confirmed the absence by a lookup
  // by id (a paged list can miss a live token; such a token is in the observed list).
  void PlanOrphanSecrets() {
    if (policy_.prune == PruneMode::kNone) return;
    for (const auto& [key, secrets] : index_.secrets) {
      auto registry_it = observed_.registries.find(key.registry_id);
      if (registry_it == observed_.registries.end()) continue;
      const RegistryInfo& info = registry_it->second.info;
      if (Declared(key, info) || consumed_.count(key) > 0) continue;
      if (desired_.protected_keys.count(key) > 0) continue;  // secrets alone are not counted
      const SeenToken* seen = TokenFor(key);
      if (seen != nullptr && seen->owned) continue;  // handled as a token (kept under kNone)
      std::vector<const ListedSecret*> places;
      for (const ListedSecret* secret : secrets) {
        if (index_.declared_places.count(secret->ref) == 0) places.push_back(secret);
      }
      if (places.empty()) continue;  // a declared spec writes there now: its secret
      std::vector<SecretRef> refs = Deletable(places, info);
      if (refs.empty()) continue;
      Action action;
      action.type = ActionType::kDelete;
      action.key = key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      action.delete_secrets = std::move(refs);
      action.reason = "already gone; removing its secret";
      Add(std::move(action));
    }
  }

  // A delete in `info`'s registry that is held back.
  void Hold(const RegistryInfo& info) {
    ++plan_.deletes_held;
    ++held_by_registry_[info.id];
  }

  // For each registry whose deletes were held back, one Problem per failure that holds them:
  // unread spec paths, spec files that fail to load, secrets that could not be listed. (A settling
  // tree is no failure: the held deletes are only counted.)
  void ReportHeldDeletes() {
    std::vector<std::string> whys;
    const std::vector<std::string>& unread = desired_.prune.unread;
    if (!unread.empty()) {
      std::string paths;
      for (size_t i = 0; i < unread.size() && i < 3; ++i) {
        paths += (i == 0 ? "" : "; ") + unread[i];
      }
      if (unread.size() > 3) paths += "; and " + std::to_string(unread.size() - 3) + " more";
      whys.push_back(" held back while spec paths cannot be read (" + paths +
                     "); restore them or correct --specs");
    }
    if (!desired_.failed_files.empty()) {
      std::string files;
      for (const std::string& file : desired_.failed_files) {
        files += (files.empty() ? "" : ", ") + file;
      }
      whys.push_back(" held back while spec files fail to load (" + files +
                     "): any of them may declare any token");
    }
    if (!observed_.secrets_listed) {
      whys.push_back(" held back while the secrets of owner \"" + policy_.owner +
                     "\" cannot be listed");
    }
    for (const auto& [registry_id, held] : held_by_registry_) {
      auto it = observed_.registries.find(registry_id);  // always there: Hold() saw it
      const std::string name =
          it != observed_.registries.end() ? RegistryLabel(it->second.info) : registry_id;
      for (const std::string& why : whys) {
        plan_.problems.push_back(
            Problem{TokenKey{registry_id, ""}, SourceLocation{},
                    "registry " + name + ": nothing pruned, " + CountText(held, "delete") + why});
      }
    }
  }

  void Add(Action action) {
    ++plan_.counts.pending;
    plan_.actions.push_back(std::move(action));
  }

  // The next instant a pass has something to do without any change: an expiry, or a renewal.
  void NextExpiry() {
    auto consider = [&](Instant at) {
      if (at > now_ && (!plan_.next_expiry || at < *plan_.next_expiry)) plan_.next_expiry = at;
    };
    for (Instant at : wake_) consider(at);
    for (const TokenSpec& spec : desired_.specs) {
      if (spec.expiry) consider(*spec.expiry);
      if (!spec.lifetime || spec.overlap) continue;  // a spec with overlap: wake_
      const SeenToken* seen = TokenFor(TokenKey{spec.registry_id, spec.name});
      if (seen != nullptr && seen->token->expiry) {
        consider(*seen->token->expiry - spec.renew_before);
      }
    }
  }

  void Order() {
    // Sort positions, then move each action once: an Action is large.
    std::vector<size_t> order(plan_.actions.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    const std::vector<Action>& actions = plan_.actions;
    std::sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      const Action& a = actions[x];
      const Action& b = actions[y];
      return std::tie(a.type, a.key, a.token_id) < std::tie(b.type, b.key, b.token_id);
    });
    std::vector<Action> sorted;
    sorted.reserve(order.size());
    for (size_t i : order) sorted.push_back(std::move(plan_.actions[i]));
    plan_.actions = std::move(sorted);
    std::sort(plan_.problems.begin(), plan_.problems.end(), [](const Problem& a, const Problem& b) {
      return std::tie(a.where.file, a.where.line, a.where.column, a.key, a.message) <
             std::tie(b.where.file, b.where.line, b.where.column, b.key, b.message);
    });
  }

  // A create of a new name and a delete of an owned token in the same registry, where the delete
  // keeps a secret because the create's spec writes it now: the spec's name was changed. Only the
  // reasons change; the actions stay (the API cannot rename). Runs on ordered actions, so the
  // pairing is deterministic.
  void PairRenames() {
    // Unpaired creates by (registry, secret), in action order.
    std::map<std::pair<std::string, SecretRef>, Action*> creates;
    for (Action& action : plan_.actions) {
      if (action.type == ActionType::kCreate && action.reason == kNotInRegistry && action.spec) {
        creates.emplace(std::make_pair(action.key.registry_id, action.spec->secret), &action);
      }
    }
    if (creates.empty()) return;
    for (Action& old_one : plan_.actions) {
      if (old_one.type != ActionType::kDelete || old_one.reason != kNotDeclared) continue;
      for (const SecretRef& place : old_one.kept_secrets) {
        auto it = creates.find({old_one.key.registry_id, place});
        if (it == creates.end()) continue;
        Action& new_one = *it->second;
        creates.erase(it);
        new_one.reason = "renamed from " + old_one.key.name;
        old_one.reason = "renamed to " + new_one.key.name;
        break;
      }
    }
  }

  const DesiredState& desired_;
  const ObservedState& observed_;
  const PlanPolicy& policy_;
  const Instant now_;
  const Index index_;
  const bool prune_allowed_;
  std::set<TokenKey> protected_seen_;
  std::set<TokenKey> consumed_;  // undeclared keys whose secrets go with their token's delete
  std::map<std::string, int> held_by_registry_;  // registry id -> deletes held back
  std::vector<Instant> wake_;                    // renewals and retirements of specs with overlap
  Plan plan_;
};

}  // namespace

Plan ComputePlan(const DesiredState& desired, const ObservedState& observed,
                 const PlanPolicy& policy, Instant now) {
  return Planner(desired, observed, policy, now).Run();
}

}  // namespace crtoken
