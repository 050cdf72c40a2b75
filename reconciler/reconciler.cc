#include "reconciler/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <thread>
#include <utility>

#include "reconciler/log_fields.h"
#include "reconciler/parallel_for.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

using Phase = OwnershipRecord::Phase;

// An action's log line: its description, then `text`, with the fields registry, token and action.
std::string ActionLine(const Action& a, const std::string& text) {
  return WithFields(
      a.Describe() + ": " + text,
      {{"registry", a.registry_name}, {"token", a.key.name}, {"action", ActionTypeName(a.type)}});
}

// What a pass covers, for its gauges and its summary line: the daemon's registry key(s), or "*"
// for a pass over every registry.
std::string PassScope(const std::vector<std::string>& registry_refs) {
  std::string scope;
  for (const auto& ref : registry_refs) scope += (scope.empty() ? "" : ",") + ref;
  return scope.empty() ? "*" : scope;
}

int TypeOrder(ActionType type) {
  switch (type) {
    case ActionType::kCreate:
      return 0;
    case ActionType::kReissue:
      return 1;
    case ActionType::kUpdate:
      return 2;
    case ActionType::kDelete:
      return 3;
  }
  return 4;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return !s.empty() && std::find(v.begin(), v.end(), s) != v.end();
}

std::string KeyName(const std::string& registry_name, const TokenKey& key) {
  return (registry_name.empty() ? key.registry_id : registry_name) + "/" + key.name;
}

// A token's log line: "registry/token: text", with the fields registry and token.
std::string KeyLine(const std::string& registry_name, const TokenKey& key,
                    const std::string& text) {
  return WithFields(
      KeyName(registry_name, key) + ": " + text,
      {{"registry", registry_name.empty() ? key.registry_id : registry_name}, {"token", key.name}});
}

Instant Now(const Clock& clock) {
  return std::chrono::time_point_cast<std::chrono::seconds>(clock.Now());
}

// What a token issued `now` for `spec` is created with.
TokenFields FieldsOf(const TokenSpec& spec, Instant now) {
  TokenFields fields;
  fields.name = spec.name;
  fields.status = spec.status;
  fields.expiry = spec.lifetime ? std::optional<Instant>(now + *spec.lifetime) : spec.expiry;
  fields.scopes = spec.scopes;
  return fields;
}

}  // namespace

// Everything one pass reads and decides, plus what its parallel actions report back.
struct Reconciler::PassContext {
  const DesiredState* desired = nullptr;
  std::vector<std::string> refs;

  // Selected specs, registry_id filled in where the registry was resolved.
  std::vector<TokenSpec> specs;
  // Resolved registries by id (whether or not their token list could be read).
  std::map<std::string, RegistryInfo> registries;
  // Registries whose token list was read completely.
  std::map<std::string, ObservedRegistry> observed;
  // Refs (names) that could not be resolved, with the specs that use them.
  std::map<std::string, std::vector<TokenSpec>> unresolved;
  std::map<TokenKey, OwnershipRecord> records;  // of the resolved registries
  std::map<TokenKey, SecretState> secrets;
  std::set<TokenKey> held_keys;
  // Owned tokens missing from their list whose lookup by id failed: nothing of theirs (record,
  // secret, held password) is dropped or acted on in this pass.
  std::set<TokenKey> unconfirmed;
  Plan plan;

  std::mutex mu;  // guards what follows while actions run in parallel
  std::vector<std::string> errors;
  bool transient = false;
  int write_requests = 0;
  int actions_failed = 0;
  std::map<TokenKey, std::optional<Instant>> issued_expiry;  // of lifetime tokens issued this pass
  std::map<TokenKey, std::string> failures;                  // failed actions: what failed and why

  void SetIssuedExpiry(const TokenKey& key, std::optional<Instant> expiry) {
    std::lock_guard<std::mutex> lock(mu);
    issued_expiry[key] = expiry;
  }

  void AddError(const std::string& message, bool is_transient) {
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(message);
    transient = transient || is_transient;
  }
  void AddWrites(int n) {
    std::lock_guard<std::mutex> lock(mu);
    write_requests += n;
  }
  void ActionFailed(const Action& action, const std::string& what, const Error& error) {
    spdlog::warn(ActionLine(action, what + " failed: " + error.ToString()));
    std::lock_guard<std::mutex> lock(mu);
    errors.push_back(action.Describe() + ": " + what + " failed: " + error.ToString());
    failures[action.key] = what + " failed: " + error.ToString();
    transient = transient || error.Transient();
    ++actions_failed;
  }
};

Reconciler::Reconciler(RegistryApi& api, SecretSink& sink, StateStore& state, const Clock& clock,
                       Metrics* metrics, ReconcilerConfig config)
    : api_(api),
      sink_(sink),
      state_(state),
      clock_(clock),
      metrics_(metrics),
      config_(std::move(config)) {}

