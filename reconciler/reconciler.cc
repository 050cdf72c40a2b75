#include "reconciler/reconciler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <set>
#include <thread>
#include <utility>

#include "reconciler/log_fields.h"
#include "reconciler/parallel_for.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

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
    case ActionType::kRotate:
      return 4;
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

// The keys of a spec's tokens into `keys`: its own, and its slots' when it has overlap.
void InsertKeys(const TokenSpec& spec, std::set<TokenKey>& keys) {
  keys.insert(TokenKey{spec.registry_id, spec.name});
  if (!spec.overlap) return;
  for (const std::string& slot : SlotNames(spec.name))
    keys.insert(TokenKey{spec.registry_id, slot});
}

// Token ids compare without regard to case; the API writes them lower-case.
std::string LowerCase(std::string id) {
  for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return id;
}

// The registries of the account by id and by name, from one ListRegistries().
struct RegistryDirectory {
  std::map<std::string, RegistryInfo> by_id;
  std::map<std::string, std::vector<const RegistryInfo*>> by_name;

  explicit RegistryDirectory(std::vector<RegistryInfo> all) {
    for (RegistryInfo& info : all) {
      std::string id = info.id;
      by_id[id] = std::move(info);
    }
    for (const auto& [id, info] : by_id) by_name[info.name].push_back(&info);
  }

  // The registry a spec names: by id when it has one, else by name. Not found when the complete
  // list lacks it; an error when two registries carry the name.
  Result<RegistryInfo> Resolve(const TokenSpec& spec) const {
    if (!spec.registry_id.empty()) {
      auto it = by_id.find(spec.registry_id);
      if (it == by_id.end()) {
        return Error{ErrorKind::kNotFound, "no registry with id " + spec.registry_id};
      }
      return it->second;
    }
    auto it = by_name.find(spec.registry);
    if (it == by_name.end()) {
      return Error{ErrorKind::kNotFound, "no registry named '" + spec.registry + "'"};
    }
    if (it->second.size() > 1) {
      std::string ids;
      for (const RegistryInfo* info : it->second) ids += (ids.empty() ? "" : ", ") + info->id;
      return Error{ErrorKind::kInvalid, std::to_string(it->second.size()) +
                                            " registries are named '" + spec.registry + "' (" +
                                            ids + "); declare spec.registryId instead"};
    }
    return *it->second.front();
  }
};

// A registry that no longer exists: visited with no tokens, so that the secrets recording it go.
RegistryInfo GoneRegistry(const std::string& id) { return RegistryInfo{id, "", "", "gone"}; }

}  // namespace

// Everything one pass reads and decides, plus what its parallel actions report back.
struct Reconciler::PassContext {
  const DesiredState* desired = nullptr;
  std::vector<std::string> refs;

  // Selected specs, registry_id filled in where the registry was resolved.
  std::vector<TokenSpec> specs;
  // Registries to visit by id (whether or not their token list can be read): the resolved ones,
  // and those the owner's secrets record.
  std::map<std::string, RegistryInfo> registries;
  // Registries that no longer exist (a lookup by id answered 404): observed with no tokens.
  std::set<std::string> gone;
  // Registries whose token list was read completely.
  std::map<std::string, ObservedRegistry> observed;
  // Refs (names or ids as declared) that could not be resolved, with the specs that use them.
  std::map<std::string, std::vector<TokenSpec>> unresolved;
  // The owner's secrets (every registry), and whether they could be listed.
  std::vector<ListedSecret> listed;
  bool secrets_listed = false;
  std::map<TokenKey, SecretState> secrets;
  std::set<TokenKey> held_keys;
  // Tokens missing from their list whose lookup by id failed: nothing of their key (secrets, held
  // password) is dropped or acted on in this pass.
  std::set<TokenKey> unconfirmed;
  Plan plan;

  std::mutex mu;  // guards what follows while actions run in parallel
  std::vector<std::string> errors;
  bool transient = false;
  int write_requests = 0;
  int actions_failed = 0;
  bool secrets_deleted = false;
  std::map<TokenKey, std::optional<Instant>> issued_expiry;  // of lifetime tokens issued this pass
  std::map<TokenKey, std::string> failures;                  // failed actions: what failed and why

