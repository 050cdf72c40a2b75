// `crtoken run --leader-elect`: this replica's part in the election, wired to the run loop.
//
//   MakeLeadership   the Kubernetes connection for the Lease (the one the Secret sink uses:
//                    --kubeconfig / $KUBECONFIG, else the pod's service account; with neither it
//                    is a startup error), the Lease --leader-elect-resource-namespace/-name (the
//                    namespace defaults to the connection's: the pod's, or the kubeconfig
//                    context's, else "default"), the identity (host name + random suffix), and a
//                    LeaderElector on CLOCK_BOOTTIME.
//   guard()          the fence for FencedRegistryApi / FencedSecretSink (fenced_ports.h): the
//                    elector's CheckLeading, asked at the instant of each write.
//   Pass             the work-queue handler: the controller's settle check always runs (it only
//                    reads the specs); a registry's pass runs only while CheckLeading holds, and a
//                    standby drops the key instead (Start's on_gained re-adds every key: the
//                    leader reconciles everything at once). Passes in flight are counted, and the
//                    elector takes no Lease while any is still running from an earlier leadership
//                    (so a pass that began under one leadership never writes under the next).
//   Start            runs the elector; on each change sets crtoken_leader{lease="NS/NAME"} and
//                    crtoken_leadership_changes_total, and on a gain calls on_gained; after every
//                    round, set_ready(LeaseReachable): a standby is ready when it can take over.
//   Shutdown         stops the elector and releases the Lease (clears holderIdentity), so that a
//                    standby takes it at its next try. Call it once work in flight has finished.
//
// After losing the Lease the replica stays up as a standby (README.md says why): its fence is
// closed at once, its passes drop, and it competes again once its passes in flight are done.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "daemon/app/controller.h"
#include "daemon/app/fenced_ports.h"
#include "daemon/app/options.h"
#include "daemon/kube/kube_client.h"
#include "daemon/kube/leader_elector.h"
#include "daemon/kube/lease_lock.h"
#include "daemon/specs/spec_tracker.h"
#include "reconciler/metrics.h"

namespace crtoken {

class Leadership {
 public:
  // Startup errors (no cluster, an unusable kubeconfig, a bad Lease name) are kInvalid.
  static Result<std::unique_ptr<Leadership>> Make(const Options& options, const EnvLookup& env,
                                                  const std::string& host);
  ~Leadership();
  Leadership(const Leadership&) = delete;
  Leadership& operator=(const Leadership&) = delete;

  WriteGuard guard();
  WorkOutcome Pass(Controller& controller, const std::string& key);
  void Start(Metrics& metrics, std::function<void()> on_gained,
             std::function<void(bool ready)> set_ready);
  void Shutdown();

  LeaderElector& elector() { return *elector_; }

 private:
  Leadership() = default;

  std::unique_ptr<KubeClient> client_;
  std::unique_ptr<KubeLeaseLock> lock_;
  BootClock clock_;
  std::unique_ptr<LeaderElector> elector_;
  std::string lease_;  // "NAMESPACE/NAME", the crtoken_leader label
  std::atomic<int> in_flight_{0};
  // Set by Start, read by the elector's callbacks.
  Metrics* metrics_ = nullptr;
  std::function<void()> on_gained_;
  std::function<void(bool)> set_ready_;
};

// `crtoken run --leader-elect`: Make with the process environment and host name.
Result<std::unique_ptr<Leadership>> MakeLeadership(const Options& options);

// With --leader-elect a secret file is refused: each replica has its own --secret-dir, so a
// replica that takes over would find no secret and re-issue the token. Every spec that writes a
// file becomes a spec error naming it, and its file counts as failed (nothing in it is acted on,
// and nothing is pruned while it fails), as for any spec error.
void RefuseFileSecrets(SpecSnapshot& snapshot);

}  // namespace crtoken