int Reconciler::HeldPasswords() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(held_.size());
}

std::mutex& Reconciler::RegistryLock(const std::string& registry_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = registry_locks_[registry_id];
  if (!slot) slot = std::make_unique<std::mutex>();
  return *slot;
}

Result<std::vector<std::string>> Reconciler::RegistryRefs(const DesiredState& desired) {
  std::vector<std::string> refs;
  std::set<std::string> names;
  for (const auto& spec : desired.specs) {
    const std::string& ref = spec.registry_id.empty() ? spec.registry : spec.registry_id;
    if (!spec.registry.empty()) names.insert(spec.registry);
    if (!ref.empty() && !Contains(refs, ref)) refs.push_back(ref);
  }
  auto records = state_.Load();
  if (!records.ok()) return records.error();
  for (const auto& record : records.value()) {
    if (names.count(record.registry_name) || Contains(refs, record.registry_id)) continue;
    refs.push_back(record.registry_id);
  }
  return refs;
}

// Resolves the selected registries (each once) and loads their ownership records. When the records
// cannot be read, nothing is selected: without them the pass cannot tell what it owns.
void Reconciler::ReadRegistries(PassContext& ctx) {
  const auto& refs = ctx.refs;
  auto selected = [&](const std::string& name, const std::string& id) {
    return refs.empty() || Contains(refs, name) || Contains(refs, id);
  };

  // Resolve each registry once per pass: by id (GetRegistry) or by name (FindRegistryByName). This
  // is the only cache of registry lookups, and it lives for one pass: each pass sees registries as
  // they are now (a registry recreated under the same name, a hostname that appeared). A registry
  // already resolved one way is not asked for again the other way.
  std::map<std::string, Result<RegistryInfo>> by_id;
  std::map<std::string, Result<RegistryInfo>> by_name;
  auto resolve_id = [&](const std::string& id) -> const Result<RegistryInfo>& {
    auto it = by_id.find(id);
    if (it != by_id.end()) return it->second;
    for (const auto& [_, info] : by_name) {
      if (info.ok() && info.value().id == id) return by_id.emplace(id, info).first->second;
    }
    return by_id.emplace(id, api_.GetRegistry(id)).first->second;
  };
  auto resolve_name = [&](const std::string& name) -> const Result<RegistryInfo>& {
    auto it = by_name.find(name);
    if (it != by_name.end()) return it->second;
    for (const auto& [_, info] : by_id) {
      if (info.ok() && info.value().name == name) return by_name.emplace(name, info).first->second;
    }
    return by_name.emplace(name, api_.FindRegistryByName(name)).first->second;
  };

  for (const auto& spec_in : ctx.desired->specs) {
    if (!selected(spec_in.registry, spec_in.registry_id)) continue;
    TokenSpec spec = spec_in;
    const auto& info =
        spec.registry_id.empty() ? resolve_name(spec.registry) : resolve_id(spec.registry_id);
    if (info.ok()) {
      spec.registry_id = info.value().id;
      ctx.registries[info.value().id] = info.value();
      ctx.specs.push_back(std::move(spec));
    } else {
      ctx.unresolved[spec.registry_id.empty() ? spec.registry : spec.registry_id].push_back(
          std::move(spec));
    }
  }
  for (const auto& [name, info] : by_name) {
    if (!info.ok()) {
      const std::string message =
          "registry " + name + ": lookup failed: " + info.error().ToString();
      spdlog::warn(WithFields(message, {{"registry", name}}));
      ctx.AddError(message, info.error().Transient());
    }
  }

  auto records = state_.Load();
  if (!records.ok()) {
    ctx.AddError("ownership records: " + records.error().ToString(), records.error().Transient());
    ctx.registries.clear();
    ctx.specs.clear();
    return;
  }
  // Records of registries not declared by any selected spec: look their registry up by id.
  for (const auto& record : records.value()) {
    if (ctx.registries.count(record.registry_id)) continue;
    if (!refs.empty() && !Contains(refs, record.registry_id)) continue;
    const auto& info = resolve_id(record.registry_id);
    if (info.ok()) ctx.registries[record.registry_id] = info.value();
  }
  for (const auto& [id, info] : by_id) {
    if (!info.ok()) {
      const std::string message = "registry " + id + ": lookup failed: " + info.error().ToString();
      spdlog::warn(WithFields(message, {{"registry", id}}));
      ctx.AddError(message, info.error().Transient());
    }
  }
  // One registry may be declared by name in some specs and by id in others, and the daemon passes
  // one ref as written: every spec of a selected registry belongs to this pass, or its token would
  // look undeclared here and be pruned. The resolved registries carry both name and id, so this
  // costs no request.
  if (!refs.empty()) {
    for (const auto& spec_in : ctx.desired->specs) {
      if (selected(spec_in.registry, spec_in.registry_id)) continue;  // taken above
      const RegistryInfo* info = nullptr;
      for (const auto& [id, registry] : ctx.registries) {
        if (spec_in.registry_id.empty() ? registry.name == spec_in.registry
                                        : id == spec_in.registry_id) {
          info = &registry;
          break;
        }
      }
      if (info == nullptr) continue;
      TokenSpec spec = spec_in;
      spec.registry_id = info->id;
      ctx.specs.push_back(std::move(spec));
    }
  }
  for (const auto& record : records.value()) {
    if (ctx.registries.count(record.registry_id)) ctx.records[record.key()] = record;
  }
}

