#include "reconciler/metrics.h"

#include <set>

namespace crtoken {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// Latencies from a loopback call (~0.5 ms) to a slow API with retries (minutes).
Histogram::BucketBoundaries ApiBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}
Histogram::BucketBoundaries PassBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
}

}  // namespace

Metrics::Metrics(std::shared_ptr<prometheus::Registry> registry)
    : registry_(std::move(registry)),
      api_requests_(BuildCounter()
                        .Name("crtoken_api_requests_total")
                        .Help("Requests sent to the Container Registry API, by method and status "
                              "code (\"error\": no answer)")
                        .Register(*registry_)),
      api_duration_(BuildHistogram()
                        .Name("crtoken_api_request_duration_seconds")
                        .Help("Duration of one API request attempt, by method")
                        .Register(*registry_)),
      reconciles_(BuildCounter()
                      .Name("crtoken_reconcile_total")
                      .Help("Reconcile passes, by result")
                      .Register(*registry_)),
      reconcile_duration_(BuildHistogram()
                              .Name("crtoken_reconcile_duration_seconds")
                              .Help("Duration of a reconcile pass")
                              .Register(*registry_)
                              .Add({}, PassBuckets())),
      token_operations_(BuildCounter()
                            .Name("crtoken_token_operations_total")
                            .Help("Token operations performed, by operation and result")
                            .Register(*registry_)),
      token_rotations_(BuildCounter()
                           .Name("crtoken_token_rotations_total")
                           .Help("Rotations of tokens with spec.overlap (a new slot issued and its "
                                 "secret written), by result")
                           .Register(*registry_)),
      slot_expiry_(BuildGauge()
                       .Name("crtoken_token_slot_expiry_timestamp_seconds")
                       .Help("Expiry of each live slot token of a token with spec.overlap, as a "
                             "Unix timestamp")
                       .Register(*registry_)),
      secret_writes_(BuildCounter()
                         .Name("crtoken_secret_writes_total")
                         .Help("Secret writes, by sink and result")
                         .Register(*registry_)),
      tokens_(BuildGauge()
                  .Name("crtoken_tokens")
                  .Help("Tokens by state: in_sync, pending, error, unmanaged")
                  .Register(*registry_)),
      token_expiry_(BuildGauge()
                        .Name("crtoken_token_expiry_timestamp_seconds")
                        .Help("Declared expiry of each managed token, as a Unix timestamp")
                        .Register(*registry_)),
      token_renewal_(BuildGauge()
                         .Name("crtoken_token_renewal_timestamp_seconds")
                         .Help("When each managed token with a lifetime is due for renewal, as a "
                               "Unix timestamp")
                         .Register(*registry_)),
      token_state_(BuildGauge()
                       .Name("crtoken_token_state")
                       .Help("State of each declared token after the last pass (value 1, the "
                             "state as a label: in_sync, pending, error)")
                       .Register(*registry_)),
      spec_errors_(BuildGauge()
                       .Name("crtoken_spec_errors")
                       .Help("Spec errors in force (files that fail to load keep their last good "
                             "state)")
                       .Register(*registry_)
                       .Add({})),
      last_success_(BuildGauge()
                        .Name("crtoken_last_success_timestamp_seconds")
                        .Help("When the last fully successful reconcile pass ended (Unix time)")
                        .Register(*registry_)
                        .Add({})),
      secrets_waiting_(BuildGauge()
                           .Name("crtoken_secrets_waiting")
                           .Help("Passwords held in memory, waiting for a registry hostname or a "
                                 "working sink")
                           .Register(*registry_)
                           .Add({})),
      leader_(BuildGauge()
                  .Name("crtoken_leader")
                  .Help("1 on the replica that may write (the leader), 0 on a standby")
                  .Register(*registry_)),
      leadership_changes_(BuildCounter()
                              .Name("crtoken_leadership_changes_total")
                              .Help("Leadership gained and lost by this process, by change")
                              .Register(*registry_)),
      secret_namespaces_(BuildGauge()
                             .Name("crtoken_secret_namespaces")
                             .Help("Target namespaces of fan-out secrets by the result of their "
                                   "last write: written, forbidden, terminating, missing, failed")
                             .Register(*registry_)) {
  // Pre-create the series users alert on, so that they read 0 rather than being absent.
  for (const char* result : {"success", "error"}) {
    reconciles_.Add({{"result", result}});
    token_rotations_.Add({{"result", result}});
  }
  for (const char* result : {"written", "forbidden", "terminating", "missing", "failed"}) {
    secret_namespaces_.Add({{"result", result}});
  }
  for (const char* state : {"in_sync", "pending", "error", "unmanaged"}) {
    tokens_.Add({{"state", state}});
  }
}

void Metrics::SetLeader(bool leading, const std::string& lease) {
  std::lock_guard<std::mutex> lock(leader_mu_);
  if (leader_series_ == nullptr) {
    leader_series_ = lease.empty() ? &leader_.Add({}) : &leader_.Add({{"lease", lease}});
    for (const char* change : {"gained", "lost"}) leadership_changes_.Add({{"change", change}});
  }
  if (leading_ == leading) return;
  leading_ = leading;
  leader_series_->Set(leading ? 1 : 0);
  leadership_changes_.Add({{"change", leading ? "gained" : "lost"}}).Increment();
}

void Metrics::ObserveApiRequest(const std::string& method, int code, double seconds) {
  api_requests_.Add({{"method", method}, {"code", code == 0 ? "error" : std::to_string(code)}})
      .Increment();
  api_duration_.Add({{"method", method}}, ApiBuckets()).Observe(seconds);
}