  // One action of the plan has completed (whatever the outcome): reports the pass's progress.
  void ActionDone(const std::function<void(const PassProgress&)>& on_progress) {
    std::lock_guard<std::mutex> lock(progress_mu);
    ++progress.done;
    if (on_progress) on_progress(progress);
  }
  std::mutex progress_mu;  // guards progress
  PassProgress progress;

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
  void SecretDeleted() {
    std::lock_guard<std::mutex> lock(mu);
    secrets_deleted = true;
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

Reconciler::Reconciler(RegistryApi& api, SecretSink& sink, const Clock& clock, Metrics* metrics,
                       ReconcilerConfig config)
    : api_(api), sink_(sink), clock_(clock), metrics_(metrics), config_(std::move(config)) {}

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

SecretRecord Reconciler::RecordOf(const TokenKey& key, const std::string& token_id) const {
  return SecretRecord{config_.policy.owner, key.registry_id, key.name, token_id};
}

Result<std::vector<std::string>> Reconciler::RegistryRefs(const DesiredState& desired) {
  std::vector<std::string> refs;
  std::set<std::string> names;
  for (const auto& spec : desired.specs) {
    const std::string& ref = spec.registry_id.empty() ? spec.registry : spec.registry_id;
    if (!spec.registry.empty()) names.insert(spec.registry);
    if (!ref.empty() && !Contains(refs, ref)) refs.push_back(ref);
  }
  auto listed = sink_.List(config_.policy.owner);
  if (!listed.ok()) return listed.error();
  std::set<std::string> ids;
  for (const auto& secret : listed.value()) {
    const std::string& id = secret.record.registry_id;
    if (IsUuid(id) && !Contains(refs, id)) ids.insert(id);
  }
  if (ids.empty()) return refs;
  std::map<std::string, std::string> known;
  {
    std::lock_guard<std::mutex> lock(mu_);
    known = registry_names_;
  }
  if (std::any_of(ids.begin(), ids.end(),
                  [&](const std::string& id) { return !known.count(id); })) {
    // A registry no pass has seen yet: its name decides whether a declared ref covers it.
    if (auto all = api_.ListRegistries(); all.ok()) {
      known.clear();
      for (const auto& info : all.value()) known[info.id] = info.name;
      std::lock_guard<std::mutex> lock(mu_);
      registry_names_ = known;
    }
  }
  for (const std::string& id : ids) {
    auto it = known.find(id);
    if (it != known.end() && names.count(it->second)) continue;  // visited under its name
    refs.push_back(id);
  }
  return refs;
}

// Resolves every declared registry with one ListRegistries(), and selects the specs and the
// registries of the pass. The owner's secrets must be listed first: the registries they record are
// visited too.
void Reconciler::ReadRegistries(PassContext& ctx) {
  const auto& refs = ctx.refs;
  auto all = api_.ListRegistries();
  if (!all.ok()) {
    const std::string message = "listing registries failed: " + all.error().ToString();
    spdlog::warn(message);
    ctx.AddError(message, all.error().Transient());
    for (const auto& spec : ctx.desired->specs) {
      const std::string& ref = spec.registry_id.empty() ? spec.registry : spec.registry_id;
      if (refs.empty() || Contains(refs, ref)) ctx.unresolved[ref].push_back(spec);
    }
    return;
  }
  const RegistryDirectory directory(std::move(all.value()));
  {
    std::lock_guard<std::mutex> lock(mu_);
    registry_names_.clear();
    for (const auto& [id, info] : directory.by_id) registry_names_[id] = info.name;
  }
  // One registry may be declared by name in some specs and by id in others, and the daemon passes
  // one ref as written: every spec of a selected registry belongs to this pass, or its token would
  // look undeclared here and be pruned.
  auto selected = [&](const RegistryInfo& info) {
    return refs.empty() || Contains(refs, info.name) || Contains(refs, info.id);
  };
  std::map<std::string, Error> failed;  // ref -> why it could not be resolved
  for (const auto& spec_in : ctx.desired->specs) {
    const std::string& ref = spec_in.registry_id.empty() ? spec_in.registry : spec_in.registry_id;
    auto info = directory.Resolve(spec_in);
    if (!info.ok()) {
      if (!refs.empty() && !Contains(refs, ref)) continue;
      failed.emplace(ref, info.error());
      ctx.unresolved[ref].push_back(spec_in);
      continue;
    }
    if (!selected(info.value())) continue;
    TokenSpec spec = spec_in;
    spec.registry_id = info.value().id;
    ctx.registries[info.value().id] = info.value();
    ctx.specs.push_back(std::move(spec));
  }
  for (const auto& [ref, error] : failed) {
    const std::string message = "registry " + ref + ": lookup failed: " + error.ToString();
    spdlog::warn(WithFields(message, {{"registry", ref}}));
    ctx.AddError(message, error.Transient());
  }

  // The registries the owner's secrets record: a registry no spec names any more is pruned too.
  // (Not one that a spec declares by an id the list lacks: that spec's error stands, and the
  // registry is not visited until it is corrected.)
  std::set<std::string> unlisted;
  for (const auto& secret : ctx.listed) {
    const std::string& id = secret.record.registry_id;
    if (ctx.registries.count(id) || unlisted.count(id) || ctx.unresolved.count(id)) continue;
    auto it = directory.by_id.find(id);
    if (it != directory.by_id.end()) {
      if (selected(it->second)) ctx.registries[id] = it->second;
      continue;
    }
    if (!refs.empty() && !Contains(refs, id)) continue;
    if (!IsUuid(id)) {
      spdlog::warn(WithFields("secret " + secret.ref.ToString() + " records registry id '" + id +
                                  "', which is not a registry id; the secret is left alone",
                              {{"registry", id}}));
      continue;
    }
    unlisted.insert(id);
  }
  // Missing from the complete list: gone, or missed by a list read page by page. Looked up by id
  // before its secrets are dropped as those of a gone registry.
  std::vector<std::string> ids(unlisted.begin(), unlisted.end());
  std::vector<std::optional<Result<RegistryInfo>>> found(ids.size());
  ParallelFor(ids.size(), config_.parallelism,
              [&](size_t i) { found[i].emplace(api_.GetRegistry(ids[i])); });
  for (size_t i = 0; i < ids.size(); ++i) {
    const Result<RegistryInfo>& got = *found[i];
    if (got.ok()) {
      ctx.registries[ids[i]] = got.value();
    } else if (got.error().kind == ErrorKind::kNotFound) {
      spdlog::info(WithFields(
          "registry " + ids[i] + " no longer exists; the secrets that record it are deleted",
          {{"registry", ids[i]}}));
      ctx.registries[ids[i]] = GoneRegistry(ids[i]);
      ctx.gone.insert(ids[i]);
    } else {
      const std::string message =
          "registry " + ids[i] + ": lookup failed: " + got.error().ToString();
      spdlog::warn(WithFields(message, {{"registry", ids[i]}}));
      ctx.AddError(message, got.error().Transient());
    }
  }
}

// One SecretSink::List per pass. A failure holds every delete of the pass back (the planner sees
// secrets_listed false) and is an error of the pass.
void Reconciler::ListSecrets(PassContext& ctx) {
  auto listed = sink_.List(config_.policy.owner);
  if (!listed.ok()) {
    const std::string message =
        "listing the secrets of owner " + config_.policy.owner +
        " failed (nothing is deleted until they can be listed): " + listed.error().ToString();
    spdlog::warn(message);
    ctx.AddError(message, listed.error().Transient());
    return;
  }
  ctx.listed = std::move(listed.value());
  ctx.secrets_listed = true;
}

PassResult Reconciler::Reconcile(const DesiredState& desired,
                                 const std::vector<std::string>& registry_refs) {
  const auto started = clock_.Monotonic();
  PassContext ctx;
  ctx.desired = &desired;
  ctx.refs = registry_refs;
  ListSecrets(ctx);
  ReadRegistries(ctx);

  // Serialise passes that share a registry; lock in id order so two passes cannot deadlock.
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const auto& [id, _] : ctx.registries) locks.emplace_back(RegistryLock(id));

  // List every visited registry's tokens. A failed list leaves the registry out of `observed`.
  {
    std::vector<const RegistryInfo*> infos;
    for (const auto& [id, info] : ctx.registries) {
      if (ctx.gone.count(id)) {
        ctx.observed[id] = ObservedRegistry{info, {}};
      } else {
        infos.push_back(&info);
      }
    }
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
  if (!config_.dry_run) ReplicateFanOut(ctx);

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
    o.listed = ctx.listed;
    o.secrets_listed = ctx.secrets_listed;
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
    if (config_.on_progress && !ctx.plan.actions.empty()) {
      ctx.progress.total = static_cast<int>(ctx.plan.actions.size());
      config_.on_progress(ctx.progress);
    }
    Act(ctx);
  }

  PassResult result;
  result.plan = std::move(ctx.plan);
  result.next_expiry = result.plan.next_expiry;
  result.write_requests = ctx.write_requests;
  result.actions_failed = ctx.actions_failed;
  for (const auto& [id, _] : ctx.observed) {
    if (!ctx.gone.count(id)) result.registry_ids.push_back(id);
  }
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
  int by_type[5] = {0, 0, 0, 0, 0};
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
                           {"rotate", std::to_string(by_type[4])},
                           {"failed", std::to_string(result.actions_failed)},
                           {"errors", std::to_string(result.errors.size())},
                           {"secrets_waiting", std::to_string(result.secrets_waiting)},
                           {"write_requests", std::to_string(result.write_requests)},
                           {"seconds", took}}));
  return result;
}