PassResult Reconciler::Reconcile(const DesiredState& desired,
                                 const std::vector<std::string>& registry_refs) {
  const auto started = clock_.Monotonic();
  PassContext ctx;
  ctx.desired = &desired;
  ctx.refs = registry_refs;
  ReadRegistries(ctx);

  // Serialise passes that share a registry; lock in id order so two passes cannot deadlock.
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const auto& [id, _] : ctx.registries) locks.emplace_back(RegistryLock(id));

  // List every resolved registry's tokens. A failed list leaves the registry out of `observed`.
  {
    std::vector<const RegistryInfo*> infos;
    for (const auto& [id, info] : ctx.registries) infos.push_back(&info);
    std::vector<std::optional<Result<std::vector<ObservedToken>>>> lists(infos.size());
    ParallelFor(infos.size(), config_.parallelism,
                [&](size_t i) { lists[i].emplace(api_.ListTokens(infos[i]->id)); });
    for (size_t i = 0; i < infos.size(); ++i) {
      auto& list = *lists[i];
      if (!list.ok()) {
        const std::string message =
            "registry " + infos[i]->name + ": listing tokens failed: " + list.error().ToString();
        spdlog::warn(WithFields(message, {{"registry", infos[i]->name}}));
        ctx.AddError(message, list.error().Transient());
        continue;
      }
      ctx.observed[infos[i]->id] = ObservedRegistry{*infos[i], std::move(list.value())};
    }
  }

  ConfirmUnlisted(ctx);
  if (!config_.dry_run) FlushHeld(ctx);

  // Inspect the secret of each declared token of a readable registry.
  {
    std::vector<const TokenSpec*> to_inspect;
    for (const auto& spec : ctx.specs) {
      if (ctx.observed.count(spec.registry_id)) to_inspect.push_back(&spec);
    }
    std::vector<std::optional<Result<SecretState>>> states(to_inspect.size());
    ParallelFor(to_inspect.size(), config_.parallelism,
                [&](size_t i) { states[i].emplace(sink_.Inspect(to_inspect[i]->secret)); });
    for (size_t i = 0; i < to_inspect.size(); ++i) {
      const TokenSpec& spec = *to_inspect[i];
      if (states[i]->ok()) {
        ctx.secrets[TokenKey{spec.registry_id, spec.name}] = states[i]->value();
      } else {
        ctx.AddError("secret " + spec.secret.ToString() + " of " + spec.name +
                         ": cannot be read: " + states[i]->error().ToString(),
                     states[i]->error().Transient());
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, _] : held_) {
      if (ctx.registries.count(key.registry_id)) ctx.held_keys.insert(key);
    }
  }

  // One plan over every registry of the pass. Specs whose registry could not be resolved are
  // part of it: the planner reports them, and never prunes a token they may declare.
  const Instant now = Now(clock_);
  {
    DesiredState d = desired.WithoutSpecs();
    d.specs = ctx.specs;
    for (const auto& [_, specs] : ctx.unresolved) {
      d.specs.insert(d.specs.end(), specs.begin(), specs.end());
    }
    // Their error is already reported; the planner leaves them alone.
    d.protected_keys.insert(ctx.unconfirmed.begin(), ctx.unconfirmed.end());
    ObservedState o;
    o.registries = ctx.observed;
    for (const auto& [_, record] : ctx.records) o.owned.push_back(record);
    o.secrets = ctx.secrets;
    o.held_passwords = ctx.held_keys;
    ctx.plan = ComputePlan(d, o, config_.policy, now);
  }
  // The gauges are kept per pass scope (the daemon's registry key, or everything for a one-shot
  // pass), so the next pass over the same key replaces them: a registry that failed to resolve,
  // then resolved, or stopped being declared, leaves no stale counts behind.
  const std::string scope = PassScope(registry_refs);
  if (metrics_ && !config_.dry_run) metrics_->SetTokenCounts(scope, ctx.plan.counts);
  for (const auto& problem : ctx.plan.problems) {
    ctx.errors.push_back(problem.ToString());
  }

  if (config_.dry_run) {
    for (const auto& action : ctx.plan.actions) spdlog::info("plan: {}", action.Describe());
  } else {
    Act(ctx);
  }

  PassResult result;
  result.plan = std::move(ctx.plan);
  result.next_expiry = result.plan.next_expiry;
  result.write_requests = ctx.write_requests;
  result.actions_failed = ctx.actions_failed;
  for (const auto& [id, _] : ctx.observed) result.registry_ids.push_back(id);
  PassFacts facts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, held] : held_) {
      if (!ctx.registries.count(key.registry_id)) continue;
      ++result.secrets_waiting;
      facts.held.insert(key);
      if (!config_.dry_run) {
        ctx.errors.push_back("secret of " + KeyName(held.registry_name, key) +
                             " not written yet: its password is held in memory and retried");
      }
    }
    if (metrics_ && !config_.dry_run) {
      metrics_->SetSecretsWaiting(scope, result.secrets_waiting);
    }
  }
  result.errors = std::move(ctx.errors);
  if (config_.dry_run) {
    result.converged = result.errors.empty() && result.plan.empty();
  } else {
    result.converged = result.errors.empty();
  }
  if (ctx.transient || result.secrets_waiting > 0) result.requeue_after = config_.retry_soon;

  facts.specs = ctx.specs;
  for (const auto& [_, specs] : ctx.unresolved) {
    facts.specs.insert(facts.specs.end(), specs.begin(), specs.end());
  }
  for (const auto& [id, info] : ctx.registries) facts.registry_names[id] = info.name;
  facts.observed = &ctx.observed;
  facts.plan = &result.plan;
  facts.acted = !config_.dry_run;
  facts.failures = std::move(ctx.failures);
  facts.issued_expiry = std::move(ctx.issued_expiry);
  result.tokens = DeclaredTokenStates(facts);
  if (metrics_ && !config_.dry_run) metrics_->SetTokenStates(scope, result.tokens);

  const double seconds = std::chrono::duration<double>(clock_.Monotonic() - started).count();
  if (metrics_ && !config_.dry_run) {
    metrics_->ObserveReconcile(result.converged, seconds);
    if (result.converged) metrics_->SetLastSuccess(now);
  }
  int by_type[4] = {0, 0, 0, 0};
  for (const auto& action : result.plan.actions) ++by_type[TypeOrder(action.type)];
  char took[32];
  std::snprintf(took, sizeof took, "%.3f", seconds);
  spdlog::info(WithFields(config_.dry_run ? "reconcile pass done (dry run)" : "reconcile pass done",
                          {{"registry", scope},
                           {"registries", std::to_string(result.registry_ids.size())},
                           {"actions", std::to_string(result.plan.actions.size())},
                           {"create", std::to_string(by_type[0])},
                           {"reissue", std::to_string(by_type[1])},
                           {"update", std::to_string(by_type[2])},
                           {"delete", std::to_string(by_type[3])},
                           {"failed", std::to_string(result.actions_failed)},
                           {"errors", std::to_string(result.errors.size())},
                           {"secrets_waiting", std::to_string(result.secrets_waiting)},
                           {"write_requests", std::to_string(result.write_requests)},
                           {"seconds", took}}));
  return result;
}

