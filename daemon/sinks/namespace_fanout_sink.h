// NamespaceFanOutSink: a decorator of the Kubernetes Secret sink that fans one place out to many
// namespaces (SecretRef::FanOut: a list of namespaces, or a label selector over them), and keeps
// ServiceAccounts' imagePullSecrets naming it. Every other ref goes to the inner sink untouched.
//
// A fan-out place is resolved on every call, never remembered: the namespaces are listed
// (GET /api/v1/namespaces, matched against the selector here), and a namespace that is
// Terminating, or named by a list but absent, is reported and skipped. Each copy is the inner
// sink's single Secret, written with the annotation crtoken.io/fan-out naming the place
// (fanout_targets.h), so that List reads every copy back as the one place and a copy is deleted
// only by the place it records.
//
// Contract (SecretSink), for a fan-out ref:
// - Write writes the credential into every target namespace, removes the place's copies from
//   namespaces it no longer targets, and fixes the ServiceAccounts. A namespace that fails
//   (forbidden, terminating, a Secret crtoken does not manage there) is logged and counted and
//   does not stop the others; Write fails only when no copy could be written (then nothing holds
//   the password and the caller keeps it), or when no namespace is a target.
// - Inspect reads the copies of the target namespaces and reports the one that records the
//   newest generation of a token and holds a password (a missing or stale copy is not a lost
//   password: Replicate fixes it); exists == false when no target holds a copy; a conflict when
//   no namespace is a target (nothing could hold the password). A namespace whose copy cannot be
//   read is skipped; an Error only when none can be read.
// - Replicate (secret_sink.h) copies the password of the copy that records `record` to every
//   target lacking it, as Write would, without a new token.
// - Delete removes every copy the place recorded, in any namespace, and the imagePullSecrets
//   entries crtoken added for it.
// - List is the inner sink's (which lists copies as their place); Stamp is refused (kInvalid).
// - ServiceAccounts: each named ServiceAccount of a namespace holding a copy gets the Secret's
//   name in its imagePullSecrets (entries of others are kept, in order); the names crtoken added
//   are recorded on the ServiceAccount (annotation crtoken.io/image-pull-secrets), and only those
//   are removed, when the copy goes or the ServiceAccount is no longer named. A missing
//   ServiceAccount is waited for (logged at debug), not an error.
// Thread-safe; never throws; nothing here logs a password or the bearer token.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/kube/kube_client.h"
#include "reconciler/secret_sink.h"

namespace crtoken {

// How one target namespace of a fan-out place fared in the last Write or Replicate:
// "written" (its copy holds the live password), "forbidden" (HTTP 403), "terminating",
// "missing" (listed, but no such namespace) or "failed" (anything else).
using NamespaceResults = std::map<std::string, std::string>;  // namespace -> result

struct FanOutOptions {
  // Called after each Write, Replicate or Delete of a fan-out place with the number of
  // (place, namespace) pairs in each result over every place seen: the gauge
  // crtoken_secret_namespaces{result}.
  std::function<void(const std::map<std::string, int>&)> on_results;
  int max_attempts = 5;  // per ServiceAccount update, over 409 conflicts
  int list_page_size = 500;
};

class NamespaceFanOutSink : public SecretSink {
 public:
  // `inner` is the single-Secret Kubernetes sink; `client` the connection for namespaces,
  // ServiceAccounts and the listing of copies (with the same write guard as the inner sink's).
  NamespaceFanOutSink(std::unique_ptr<SecretSink> inner, std::unique_ptr<KubeClient> client,
                      FanOutOptions options = {});
  ~NamespaceFanOutSink() override;

  Status Write(const SecretRef& ref, const DockerCredential& credential) override;
  Result<SecretState> Inspect(const SecretRef& ref) override;
  Status Delete(const SecretRef& ref) override;
  Result<std::vector<ListedSecret>> List(const std::string& owner) override;
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override;
  Status Replicate(const SecretRef& ref, const SecretRecord& record) override;
  Status Flush() override;

  // The last results of each place seen, by SecretRef::ToString.
  std::map<std::string, NamespaceResults> Results() const;

  // A digest of what decides the copies: the namespaces (names, labels, phase), the Secrets
  // crtoken manages and the ServiceAccounts (names and resourceVersions). `crtoken run` polls it
  // and reconciles when it changes. nullopt until a fan-out place was seen (nothing to follow).
  Result<std::optional<std::string>> ClusterDigest();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crtoken