// A token list is read page by page, by offset: when another client deletes a token of an earlier
// page meanwhile, the later pages shift and one live token is never seen. So a token this owner
// still needs to know about, missing from its registry's list, is looked up by id (GetToken) before
// the pass acts on its absence by dropping something:
// - the token a secret of the owner records, for a key no spec declares (its token gone, or its
//   name now held by another id): found, it is added to the observed tokens as if listed, and the
//   planner deletes it (DELETE, then its secrets) instead of orphaning it;
// - the token of a held password (FlushHeld drops the password of a token that is gone).
// Not found (kNotFound): gone, as the list said. Any other error: its key is protected for this
// pass (secrets and held password kept, nothing planned for it) and the pass fails.
//
// A declared token without a held password is not looked up. Its absence plans a create, which is
// safe on a missed token: the PUT goes to the id of a generation no secret records, and the API
// refuses a second token with the name (409); the secret is only written after a PUT that
// succeeded. Re-issues and updates act only on tokens the list showed, by their id.
void Reconciler::ConfirmUnlisted(PassContext& ctx) {
  struct Unlisted {
    TokenKey key;
    std::string token_id;
  };
  std::vector<Unlisted> candidates;
  {
    std::set<TokenKey> declared;
    for (const auto& spec : ctx.specs) InsertKeys(spec, declared);
    // Under prune none no secret is dropped: looking them up would only cost a request per pass.
    if (config_.policy.prune != PruneMode::kNone) {
      for (const auto& secret : ctx.listed) {
        const TokenKey key{secret.record.registry_id, secret.record.token_name};
        if (!declared.count(key) && ctx.observed.count(key.registry_id) &&
            !ctx.gone.count(key.registry_id) && IsUuid(secret.record.token_id)) {
          candidates.push_back(Unlisted{key, secret.record.token_id});
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [key, held] : held_) {
      // An undeclared key's password is dropped anyway.
      if (declared.count(key) && ctx.observed.count(key.registry_id) &&
          !ctx.gone.count(key.registry_id)) {
        candidates.push_back(Unlisted{key, held.token_id});
      }
    }
  }
  if (candidates.empty()) return;  // the steady state: every secret is of a declared token
  std::set<std::pair<std::string, std::string>> listed;  // (registry id, lower-case token id)
  for (const auto& [id, registry] : ctx.observed) {
    for (const auto& token : registry.tokens) listed.emplace(id, LowerCase(token.id));
  }
  std::vector<Unlisted> unlisted;
  for (auto& c : candidates) {
    if (listed.emplace(c.key.registry_id, LowerCase(c.token_id)).second) {
      unlisted.push_back(std::move(c));  // (once: two secrets may record one token)
    }
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
                               "secrets are kept: " +
                               got.error().ToString();
      spdlog::warn(KeyLine(registry_name, key, text));
      ctx.AddError(KeyName(registry_name, key) + ": " + text, got.error().Transient());
      ctx.unconfirmed.insert(key);
    }
  }
}

// Writes the secrets of held passwords whose registry hostname is now known, with their record,
// and makes them durable. A held password whose spec or token went away is dropped: it can never
// be used.
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
        return LowerCase(t.id) == LowerCase(it->second.token_id);
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
  std::vector<TokenKey> written;
  for (const auto& p : pending) {
    Password password;
    std::string token_id;
    std::string token_name;
    {
      std::lock_guard<std::mutex> lock(mu_);
      password = held_.at(p.key).password.Clone();
      token_id = held_.at(p.key).token_id;
      token_name = held_.at(p.key).token_name;
    }
    Status status =
        sink_.Write(p.spec->secret,
                    DockerCredential{p.hostname, token_name, std::move(password),
                                     RecordOf(TokenKey{p.key.registry_id, token_name}, token_id)});
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
    written.push_back(p.key);
  }
  if (written.empty()) return;
  if (Status flushed = sink_.Flush(); !flushed.ok()) {
    ctx.AddError("syncing secrets: " + flushed.error().ToString(), true);
    return;  // still held: written and synced again next pass
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const TokenKey& key : written) held_.erase(key);
}