// A token list is read page by page, by offset: when another client deletes a token of an earlier
// page meanwhile, the later pages shift and one live token is never seen. So an owned token that is
// missing from its registry's list is looked up by id (GetToken) before the pass acts on its
// absence by dropping something:
// - the record and secret of an undeclared token (its token gone, or its name now held by another
//   id): found, it is added to the observed tokens as if listed, and the planner deletes it
//   (DELETE, then secret and record) instead of orphaning it;
// - a held password (FlushHeld drops the password of a token that is gone).
// Not found (kNotFound): gone, as the list said. Any other error: its key is protected for this
// pass (record, secret and held password kept, nothing planned for it) and the pass fails.
//
// A declared token without a held password is not looked up. Its absence plans a create, which is
// safe on a missed token: the PUT goes to a new id and the API refuses a second token with the
// name (409), after which the old record is put back; the secret is only written after a PUT that
// succeeded. Re-issues and updates act only on tokens the list showed, by their id; an adopting
// re-issue replaces a record whose name another id holds, and a token with the record's id cannot
// hold that name at the same time.
void Reconciler::ConfirmUnlisted(PassContext& ctx) {
  struct Unlisted {
    TokenKey key;
    std::string token_id;
  };
  std::vector<Unlisted> candidates;
  {
    std::set<TokenKey> declared;
    for (const auto& spec : ctx.specs) declared.insert(TokenKey{spec.registry_id, spec.name});
    // Under prune none no record is dropped: looking them up would only cost a request per pass.
    for (const auto& [key, record] : ctx.records) {
      if (!declared.count(key) && ctx.observed.count(key.registry_id) &&
          config_.policy.prune != PruneMode::kNone) {
        candidates.push_back(Unlisted{key, record.token_id});
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, held] : held_) {
      // An undeclared key's password is dropped anyway; its record is a candidate above.
      if (declared.count(key) && ctx.observed.count(key.registry_id)) {
        candidates.push_back(Unlisted{key, held.token_id});
      }
    }
  }
  if (candidates.empty()) return;  // the steady state: every record is declared
  std::set<std::pair<std::string, std::string>> listed;  // (registry id, token id)
  for (const auto& [id, registry] : ctx.observed) {
    for (const auto& token : registry.tokens) listed.emplace(id, token.id);
  }
  std::vector<Unlisted> unlisted;
  for (auto& c : candidates) {
    if (!listed.count({c.key.registry_id, c.token_id})) unlisted.push_back(std::move(c));
  }
  std::vector<std::optional<Result<ObservedToken>>> found(unlisted.size());
  ParallelFor(unlisted.size(), config_.parallelism, [&](size_t i) {
    found[i].emplace(api_.GetToken(unlisted[i].key.registry_id, unlisted[i].token_id));
  });
  for (size_t i = 0; i < unlisted.size(); ++i) {
    const TokenKey& key = unlisted[i].key;
    const std::string& token_id = unlisted[i].token_id;
    const std::string& registry_name = ctx.registries.at(key.registry_id).name;
    const Result<ObservedToken>& got = *found[i];
    if (got.ok()) {
      spdlog::warn(KeyLine(
          registry_name, key,
          "token " + token_id + " is missing from the token list but exists: taken as listed"));
      ctx.observed.at(key.registry_id).tokens.push_back(got.value());
    } else if (got.error().kind != ErrorKind::kNotFound) {
      const std::string text = "token " + token_id +
                               " is missing from the token list and looking it up failed; its "
                               "record and secret are kept: " +
                               got.error().ToString();
      spdlog::warn(KeyLine(registry_name, key, text));
      ctx.AddError(KeyName(registry_name, key) + ": " + text, got.error().Transient());
      ctx.unconfirmed.insert(key);
    }
  }
}