void Metrics::ObserveReconcile(bool success, double seconds) {
  reconciles_.Add({{"result", success ? "success" : "error"}}).Increment();
  reconcile_duration_.Observe(seconds);
}

void Metrics::CountTokenOperation(ActionType type, bool success) {
  token_operations_
      .Add({{"operation", ActionTypeName(type)}, {"result", success ? "success" : "error"}})
      .Increment();
}

void Metrics::CountRotation(bool success) {
  token_rotations_.Add({{"result", success ? "success" : "error"}}).Increment();
}

void Metrics::CountSecretWrite(SecretRef::Kind sink, bool success) {
  secret_writes_
      .Add({{"sink", sink == SecretRef::Kind::kKubernetes ? "kubernetes" : "file"},
            {"result", success ? "success" : "error"}})
      .Increment();
}

void Metrics::SetTokenCounts(const std::string& scope, const PlanCounts& counts) {
  std::lock_guard<std::mutex> lock(mu_);
  counts_by_scope_[scope] = counts;
  PlanCounts sum;
  for (const auto& [_, c] : counts_by_scope_) {
    sum.in_sync += c.in_sync;
    sum.pending += c.pending;
    sum.error += c.error;
    sum.unmanaged += c.unmanaged;
  }
  tokens_.Add({{"state", "in_sync"}}).Set(sum.in_sync);
  tokens_.Add({{"state", "pending"}}).Set(sum.pending);
  tokens_.Add({{"state", "error"}}).Set(sum.error);
  tokens_.Add({{"state", "unmanaged"}}).Set(sum.unmanaged);
}

void Metrics::SetInstantLocked(prometheus::Family<prometheus::Gauge>& family,
                               std::map<SeriesKey, prometheus::Gauge*>& series,
                               const SeriesKey& key, std::optional<Instant> value) {
  auto it = series.find(key);
  if (!value) {
    if (it != series.end()) {
      family.Remove(it->second);
      series.erase(it);
    }
    return;
  }
  if (it == series.end()) {
    it = series.emplace(key, &family.Add({{"registry", key.first}, {"token", key.second}})).first;
  }
  it->second->Set(static_cast<double>(value->time_since_epoch().count()));
}

void Metrics::SetSlotsLocked(const SeriesKey& key, const std::map<std::string, Instant>& slots) {
  std::map<std::string, prometheus::Gauge*>& series = slot_series_[key];
  for (auto it = series.begin(); it != series.end();) {
    if (slots.count(it->first) > 0) {
      ++it;
      continue;
    }
    slot_expiry_.Remove(it->second);
    it = series.erase(it);
  }
  for (const auto& [slot, expiry] : slots) {
    prometheus::Gauge*& gauge = series[slot];
    if (gauge == nullptr) {
      gauge = &slot_expiry_.Add({{"registry", key.first}, {"token", key.second}, {"slot", slot}});
    }
    gauge->Set(static_cast<double>(expiry.time_since_epoch().count()));
  }
  if (series.empty()) slot_series_.erase(key);
}

void Metrics::SetTokenExpiry(const std::string& registry, const std::string& token,
                             std::optional<Instant> expiry) {
  std::lock_guard<std::mutex> lock(mu_);
  const SeriesKey key(registry, token);
  SetInstantLocked(token_expiry_, expiry_series_, key, expiry);
  if (!expiry) SetInstantLocked(token_renewal_, renewal_series_, key, std::nullopt);
}

void Metrics::SetTokenStates(const std::string& scope,
                             const std::vector<DeclaredTokenState>& tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  std::set<SeriesKey> declared;
  for (const DeclaredTokenState& t : tokens) {
    const SeriesKey key(t.registry, t.token);
    declared.insert(key);
    StateSeries& s = state_series_[key];
    if (s.gauge != nullptr && s.state != t.state) {
      token_state_.Remove(s.gauge);
      s.gauge = nullptr;
    }
    if (s.gauge == nullptr) {
      s.gauge = &token_state_.Add(
          {{"registry", t.registry}, {"token", t.token}, {"state", TokenStateName(t.state)}});
    }
    s.gauge->Set(1);
    s.state = t.state;
    s.scope = scope;
    if (t.registry_read) {
      SetInstantLocked(token_expiry_, expiry_series_, key, t.expiry);
      SetInstantLocked(token_renewal_, renewal_series_, key, t.renewal);
      SetSlotsLocked(key, t.slot_expiry);
    }
  }
  for (auto it = state_series_.begin(); it != state_series_.end();) {
    if (it->second.scope != scope || declared.count(it->first)) {
      ++it;
      continue;
    }
    token_state_.Remove(it->second.gauge);
    SetInstantLocked(token_expiry_, expiry_series_, it->first, std::nullopt);
    SetInstantLocked(token_renewal_, renewal_series_, it->first, std::nullopt);
    SetSlotsLocked(it->first, {});
    it = state_series_.erase(it);
  }
}

void Metrics::SetSpecErrors(int errors) { spec_errors_.Set(errors); }

void Metrics::SetLastSuccess(Instant when) {
  last_success_.Set(static_cast<double>(when.time_since_epoch().count()));
}

void Metrics::SetSecretsWaiting(const std::string& scope, int waiting) {
  std::lock_guard<std::mutex> lock(mu_);
  waiting_by_scope_[scope] = waiting;
  int sum = 0;
  for (const auto& [_, n] : waiting_by_scope_) sum += n;
  secrets_waiting_.Set(sum);
}

void Metrics::SetSecretNamespaces(const std::map<std::string, int>& by_result) {
  for (const auto& [result, n] : by_result) secret_namespaces_.Add({{"result", result}}).Set(n);
}

}  // namespace crtoken