// How one create (or re-issue) ended. Defined before Act, whose vector of them needs the whole
// type (clang insists).
struct Reconciler::CreateOutcome {
  enum { kFailed, kReady, kHeld } state = kFailed;
  Password password;  // kReady / kHeld
};

// The plan's actions in the order that keeps every step crash-safe: re-issued tokens deleted, new
// tokens PUT and their secrets written (updates alongside), the secrets made durable, undeclared
// tokens deleted before their secrets.
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
      case ActionType::kRotate:  // may delete a token that occupies the idle slot first
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
  std::vector<CreateOutcome> outcomes = CreateAndUpdate(ctx, creates, updates);
  DeliverCreated(ctx, creates, outcomes);
  DeleteUndeclared(ctx, deletes);
  if (ctx.secrets_deleted) {
    // A delete that a crash undoes brings back a secret of a gone token: the next pass deletes it
    // again. The sync only makes the pass's report true.
    if (Status flushed = sink_.Flush(); !flushed.ok()) {
      ctx.AddError("syncing secrets: " + flushed.error().ToString(), true);
    }
  }
}

void Reconciler::Hook(std::string_view point) const {
  if (config_.test_hook) config_.test_hook(point);
}

void Reconciler::CountOperation(ActionType type, bool ok) const {
  if (metrics_) metrics_->CountTokenOperation(type, ok);
}

