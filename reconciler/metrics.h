// Every metric of crtoken (README.md lists them) in one place, over a prometheus-cpp Registry.
// Tests read values through the Registry (Collect) without HTTP; the daemon exposes it on /metrics.
//
// Thread-safe: every method may be called from any thread. Components take a `Metrics*` that may be
// null (then they record nothing), so the pure core and small tests need no registry.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "reconciler/plan.h"
#include "reconciler/token_state.h"
#include "reconciler/types.h"

namespace crtoken {

class Metrics {
 public:
  explicit Metrics(
      std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>());
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // crtoken_leader (1 while this process may write: the elected leader, or a `run` without
  // --leader-elect; 0 on a standby), labelled lease="NAMESPACE/NAME" when `lease` is not empty (the
  // labels are those of the first call), and on each change
  // crtoken_leadership_changes_total{change= gained|lost}. A process starts as not leading; setting
  // the value it has changes nothing.
  void SetLeader(bool leading, const std::string& lease = "");

  // crtoken_api_requests_total{method,code} and crtoken_api_request_duration_seconds{method}.
  // `code` is the HTTP status, or 0 for a request that got no answer (label "error").
  void ObserveApiRequest(const std::string& method, int code, double seconds);
  // crtoken_reconcile_total{result} and crtoken_reconcile_duration_seconds.
  void ObserveReconcile(bool success, double seconds);
  // crtoken_token_operations_total{operation=create|update|delete|reissue,result=success|error}.
  void CountTokenOperation(ActionType type, bool success);
  // crtoken_token_rotations_total{result=success|error}: rotations of specs with overlap; success
  // once the new slot's secret is written and durable.
  void CountRotation(bool success);
  // crtoken_secret_writes_total{sink=file|kubernetes,result=success|error}.
  void CountSecretWrite(SecretRef::Kind sink, bool success);
  // crtoken_tokens{state}: the sum over all scopes (one scope per registry key in the daemon).
  void SetTokenCounts(const std::string& scope, const PlanCounts& counts);
  // crtoken_token_expiry_timestamp_seconds{registry,token}; std::nullopt removes the series, and
  // the token's crtoken_token_renewal_timestamp_seconds with it.
  void SetTokenExpiry(const std::string& registry, const std::string& token,
                      std::optional<Instant> expiry);
  // The declared tokens of one pass scope (as SetTokenCounts), after the pass:
  // crtoken_token_state{registry,token,state} = 1, one series per token (a changed state replaces
  // the series); for tokens whose registry was read, crtoken_token_expiry_timestamp_seconds and
  // crtoken_token_renewal_timestamp_seconds{registry,token} (set, or removed when nullopt), and for
  // tokens with overlap crtoken_token_slot_expiry_timestamp_seconds{registry,token,slot}, one
  // series per live slot token.
  // Tokens this scope set before and no longer declares lose all three series; a token that
  // another scope declares now belongs to that scope.
  void SetTokenStates(const std::string& scope, const std::vector<DeclaredTokenState>& tokens);
  // crtoken_spec_errors: the number of spec errors in force.
  void SetSpecErrors(int errors);
  // crtoken_last_success_timestamp_seconds: the end of the last pass that converged.
  void SetLastSuccess(Instant when);
  // crtoken_secrets_waiting: passwords held in memory, waiting for a registry hostname or a sink.
  void SetSecretsWaiting(const std::string& scope, int waiting);
  // crtoken_secret_namespaces{result}: target namespaces of fan-out secrets by the result of their
  // last write (NamespaceFanOutSink): the count of each result given is set.
  void SetSecretNamespaces(const std::map<std::string, int>& by_result);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& api_requests_;
  prometheus::Family<prometheus::Histogram>& api_duration_;
  prometheus::Family<prometheus::Counter>& reconciles_;
  prometheus::Histogram& reconcile_duration_;
  prometheus::Family<prometheus::Counter>& token_operations_;
  prometheus::Family<prometheus::Counter>& token_rotations_;
  prometheus::Family<prometheus::Gauge>& slot_expiry_;
  prometheus::Family<prometheus::Counter>& secret_writes_;
  prometheus::Family<prometheus::Gauge>& tokens_;
  prometheus::Family<prometheus::Gauge>& token_expiry_;
  prometheus::Family<prometheus::Gauge>& token_renewal_;
  prometheus::Family<prometheus::Gauge>& token_state_;
  prometheus::Gauge& spec_errors_;
  prometheus::Gauge& last_success_;
  prometheus::Gauge& secrets_waiting_;
  prometheus::Family<prometheus::Gauge>& leader_;
  prometheus::Family<prometheus::Counter>& leadership_changes_;
  prometheus::Family<prometheus::Gauge>& secret_namespaces_;
  std::mutex leader_mu_;
  prometheus::Gauge* leader_series_ = nullptr;  // made by the first SetLeader
  bool leading_ = false;

  std::mutex mu_;
  std::map<std::string, PlanCounts> counts_by_scope_;
  std::map<std::string, int> waiting_by_scope_;
  using SeriesKey = std::pair<std::string, std::string>;  // (registry, token)
  struct StateSeries {
    std::string scope;
    TokenState state = TokenState::kInSync;
    prometheus::Gauge* gauge = nullptr;
  };
  // Sets (or with nullopt removes) the series of `key` in `family`; mu_ is held.
  void SetInstantLocked(prometheus::Family<prometheus::Gauge>& family,
                        std::map<SeriesKey, prometheus::Gauge*>& series, const SeriesKey& key,
                        std::optional<Instant> value);
  std::map<SeriesKey, prometheus::Gauge*> expiry_series_;
  // crtoken_token_slot_expiry_timestamp_seconds of `key`: exactly `slots` (slot name -> expiry).
  void SetSlotsLocked(const SeriesKey& key, const std::map<std::string, Instant>& slots);
  std::map<SeriesKey, std::map<std::string, prometheus::Gauge*>> slot_series_;
  std::map<SeriesKey, prometheus::Gauge*> renewal_series_;
  std::map<SeriesKey, StateSeries> state_series_;
};

}  // namespace crtoken
