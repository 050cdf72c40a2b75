#include "daemon/app/leadership.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <set>

#include "reconciler/log_fields.h"

namespace crtoken {

Result<std::unique_ptr<Leadership>> Leadership::Make(const Options& options, const EnvLookup& env,
                                                     const std::string& host) {
  LeaderElectionConfig config;
  config.identity = LeaderIdentity(host);
  config.lease_duration = options.leader_elect_lease_duration;
  config.renew_deadline = options.leader_elect_renew_deadline;
  config.retry_period = options.leader_elect_retry_period;
  if (std::string why = ValidateLeaderElection(config); !why.empty()) {
    return Error{ErrorKind::kInvalid, why};
  }
  KubeClientOptions client_options;
  // Half the renew deadline: a hung request leaves the leader time for another try.
  client_options.request_timeout = options.leader_elect_renew_deadline / 2;
  auto client =
      MakeKubeClient(options.kubeconfig, kServiceAccountDir, env, "--leader-elect", client_options);
  if (!client.ok()) return client.error();

  std::unique_ptr<Leadership> leadership(new Leadership());
  leadership->client_ = std::move(client.value());
  const std::string ns = options.leader_elect_resource_namespace.empty()
                             ? leadership->client_->DefaultNamespace()
                             : options.leader_elect_resource_namespace;
  if (std::string why = ValidLeaseName(ns, options.leader_elect_resource_name); !why.empty()) {
    return Error{ErrorKind::kInvalid, "--leader-elect: the Lease's " + why};
  }
  leadership->lock_ =
      std::make_unique<KubeLeaseLock>(*leadership->client_, ns, options.leader_elect_resource_name);
  leadership->lease_ = ns + "/" + options.leader_elect_resource_name;
  Leadership* self = leadership.get();
  LeaderElector::Callbacks callbacks;
  callbacks.started_leading = [self](const std::string&) {
    if (self->metrics_ != nullptr) self->metrics_->SetLeader(true, self->lease_);
    if (self->on_gained_) self->on_gained_();
  };
  callbacks.stopped_leading = [self](const std::string&) {
    if (self->metrics_ != nullptr) self->metrics_->SetLeader(false, self->lease_);
  };
  callbacks.stepped = [self] {
    if (self->set_ready_) self->set_ready_(self->elector_->LeaseReachable());
  };
  leadership->elector_ = std::make_unique<LeaderElector>(config, *leadership->lock_,
                                                         leadership->clock_, std::move(callbacks));
  leadership->elector_->set_may_acquire([self] { return self->in_flight_.load() == 0; });
  spdlog::info(
      WithFields("leader election", {{"lease", leadership->lock_->Describe()},
                                     {"identity", config.identity},
                                     {"through", leadership->client_->source()},
                                     {"lease_duration", FormatSeconds(config.lease_duration)},
                                     {"renew_deadline", FormatSeconds(config.renew_deadline)},
                                     {"retry_period", FormatSeconds(config.retry_period)}}));
  return leadership;
}

Leadership::~Leadership() {
  if (elector_) elector_->Stop();
}

WriteGuard Leadership::guard() {
  return [this] { return elector_->CheckLeading(); };
}

WorkOutcome Leadership::Pass(Controller& controller, const std::string& key) {
  if (key == Controller::kSettleKey) return controller.Pass(key);
  // Counted before the check: the elector must not take a new Lease between the two.
  ++in_flight_;
  if (!elector_->CheckLeading().ok()) {
    --in_flight_;
    return WorkOutcome{};  // a standby: dropped, added again when leadership is gained
  }
  WorkOutcome outcome = controller.Pass(key);
  --in_flight_;
  return outcome;
}

void Leadership::Start(Metrics& metrics, std::function<void()> on_gained,
                       std::function<void(bool)> set_ready) {
  metrics_ = &metrics;
  on_gained_ = std::move(on_gained);
  set_ready_ = std::move(set_ready);
  metrics.SetLeader(false, lease_);
  elector_->Start();
}

void Leadership::Shutdown() {
  elector_->Stop();
  if (Status s = elector_->Release(); !s.ok()) {
    spdlog::warn(WithFields("the Lease was not released; a standby takes it once it expires",
                            {{"lease", lock_->Describe()}, {"error", s.error().message}}));
  }
}

Result<std::unique_ptr<Leadership>> MakeLeadership(const Options& options) {
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  return Leadership::Make(options, ProcessEnv(), host);
}

void RefuseFileSecrets(SpecSnapshot& snapshot) {
  std::set<std::string> refused_files;
  for (const TokenSpec& spec : snapshot.desired.specs) {
    if (spec.secret.kind != SecretRef::Kind::kFile) continue;
    refused_files.insert(spec.source.file);
    snapshot.errors.push_back(SpecError{
        spec.source,
        "token " + spec.name + ": secret.file is refused with --leader-elect: each replica has " +
            "its own --secret-dir, so a replica that takes over would find no secret and " +
            "re-issue the token; write a Kubernetes Secret (secret.kubernetes), or run one " +
            "replica without --leader-elect"});
  }
  if (refused_files.empty()) return;
  auto& specs = snapshot.desired.specs;
  specs.erase(
      std::remove_if(specs.begin(), specs.end(),
                     [&](const TokenSpec& s) { return refused_files.count(s.source.file); }),
      specs.end());
  snapshot.desired.failed_files.insert(refused_files.begin(), refused_files.end());
}

}  // namespace crtoken