// Reports one completed action when it goes out of scope, whichever way the action's code returns.
struct Reconciler::ProgressOnExit {
  PassContext& ctx;
  const std::function<void(const PassProgress&)>& on_progress;
  ~ProgressOnExit() { ctx.ActionDone(on_progress); }
};

// Re-issue starts by deleting the token whose password is lost. A crash right after leaves no
// token and a secret recording the old generation, which the next pass repairs with a create of
// the next one. The re-issues whose old token is gone join `creates`.
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
      if (metrics_ && a.type == ActionType::kRotate) metrics_->CountRotation(false);
      ctx.ActionDone(config_.on_progress);
      return;
    }
    Hook("after-delete");
    deleted[i] = 1;
  });
  for (size_t i = 0; i < reissues.size(); ++i) {
    if (deleted[i]) creates.push_back(reissues[i]);
  }
}

// PUT each new token under its id and write its secret with its record at once; updates run
// alongside. One outcome per create, in order.
std::vector<Reconciler::CreateOutcome> Reconciler::CreateAndUpdate(
    PassContext& ctx, const std::vector<const Action*>& creates,
    const std::vector<const Action*>& updates) {
  std::vector<CreateOutcome> outcomes(creates.size());
  const size_t total = creates.size() + updates.size();
  ParallelFor(total, config_.parallelism, [&](size_t i) {
    const ProgressOnExit progress{ctx, config_.on_progress};
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
    const TokenSpec& spec = *a.spec;
    ctx.AddWrites(1);
    TokenFields fields = FieldsOf(spec, Now(clock_));
    fields.name = a.IssueName();  // a slot's name, for a spec with overlap
    auto created = api_.CreateToken(a.key.registry_id, a.new_token_id, fields);
    if (!created.ok() && created.error().kind == ErrorKind::kConflict && a.slot.empty() &&
        (spec.adopt || config_.policy.adopt_all)) {
      // The name was taken after our list (or the list was stale): adopt it by re-issue. Never a
      // token whose id carries this owner's mark for another name (forged or collided).
      auto tokens = api_.ListTokens(a.key.registry_id);
      if (tokens.ok()) {
        for (const auto& t : tokens.value()) {
          if (t.name != spec.name || LowerCase(t.id) == LowerCase(a.new_token_id)) continue;
          if (ClassifyTokenId(config_.policy.owner, a.key.registry_id, t.name, t.id).cls ==
              TokenIdClass::kCollided) {
            break;
          }
          spdlog::info(ActionLine(a, "name taken by token " + t.id + ", adopting it by re-issue"));
          ctx.AddWrites(2);
          Status deleted = api_.DeleteToken(a.key.registry_id, t.id);
          if (deleted.ok()) {
            Hook("after-delete");
            created = api_.CreateToken(a.key.registry_id, a.new_token_id, fields);
          }
          break;
        }
      }
    }
    if (!created.ok()) {
      // Nothing to undo: after a definite refusal nothing was created; after a transient failure
      // the PUT may have happened, and the next pass sees the token, owned, with no secret
      // recording it, and re-issues it.
      ctx.ActionFailed(a, "PUT", created.error());
      CountOperation(a.type, false);
      return;
    }
    Hook("after-put");
    CountOperation(a.type, true);
    if (spec.lifetime) ctx.SetIssuedExpiry(TokenKey{a.key.registry_id, fields.name}, fields.expiry);
    Password password = std::move(created.value().password);
    if (password.empty()) {
      // The token exists and no secret records it: the next pass re-issues it.
      ctx.ActionFailed(a, "PUT", Error{ErrorKind::kUnavailable, "the API returned no password"});
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
    DockerCredential credential{info.hostname, fields.name, std::move(password),
                                RecordOf(TokenKey{a.key.registry_id, fields.name}, a.new_token_id)};
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

// Makes the secrets written this pass durable with one sync before anything counts as delivered:
// a failed sync holds their passwords (written again next pass). Then the secrets a key left at a
// place its spec no longer writes are deleted, and the passwords of held tokens are kept.
void Reconciler::DeliverCreated(PassContext& ctx, const std::vector<const Action*>& creates,
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
  for (size_t i = 0; i < creates.size(); ++i) {
    if (metrics_ && creates[i]->type == ActionType::kRotate) {
      // Done when the new slot's secret is durable; a held password is finished by a later pass.
      metrics_->CountRotation(outcomes[i].state == CreateOutcome::kReady);
    }
    if (outcomes[i].state != CreateOutcome::kReady) continue;
    for (const SecretRef& ref : creates[i]->delete_secrets) DeleteSecret(ctx, *creates[i], ref);
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < creates.size(); ++i) {
    const TokenKey& key = creates[i]->key;
    if (outcomes[i].state == CreateOutcome::kHeld) {
      // The token exists and this process is the only holder of its password: keep it until
      // the sink has it, durably.
      held_[key] = Held{creates[i]->new_token_id, std::move(outcomes[i].password),
                        creates[i]->registry_name, creates[i]->IssueName()};
    } else {
      held_.erase(key);  // the token the held password belonged to is gone or replaced
    }
  }
  outcomes.clear();  // wipes the passwords already written and synced (held ones moved to held_)
}

// A fan-out secret whose token is delivered (some copy records the live token and holds its
// password) is brought in line in every namespace it targets (SecretSink::Replicate), before the
// plan acts: a namespace that became a target gets the password from a copy, never from a new
// token, and the copies of a place the spec no longer writes are rewritten for the new one before
// that old place is deleted. A namespace that fails is this token's error in the pass; the others
// are written, and nothing is re-issued for it.
void Reconciler::ReplicateFanOut(PassContext& ctx) {
  struct Job {
    const TokenSpec* spec;
    SecretRecord record;
  };
  std::vector<Job> jobs;
  for (const TokenSpec& spec : ctx.specs) {
    if (!spec.secret.FanOut()) continue;
    const TokenKey key{spec.registry_id, spec.name};
    auto secret = ctx.secrets.find(key);
    auto registry = ctx.observed.find(spec.registry_id);
    if (secret == ctx.secrets.end() || registry == ctx.observed.end()) continue;
    const SecretState& state = secret->second;
    // The token the copies carry: the spec's own, or with overlap the slot that serves it now.
    const std::string& carried = state.record.token_name;
    const std::vector<std::string> slots =
        spec.overlap ? SlotNames(spec.name) : std::vector<std::string>{};
    const bool named =
        carried == spec.name || std::find(slots.begin(), slots.end(), carried) != slots.end();
    if (!state.has_password || !named ||
        state.record != RecordOf(TokenKey{spec.registry_id, carried}, state.record.token_id)) {
      continue;
    }
    const bool live = std::any_of(
        registry->second.tokens.begin(), registry->second.tokens.end(), [&](const auto& token) {
          return token.name == carried && LowerCase(token.id) == LowerCase(state.record.token_id);
        });
    if (live) jobs.push_back(Job{&spec, state.record});
  }
  std::vector<Status> done(jobs.size());
  ParallelFor(jobs.size(), config_.parallelism,
              [&](size_t i) { done[i] = sink_.Replicate(jobs[i].spec->secret, jobs[i].record); });
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (done[i].ok()) continue;
    const TokenSpec& spec = *jobs[i].spec;
    const std::string message = "token " + spec.name + ": secret " + spec.secret.ToString() + ": " +
                                done[i].error().ToString();
    spdlog::warn(WithFields(message, {{"token", spec.name}}));
    ctx.AddError(message, done[i].error().Transient());
    std::lock_guard<std::mutex> lock(ctx.mu);
    ctx.failures[TokenKey{spec.registry_id, spec.name}] =
        "replicating secret failed: " + done[i].error().ToString();
  }
}

bool Reconciler::DeleteSecret(PassContext& ctx, const Action& action, const SecretRef& ref) {
  // Defence in depth: a place any spec writes (of this pass or another) is that spec's.
  for (const auto& spec : ctx.desired->specs) {
    if (spec.secret == ref) return true;
  }
  Status status = sink_.Delete(ref);
  if (!status.ok()) {
    ctx.ActionFailed(action, "deleting secret " + ref.ToString(), status.error());
    return false;
  }
  ctx.SecretDeleted();
  return true;
}

// Deletes last, so a renamed token's new name exists before the old one goes. The token goes
// before its secrets: a crash in between leaves secrets of a gone token, never a token whose owner
// is forgotten.
void Reconciler::DeleteUndeclared(PassContext& ctx, const std::vector<const Action*>& deletes) {
  std::set<TokenKey> declared;
  for (const auto& spec : ctx.specs) InsertKeys(spec, declared);
  ParallelFor(deletes.size(), config_.parallelism, [&](size_t i) {
    const ProgressOnExit progress{ctx, config_.on_progress};
    const Action& a = *deletes[i];
    if (!a.token_id.empty()) {
      ctx.AddWrites(1);
      Status status = api_.DeleteToken(a.key.registry_id, a.token_id);
      if (!status.ok()) {
        ctx.ActionFailed(a, "DELETE", status.error());
        CountOperation(a.type, false);
        return;
      }
      Hook("after-delete");
    }
    bool ok = true;
    for (const SecretRef& ref : a.delete_secrets) ok = DeleteSecret(ctx, a, ref) && ok;
    CountOperation(a.type, ok);
    if (!ok) return;  // the secrets left are listed again next pass, and deleted then
    if (metrics_ && !declared.count(a.key)) {
      metrics_->SetTokenExpiry(a.registry_name, a.key.name, std::nullopt);
    }
    spdlog::info(ActionLine(a, "done"));
    if (!a.token_id.empty()) {
      std::lock_guard<std::mutex> lock(mu_);
      held_.erase(a.key);
    }
  });
}

}  // namespace crtoken