// Writes the secrets of held passwords whose registry hostname is now known, and records them
// kReady. A held password whose spec or token went away is dropped: it can never be used.
void Reconciler::FlushHeld(PassContext& ctx) {
  struct Pending {
    TokenKey key;
    const TokenSpec* spec;
    std::string hostname;
  };
  std::vector<Pending> pending;
  std::map<TokenKey, const TokenSpec*> spec_by_key;
  for (const auto& spec : ctx.specs) spec_by_key[TokenKey{spec.registry_id, spec.name}] = &spec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = held_.begin(); it != held_.end();) {
      const TokenKey& key = it->first;
      auto obs = ctx.observed.find(key.registry_id);
      if (!ctx.registries.count(key.registry_id) || obs == ctx.observed.end()) {
        ++it;
        continue;
      }
      if (ctx.unconfirmed.count(key)) {
        ++it;  // its token may still exist: keep the password
        continue;
      }
      const auto& tokens = obs->second.tokens;
      bool token_there = std::any_of(tokens.begin(), tokens.end(), [&](const ObservedToken& t) {
        return t.id == it->second.token_id;
      });
      auto spec = spec_by_key.find(key);
      if (!token_there || spec == spec_by_key.end()) {
        spdlog::info(KeyLine(it->second.registry_name, key,
                             std::string("dropping the held password: ") +
                                 (token_there ? "no longer declared" : "its token is gone")));
        it = held_.erase(it);
        continue;
      }
      if (obs->second.info.hostname.empty()) {
        spdlog::info(KeyLine(it->second.registry_name, key,
                             "secret still waiting for the registry hostname (state " +
                                 obs->second.info.state + ")"));
        ++it;
        continue;
      }
      pending.push_back(Pending{key, spec->second, obs->second.info.hostname});
      ++it;
    }
  }
  std::vector<OwnershipRecord> ready;
  std::vector<TokenKey> written;
  for (const auto& p : pending) {
    Password password;
    std::string token_id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      password = held_.at(p.key).password.Clone();
      token_id = held_.at(p.key).token_id;
    }
    Status status =
        sink_.Write(p.spec->secret, DockerCredential{p.hostname, p.spec->name, std::move(password),
                                                     SecretRecord{"", "", "", token_id}});
    if (metrics_) metrics_->CountSecretWrite(p.spec->secret.kind, status.ok());
    const std::string& registry_name = ctx.registries.at(p.key.registry_id).name;
    const std::string name = KeyName(registry_name, p.key);
    if (!status.ok()) {
      spdlog::warn(KeyLine(registry_name, p.key,
                           "writing the held secret " + p.spec->secret.ToString() +
                               " failed: " + status.error().ToString()));
      ctx.AddError(name + ": writing secret " + p.spec->secret.ToString() +
                       " failed: " + status.error().ToString(),
                   true);
      continue;
    }
    spdlog::info(
        KeyLine(registry_name, p.key, "held password written to " + p.spec->secret.ToString()));
    OwnershipRecord record;
    if (auto it = ctx.records.find(p.key); it != ctx.records.end()) record = it->second;
    record.registry_id = p.key.registry_id;
    record.registry_name = ctx.registries.at(p.key.registry_id).name;
    record.token_name = p.key.name;
    record.token_id = token_id;
    record.phase = Phase::kReady;
    record.secret = p.spec->secret;
    record.source_file = p.spec->source.file;
    ready.push_back(record);
    written.push_back(p.key);
  }
  if (ready.empty()) return;
  if (Status flushed = sink_.Flush(); !flushed.ok()) {
    ctx.AddError("syncing secrets: " + flushed.error().ToString(), true);
    return;  // still held: written and synced again next pass
  }
  Status status = state_.PutAll(ready);
  if (!status.ok()) {
    // The secrets are written, but the records still say the password never arrived: keep the
    // passwords held so that the next pass writes them again and records them then.
    ctx.AddError("ownership records: " + status.error().ToString(), true);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < ready.size(); ++i) {
    ctx.records[written[i]] = ready[i];
    held_.erase(written[i]);
  }
}

