#include "reconciler/plan.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "reconciler/time_util.h"

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
    case ActionType::kCreate: {
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
      if (type == ActionType::kDelete && keep_secret && record) {
        out += " (keeping " + record->secret.ToString() + ", now declared by a spec)";
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

// Everything the planner looks things up in, built once per ComputePlan. Pointers point into the
// caller's DesiredState and ObservedState, which outlive the call.
struct Index {
  // Resolved specs by key; more than one entry is a duplicate declaration.
  std::map<TokenKey, std::vector<const TokenSpec*>> specs;
  std::vector<const TokenSpec*> unresolved;
  // (registry name, token name) of unresolved specs: such a token is declared, just not reachable
  // through a resolved id, so it must never be pruned.
  std::set<std::pair<std::string, std::string>> unresolved_names;
  std::map<TokenKey, const OwnershipRecord*> records;
  // One token per (registry, name); `extra_tokens` holds any further ones with the same name (the
  // API forbids that; if it ever happens they are left alone).
  std::map<TokenKey, const ObservedToken*> tokens;
  std::vector<TokenKey> extra_tokens;
};

bool SpecLess(const TokenSpec* a, const TokenSpec* b) {
  return std::tie(a->registry_id, a->name, a->registry, a->source.file, a->source.line,
                  a->source.column) < std::tie(b->registry_id, b->name, b->registry, b->source.file,
                                               b->source.line, b->source.column);
}

Index BuildIndex(const DesiredState& desired, const ObservedState& observed) {
  Index index;
  std::vector<const TokenSpec*> specs;
  for (const TokenSpec& spec : desired.specs) specs.push_back(&spec);
  std::sort(specs.begin(), specs.end(), SpecLess);
  for (const TokenSpec* spec : specs) {
    if (spec->registry_id.empty()) {
      index.unresolved.push_back(spec);
      index.unresolved_names.emplace(spec->registry, spec->name);
    } else {
      index.specs[TokenKey{spec->registry_id, spec->name}].push_back(spec);
    }
  }
  // Token ids present per key, to tell a live record from a stale one.
  std::set<std::pair<TokenKey, std::string>> present;
  for (const auto& [registry_id, registry] : observed.registries) {
    for (const ObservedToken& token : registry.tokens) {
      present.emplace(TokenKey{registry_id, token.name}, token.id);
    }
  }
  for (const OwnershipRecord& record : observed.owned) {
    // The store keeps one record per key. Should two arrive, prefer the one whose token exists,
    // then the smallest id: the choice must not depend on input order.
    const OwnershipRecord*& slot = index.records[record.key()];
    auto rank = [&](const OwnershipRecord* r) {
      return std::make_tuple(present.count({r->key(), r->token_id}) == 0, r->token_id,
                             r->generation);
    };
    if (slot == nullptr || rank(&record) < rank(slot)) slot = &record;
  }
  for (const auto& [registry_id, registry] : observed.registries) {
    std::map<std::string, std::vector<const ObservedToken*>> by_name;
    for (const ObservedToken& token : registry.tokens) by_name[token.name].push_back(&token);
    for (auto& [name, tokens] : by_name) {
      const TokenKey key{registry_id, name};
      std::sort(tokens.begin(), tokens.end(),
                [](const ObservedToken* a, const ObservedToken* b) { return a->id < b->id; });
      const ObservedToken* chosen = tokens.front();
      auto record = index.records.find(key);
      if (record != index.records.end()) {
        for (const ObservedToken* token : tokens) {
          if (token->id == record->second->token_id) chosen = token;
        }
      }
      index.tokens[key] = chosen;
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

// Why an owned token's password must be replaced, or "" when it need not be.
std::string ReissueReason(const TokenSpec& spec, const OwnershipRecord& record,
                          const ObservedState& observed, const std::string& hostname) {
  if (record.phase != OwnershipRecord::Phase::kReady) return "password never reached the sink";
  if (spec.secret != record.secret) {
    return "secret moved from " + record.secret.ToString() + " to " + spec.secret.ToString();
  }
  auto it = observed.secrets.find(TokenKey{spec.registry_id, spec.name});
  if (it == observed.secrets.end()) return "";  // could not be inspected: decide nothing on it
  const SecretState& secret = it->second;
  if (!secret.exists) return "secret missing";
  if (!secret.has_password) return "secret has no password";
  if (secret.username != spec.name) {
    return "secret has username \"" + secret.username + "\" instead of \"" + spec.name + "\"";
  }
  if (!hostname.empty() && secret.hostname != hostname) {
    return "secret is for host \"" + secret.hostname + "\" instead of \"" + hostname + "\"";
  }
  return "";
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

class Planner {
 public:
  Planner(const DesiredState& desired, const ObservedState& observed, const PlanPolicy& policy,
          Instant now)
      : desired_(desired),
        observed_(observed),
        policy_(policy),
        now_(now),
        index_(BuildIndex(desired, observed)) {}

  Plan Run() {
    for (const TokenSpec* spec : index_.unresolved) {
      AddProblem(*spec, "token " + spec->name + ": registry " + RegistryLabel(*spec, observed_) +
                            " could not be resolved; the token is not acted on");
      ++plan_.counts.error;
    }
    for (const auto& [key, specs] : index_.specs) PlanDeclared(key, specs);
    for (const auto& [registry_id, registry] : observed_.registries) PlanUndeclared(registry);
    PlanGoneRecords();
    ReportHeldDeletes();
    plan_.counts.error += static_cast<int>(protected_seen_.size());
    plan_.counts.unmanaged += static_cast<int>(index_.extra_tokens.size());
    NextExpiry();
    Order();
    PairRenames();
    MarkKeptSecrets();
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
    return index_.specs.count(key) > 0 || index_.unresolved_names.count({info.name, key.name}) > 0;
  }

  const OwnershipRecord* RecordFor(const TokenKey& key) const {
    auto it = index_.records.find(key);
    return it == index_.records.end() ? nullptr : it->second;
  }

  const ObservedToken* TokenFor(const TokenKey& key) const {
    auto it = index_.tokens.find(key);
    return it == index_.tokens.end() ? nullptr : it->second;
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
    const OwnershipRecord* record = RecordFor(key);
    const ObservedToken* token = TokenFor(key);
    const bool held = observed_.held_passwords.count(key) > 0;

    // Built only when there is something to do: most tokens in a steady state are in sync.
    auto act = [&](ActionType type, std::string reason, TokenPatch patch = {}) {
      Action action;
      action.type = type;
      action.key = key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      action.spec = spec;
      if (record != nullptr) action.record = *record;
      if (token != nullptr) {
        action.token_id = token->id;
        action.observed = *token;
      }
      action.patch = std::move(patch);
      action.reason = std::move(reason);
      Add(std::move(action));
    };

    if (token == nullptr) {
      // With a record, the caller did not look the token up by id: a create is safe even when the
      // list missed a live token. Its PUT goes to a new id and the API refuses a second token
      // with the name (409), and the secret is written only after a PUT that succeeded.
      if (record == nullptr) {
        act(ActionType::kCreate, kNotInRegistry);
      } else if (record->phase == OwnershipRecord::Phase::kCreating) {
        act(ActionType::kCreate, "not in the registry (an earlier create did not complete)");
      } else {
        act(ActionType::kCreate, "disappeared from the registry (deleted by hand or expired)");
      }
      return;
    }
    if (record == nullptr || record->token_id != token->id) {
      if (spec.adopt || policy_.adopt_all) {
        // Its password is unknown, so taking it over means replacing it.
        act(ActionType::kReissue, "adopt");
        return;
      }
      AddProblem(spec,
                 "a token named " + spec.name + " exists in registry " + info.name +
                     " but crtoken does not own it" +
                     (record != nullptr ? " (its id differs from the one crtoken created)" : "") +
                     "; set spec.adopt: true or --adopt");
      ++plan_.counts.error;
      return;
    }
    // A held password is on its way to the sink: the reconciler retries the write.
    if (!held) {
      std::string reason = ReissueReason(spec, *record, observed_, info.hostname);
      if (!reason.empty()) {
        act(ActionType::kReissue, std::move(reason));  // carries the full spec: no update
        return;
      }
    }
    // Renewal: a token with a lifetime is replaced (new password, secret rewritten) once less
    // than renewBefore is left, so that it never expires in use. Not while a password is held:
    // the token that password belongs to is still the one consumers are waiting for.
    if (spec.lifetime && token->expiry && now_ >= *token->expiry - spec.renew_before && !held) {
      act(ActionType::kReissue, "renewal: expires " + FormatRfc3339(*token->expiry));
      return;
    }
    TokenPatch patch = Diff(spec, *token, now_);
    if (!patch.empty()) {
      act(ActionType::kUpdate, "fields differ", std::move(patch));
      return;
    }
    if (held) {
      ++plan_.counts.pending;
    } else {
      ++plan_.counts.in_sync;
    }
  }

  void PlanUndeclared(const ObservedRegistry& registry) {
    const RegistryInfo& info = registry.info;
    int kept_unowned = 0;
    for (auto it = index_.tokens.lower_bound(TokenKey{info.id, ""});
         it != index_.tokens.end() && it->first.registry_id == info.id; ++it) {
      const TokenKey& key = it->first;
      const ObservedToken* token = it->second;
      if (Declared(key, info) || Protected(key)) continue;
      const OwnershipRecord* record = RecordFor(key);
      const bool owned = record != nullptr && record->token_id == token->id;
      Action action;
      action.type = ActionType::kDelete;
      action.key = key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      action.token_id = token->id;
      action.observed = *token;
      if (record != nullptr) action.record = *record;
      if (owned) {
        if (policy_.prune == PruneMode::kNone) {
          ++plan_.counts.unmanaged;
        } else if (desired_.failed_files.count(record->source_file) > 0) {
          ++plan_.counts.in_sync;  // its declaration is in a file that fails: left as it was
        } else if (!desired_.prune.allowed()) {
          ++plan_.counts.in_sync;  // pruning is held back: left as it was
          Hold(info);
        } else {
          action.reason = "not declared";
          Add(std::move(action));
        }
        continue;
      }
      if (policy_.prune != PruneMode::kAll) {
        ++plan_.counts.unmanaged;
        continue;
      }
      if (!desired_.prune.allowed()) {
        ++plan_.counts.unmanaged;
        Hold(info);
        continue;
      }
      if (!desired_.failed_files.empty()) {
        // A failing file may declare this very token: deleting it could destroy a credential in
        // use, so nothing unowned is pruned until every file loads.
        ++plan_.counts.unmanaged;
        ++kept_unowned;
        continue;
      }
      action.reason = "not declared (prune=all)";
      if (record != nullptr) consumed_records_.insert(key);  // its stale record goes with it
      Add(std::move(action));
    }
    if (kept_unowned > 0) {
      std::string files;
      for (const std::string& file : desired_.failed_files) {
        files += (files.empty() ? "" : ", ") + file;
      }
      plan_.problems.push_back(Problem{
          TokenKey{info.id, ""}, SourceLocation{},
          "prune=all: " + CountText(kept_unowned, "undeclared token") + " in registry " +
              info.name + " that crtoken does not own " + (kept_unowned == 1 ? "is" : "are") +
              " kept while spec files fail to load (" + files + ")"});
    }
  }

  // Records whose token no longer exists (or whose name now belongs to another id) and that are
  // not declared: forget them and remove their secrets. The caller has confirmed the absence by a
  // lookup by id (a paged list can miss a live token; such a token is in the observed list).
  void PlanGoneRecords() {
    if (policy_.prune == PruneMode::kNone) return;
    for (const auto& [key, record] : index_.records) {
      auto registry_it = observed_.registries.find(key.registry_id);
      if (registry_it == observed_.registries.end()) continue;
      const RegistryInfo& info = registry_it->second.info;
      if (Declared(key, info) || consumed_records_.count(key) > 0) continue;
      const ObservedToken* token = TokenFor(key);
      if (token != nullptr && token->id == record->token_id) continue;  // handled as a token
      if (desired_.failed_files.count(record->source_file) > 0) continue;
      if (desired_.protected_keys.count(key) > 0) continue;  // a record alone is not counted
      if (!desired_.prune.allowed()) {
        Hold(info);
        continue;
      }
      Action action;
      action.type = ActionType::kDelete;
      action.key = key;
      action.registry_name = info.name;
      action.hostname = info.hostname;
      action.record = *record;
      action.reason = "already gone; removing its secret and record";
      Add(std::move(action));
    }
  }

  // A delete in `info`'s registry that the prune verdict holds back.
  void Hold(const RegistryInfo& info) {
    ++plan_.deletes_held;
    ++held_by_registry_[info.id];
  }

  // One Problem per registry whose deletes were held back because spec paths cannot be read. (A
  // settling tree is no failure: the held deletes are only counted.)
  void ReportHeldDeletes() {
    const std::vector<std::string>& unread = desired_.prune.unread;
    if (unread.empty()) return;
    std::string paths;
    for (size_t i = 0; i < unread.size() && i < 3; ++i) paths += (i == 0 ? "" : "; ") + unread[i];
    if (unread.size() > 3) paths += "; and " + std::to_string(unread.size() - 3) + " more";
    for (const auto& [registry_id, held] : held_by_registry_) {
      auto it = observed_.registries.find(registry_id);  // always there: Hold() saw it
      const std::string name = it != observed_.registries.end() && !it->second.info.name.empty()
                                   ? it->second.info.name
                                   : registry_id;
      plan_.problems.push_back(Problem{TokenKey{registry_id, ""}, SourceLocation{},
                                       "registry " + name + ": nothing pruned, " +
                                           CountText(held, "delete") +
                                           " held back while spec paths cannot be read (" + paths +
                                           "); restore them or correct --specs"});
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
    for (const TokenSpec& spec : desired_.specs) {
      if (spec.expiry) consider(*spec.expiry);
      if (!spec.lifetime) continue;
      const ObservedToken* token = TokenFor(TokenKey{spec.registry_id, spec.name});
      if (token != nullptr && token->expiry) consider(*token->expiry - spec.renew_before);
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

  // A create and a delete of an owned token in the same registry, declared by the same file with
  // the same secret: the spec's name was changed. Only the reasons change; the actions stay (the
  // API cannot rename). Runs on ordered actions, so the pairing is deterministic.
  void PairRenames() {
    // Unpaired creates by (registry, source file, secret), in action order.
    std::map<std::tuple<std::string, std::string, SecretRef>, std::vector<Action*>> creates;
    for (Action& action : plan_.actions) {
      if (action.type == ActionType::kCreate && !action.record && action.spec) {
        creates[{action.key.registry_id, action.spec->source.file, action.spec->secret}].push_back(
            &action);
      }
    }
    if (creates.empty()) return;
    std::map<std::tuple<std::string, std::string, SecretRef>, size_t> used;
    for (Action& old_one : plan_.actions) {
      if (old_one.type != ActionType::kDelete || old_one.token_id.empty() || !old_one.record ||
          old_one.record->token_id != old_one.token_id) {
        continue;
      }
      const auto slot = std::make_tuple(old_one.key.registry_id, old_one.record->source_file,
                                        old_one.record->secret);
      auto it = creates.find(slot);
      if (it == creates.end() || used[slot] >= it->second.size()) continue;
      Action& new_one = *it->second[used[slot]++];
      new_one.reason = "renamed from " + old_one.key.name;
      old_one.reason = "renamed to " + new_one.key.name;
    }
  }

  void MarkKeptSecrets() {
    std::set<SecretRef> declared;  // built only when something is deleted
    for (Action& action : plan_.actions) {
      if (action.type != ActionType::kDelete || !action.record) continue;
      if (declared.empty()) {
        for (const TokenSpec& spec : desired_.specs) declared.insert(spec.secret);
      }
      action.keep_secret = declared.count(action.record->secret) > 0;
      if (action.keep_secret && action.token_id.empty()) {
        action.reason = "already gone; removing its record";
      }
    }
  }

  const DesiredState& desired_;
  const ObservedState& observed_;
  const PlanPolicy& policy_;
  const Instant now_;
  const Index index_;
  std::set<TokenKey> protected_seen_;
  std::set<TokenKey> consumed_records_;
  std::map<std::string, int> held_by_registry_;  // registry id -> deletes held back
  Plan plan_;
};

}  // namespace

Plan ComputePlan(const DesiredState& desired, const ObservedState& observed,
                 const PlanPolicy& policy, Instant now) {
  return Planner(desired, observed, policy, now).Run();
}

}  // namespace crtoken