// The plan's actions in the order that keeps every step crash-safe: re-issued tokens deleted,
// intents recorded, new tokens PUT (updates alongside), outcomes recorded, undeclared tokens
// deleted.
void Reconciler::Act(PassContext& ctx) {
  std::vector<const Action*> creates;  // creates and re-issues: both end in a PUT
  std::vector<const Action*> reissues;
  std::vector<const Action*> updates;
  std::vector<const Action*> deletes;
  for (const auto& action : ctx.plan.actions) {
    switch (action.type) {
      case ActionType::kCreate:
        creates.push_back(&action);
        break;
      case ActionType::kReissue:
        reissues.push_back(&action);
        break;
      case ActionType::kUpdate:
        updates.push_back(&action);
        break;
      case ActionType::kDelete:
        deletes.push_back(&action);
        break;
    }
  }
  DeleteReissuedTokens(ctx, reissues, creates);
  const std::vector<OwnershipRecord> intents = RecordIntents(ctx, creates);
  std::vector<CreateOutcome> outcomes = CreateAndUpdate(ctx, creates, intents, updates);
  RecordOutcomes(ctx, creates, intents, outcomes);
  DeleteUndeclared(ctx, deletes);
}

void Reconciler::Hook(std::string_view point) const {
  if (config_.test_hook) config_.test_hook(point);
}

void Reconciler::CountOperation(ActionType type, bool ok) const {
  if (metrics_) metrics_->CountTokenOperation(type, ok);
}

// How one create (or re-issue) ended.
struct Reconciler::CreateOutcome {
  enum { kFailed, kReady, kHeld, kRevert } state = kFailed;
  Password password;  // kReady / kHeld
};

// Re-issue starts by deleting the token whose password is lost. This comes before the new
// intent is recorded: a crash in between leaves the old record with its token gone, which the
// next pass repairs with a create. The re-issues whose old token is gone join `creates`.
void Reconciler::DeleteReissuedTokens(PassContext& ctx, const std::vector<const Action*>& reissues,
                                      std::vector<const Action*>& creates) {
  std::vector<char> deleted(reissues.size(), 0);
  ParallelFor(reissues.size(), config_.parallelism, [&](size_t i) {
    const Action& a = *reissues[i];
    if (a.token_id.empty()) {
      deleted[i] = 1;
      return;
    }
    ctx.AddWrites(1);
    Status status = api_.DeleteToken(a.key.registry_id, a.token_id);
    if (!status.ok()) {
      ctx.ActionFailed(a, "deleting the old token", status.error());
      CountOperation(a.type, false);
      return;
    }
    deleted[i] = 1;
  });
  for (size_t i = 0; i < reissues.size(); ++i) {
    if (deleted[i]) creates.push_back(reissues[i]);
  }
}

// Record every intent of the pass in one durable write. When that write fails, every create fails
// and `creates` is emptied.
std::vector<OwnershipRecord> Reconciler::RecordIntents(PassContext& ctx,
                                                       std::vector<const Action*>& creates) {
  std::vector<OwnershipRecord> intents;
  for (const Action* a : creates) {
    OwnershipRecord record;
    record.registry_id = a->key.registry_id;
    record.registry_name = a->registry_name;
    record.token_name = a->key.name;
    record.generation = a->record ? a->record->generation + 1 : 0;
    record.token_id =
        DeterministicTokenId(record.registry_id, record.token_name, record.generation);
    record.phase = Phase::kCreating;
    record.secret = a->spec->secret;
    record.source_file = a->spec->source.file;
    intents.push_back(std::move(record));
  }
  if (!intents.empty()) {
    Status status = state_.PutAll(intents);
    if (!status.ok()) {
      for (const Action* a : creates) {
        ctx.ActionFailed(*a, "recording the intent", status.error());
        CountOperation(a->type, false);
      }
      creates.clear();
      intents.clear();
    } else {
      Hook("after-intent");
    }
  }
  return intents;
}

// PUT each new token and write its secret at once; updates run alongside. One outcome per create,
// in order.
std::vector<Reconciler::CreateOutcome> Reconciler::CreateAndUpdate(
    PassContext& ctx, const std::vector<const Action*>& creates,
    const std::vector<OwnershipRecord>& intents, const std::vector<const Action*>& updates) {
  std::vector<CreateOutcome> outcomes(creates.size());
  const size_t total = creates.size() + updates.size();
  ParallelFor(total, config_.parallelism, [&](size_t i) {
    if (i >= creates.size()) {
      const Action& a = *updates[i - creates.size()];
      ctx.AddWrites(1);
      auto patched = api_.PatchToken(a.key.registry_id, a.token_id, a.patch);
      CountOperation(a.type, patched.ok());
      if (!patched.ok()) {
        ctx.ActionFailed(a, "PATCH", patched.error());
      } else {
        spdlog::info(ActionLine(a, "done"));
      }
      return;
    }
    const Action& a = *creates[i];
    const OwnershipRecord& intent = intents[i];
    const TokenSpec& spec = *a.spec;
    ctx.AddWrites(1);
    const TokenFields fields = FieldsOf(spec, Now(clock_));
    auto created = api_.CreateToken(a.key.registry_id, intent.token_id, fields);
    if (!created.ok() && created.error().kind == ErrorKind::kConflict &&
        (spec.adopt || config_.policy.adopt_all)) {
      // The name was taken after our list (or the list was stale): adopt it by re-issue.
      auto tokens = api_.ListTokens(a.key.registry_id);
      if (tokens.ok()) {
        for (const auto& t : tokens.value()) {
          if (t.name != spec.name || t.id == intent.token_id) continue;
          spdlog::info(ActionLine(a, "name taken by token " + t.id + ", adopting it by re-issue"));
          ctx.AddWrites(2);
          Status deleted = api_.DeleteToken(a.key.registry_id, t.id);
          if (deleted.ok()) created = api_.CreateToken(a.key.registry_id, intent.token_id, fields);
          break;
        }
      }
    }
    if (!created.ok()) {
      ctx.ActionFailed(a, "PUT", created.error());
      CountOperation(a.type, false);
      // A definite refusal created nothing: forget the intent. After a transient failure the PUT
      // may have happened: keep the intent, the next pass looks at the registry.
      outcomes[i].state =
          created.error().Transient() ? CreateOutcome::kFailed : CreateOutcome::kRevert;
      return;
    }
    Hook("after-put");
    CountOperation(a.type, true);
    if (spec.lifetime) ctx.SetIssuedExpiry(a.key, fields.expiry);
    Password password = std::move(created.value().password);
    if (password.empty()) {
      ctx.ActionFailed(a, "PUT", Error{ErrorKind::kUnavailable, "the API returned no password"});
      outcomes[i].state =
          CreateOutcome::kFailed;  // the record stays kCreating: re-issued next pass
      return;
    }
    const RegistryInfo& info = ctx.registries.at(a.key.registry_id);
    if (info.hostname.empty()) {
      spdlog::info(ActionLine(a, "done; secret " + spec.secret.ToString() +
                                     " waits for the registry hostname (registry state " +
                                     info.state + ")"));
      outcomes[i] = CreateOutcome{CreateOutcome::kHeld, std::move(password)};
      return;
    }
    DockerCredential credential{info.hostname, spec.name, std::move(password),
                                SecretRecord{"", "", "", intent.token_id}};
    Status written = sink_.Write(spec.secret, credential);
    password = std::move(credential.password);
    if (metrics_) metrics_->CountSecretWrite(spec.secret.kind, written.ok());
    if (!written.ok()) {
      spdlog::warn(
          ActionLine(a, "token created, but writing secret " + spec.secret.ToString() +
                            " failed (password held, retried): " + written.error().ToString()));
      ctx.AddError(a.Describe() + ": writing secret " + spec.secret.ToString() +
                       " failed: " + written.error().ToString(),
                   true);
      outcomes[i] = CreateOutcome{CreateOutcome::kHeld, std::move(password)};
      return;
    }
    Hook("after-secret");
    spdlog::info(ActionLine(a, "done"));
    outcomes[i] = CreateOutcome{CreateOutcome::kReady, std::move(password)};
  });
  return outcomes;
}

// Make the secrets durable with one sync, then record the outcome of every create in one
// durable write. A failed sync leaves the passwords held: written again next pass.
void Reconciler::RecordOutcomes(PassContext& ctx, const std::vector<const Action*>& creates,
                                const std::vector<OwnershipRecord>& intents,
                                std::vector<CreateOutcome>& outcomes) {
  if (std::any_of(outcomes.begin(), outcomes.end(),
                  [](const CreateOutcome& o) { return o.state == CreateOutcome::kReady; })) {
    Status flushed = sink_.Flush();
    if (!flushed.ok()) {
      spdlog::warn(
          "secrets written this pass may not survive a crash (passwords held, retried): {}",
          flushed.error().ToString());
      ctx.AddError("syncing secrets: " + flushed.error().ToString(), true);
      for (auto& o : outcomes) {
        if (o.state == CreateOutcome::kReady) o.state = CreateOutcome::kHeld;
      }
    }
  }
  {
    std::vector<OwnershipRecord> finals;
    std::vector<TokenKey> removals;
    for (size_t i = 0; i < creates.size(); ++i) {
      OwnershipRecord record = intents[i];
      switch (outcomes[i].state) {
        case CreateOutcome::kFailed:
          continue;
        case CreateOutcome::kRevert:
          if (creates[i]->record) {
            finals.push_back(*creates[i]->record);
          } else {
            removals.push_back(record.key());
          }
          continue;
        case CreateOutcome::kReady:
          record.phase = Phase::kReady;
          break;
        case CreateOutcome::kHeld:
          record.phase = Phase::kCreated;
          break;
      }
      finals.push_back(record);
    }
    Status status = finals.empty() ? Status::Ok() : state_.PutAll(finals);
    if (!status.ok()) {
      ctx.AddError("ownership records: " + status.error().ToString(), true);
    }
    if (!removals.empty()) {
      Status removed = state_.RemoveAll(removals);
      if (!removed.ok()) ctx.AddError("ownership records: " + removed.error().ToString(), true);
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < creates.size(); ++i) {
      const TokenKey key = intents[i].key();
      const bool held = outcomes[i].state == CreateOutcome::kHeld ||
                        (outcomes[i].state == CreateOutcome::kReady && !status.ok());
      if (held) {
        // The token exists and this process is the only holder of its password: keep it until
        // the sink has it and the record says so.
        held_[key] =
            Held{intents[i].token_id, std::move(outcomes[i].password), creates[i]->registry_name};
      } else {
        held_.erase(key);  // the token the held password belonged to is gone or replaced
      }
    }
  }

  outcomes.clear();  // wipes the passwords already written and synced (held ones moved to held_)
}

// Deletes last, so a renamed token's new name exists before the old one goes.
void Reconciler::DeleteUndeclared(PassContext& ctx, const std::vector<const Action*>& deletes) {
  std::set<SecretRef> declared_secrets;
  for (const auto& spec : ctx.desired->specs) declared_secrets.insert(spec.secret);
  std::vector<TokenKey> forget;
  std::mutex forget_mu;
  ParallelFor(deletes.size(), config_.parallelism, [&](size_t i) {
    const Action& a = *deletes[i];
    if (!a.token_id.empty()) {
      ctx.AddWrites(1);
      Status status = api_.DeleteToken(a.key.registry_id, a.token_id);
      if (!status.ok()) {
        ctx.ActionFailed(a, "DELETE", status.error());
        CountOperation(a.type, false);
        return;
      }
    }
    // A secret that a declared spec writes to (a renamed token that kept its secret) stays.
    if (a.record && !a.keep_secret && !declared_secrets.count(a.record->secret)) {
      Status status = sink_.Delete(a.record->secret);
      if (!status.ok()) {
        // Keep the record: the next pass deletes the secret again.
        ctx.ActionFailed(a, "deleting secret " + a.record->secret.ToString(), status.error());
        CountOperation(a.type, false);
        return;
      }
    }
    CountOperation(a.type, true);
    if (metrics_) metrics_->SetTokenExpiry(a.registry_name, a.key.name, std::nullopt);
    spdlog::info(ActionLine(a, "done"));
    if (a.record) {
      std::lock_guard<std::mutex> lock(forget_mu);
      forget.push_back(a.key);
    }
    std::lock_guard<std::mutex> lock(mu_);
    held_.erase(a.key);
  });
  if (!forget.empty()) {
    if (Status flushed = sink_.Flush(); !flushed.ok()) {
      // The records stay: the next pass deletes (and syncs) their secrets again.
      ctx.AddError("syncing secrets: " + flushed.error().ToString(), true);
    } else if (Status status = state_.RemoveAll(forget); !status.ok()) {
      ctx.AddError("ownership records: " + status.error().ToString(), true);
    }
  }
}

}  // namespace crtoken
