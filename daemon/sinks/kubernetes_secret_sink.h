// KubernetesSecretSink: delivers passwords as Kubernetes Secrets of type
// kubernetes.io/dockerconfigjson through the Kubernetes REST API (core/v1 secrets).
//
// What it writes for SecretRef{kKubernetes, namespace, name}:
//   type: kubernetes.io/dockerconfigjson
//   data: {".dockerconfigjson": base64 of
//          {"auths":{"<hostname>":{"username":"<name>","password":"<pw>","auth":"<b64 u:pw>"}}}}
//   labels: app.kubernetes.io/managed-by: crtoken, crtoken.ionos.com/owner: <record.owner>
//   annotations: crtoken.io/registry: <hostname>, crtoken.io/registry-id: <record.registry_id>,
//                crtoken.io/token-name: <record.token_name, else the username>,
//                crtoken.io/token-id: <record.token_id>
// The owner label and the record's annotations are written when the record has them (and
// removed when it does not); Inspect and List read a record only when all four are there.
// A copy of a fan-out place (a ref with k8s_namespace and a target set: namespace_fanout_sink.h)
// also carries crtoken.io/fan-out naming its place (fanout_targets.h); a single Secret has none.
//
// Contract (SecretSink): thread-safe; never throws; every library exception becomes an Error.
// - Write creates with POST, or updates with PUT carrying the resourceVersion it just read
//   (optimistic concurrency); 409 and transient failures are retried up to max_attempts times.
//   An existing Secret without the managed-by label is never overwritten (kConflict naming it).
//   Writing the content a managed Secret already holds sends no write at all.
// - Inspect: GET; a missing Secret is exists == false. One that Write would refuse (no managed-by
//   label, or a type other than dockerconfigjson) has SecretState::conflict set, naming it and
//   what to do, and nothing else is read from it.
// - Delete: DELETE with uid/resourceVersion preconditions, only for a managed Secret of the place
//   `ref` names (the fan-out annotation equal to the ref's, or absent for a single Secret); absent,
//   or another place's, is ok and left alone.
// - List: GET /api/v1/secrets?labelSelector=<managed-by>,<owner> (every namespace), limit and
//   continue followed page after page (a 410 for an expired continue token starts the list
//   again); only Secrets of type dockerconfigjson with a complete record of this owner. The copies
//   of a fan-out place are listed as that place, once per record. A 403 is a
//   kUnauthorized error saying that listing secrets at the cluster scope is what is missing. Never
//   a partial list: any page that fails fails it all.
// - Stamp: GET, then a merge PATCH of the owner label and the record's annotations carrying the
//   resourceVersion just read (409 retried as for Write); the data is not sent, so it cannot
//   change. kNotFound for a missing Secret; an unmanaged one is refused as Write refuses it; one
//   without a credential (no password in its dockerconfigjson) is kInvalid, not stamped.
// - Errors: 400/422 kInvalid, 401/403 kUnauthorized, 404 kNotFound, 409 kConflict,
//   429 kRateLimited, 5xx, timeouts, TLS and connection errors kUnavailable.
// - No redirect is followed (a 3xx is a kInvalid error naming where it pointed), so the bearer
//   token never reaches another server; a response body over max_body_bytes is not read
//   (kUnavailable, its connection closed); the server's messages are made printable and capped.
//   The connection itself (TLS, the bearer token and its rotation) is a KubeClient's
//   (daemon/kube/kube_client.h).
// - The bearer token and the password never reach a log line or an error message.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/common/http_failure.h"
#include "daemon/kube/kube_client.h"
#include "daemon/kube/kubernetes_config.h"
#include "reconciler/secret_sink.h"

namespace crtoken {

inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "crtoken";
inline constexpr char kOwnerLabel[] = "crtoken.ionos.com/owner";
inline constexpr char kRegistryAnnotation[] = "crtoken.io/registry";
inline constexpr char kRegistryIdAnnotation[] = "crtoken.io/registry-id";
inline constexpr char kTokenNameAnnotation[] = "crtoken.io/token-name";
inline constexpr char kTokenIdAnnotation[] = "crtoken.io/token-id";

struct KubernetesSinkOptions {
  std::string service_account_dir = kServiceAccountDir;
  EnvLookup env;  // empty = the process environment
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  // How long a token read from token_file is used before the file is read again. A 401 forces a
  // re-read (and one retry) regardless.
  std::chrono::milliseconds token_refresh = std::chrono::seconds(60);
  int max_attempts = 5;  // per Write/Delete/Stamp/List, over 409 conflicts and transient failures
  std::chrono::milliseconds backoff = std::chrono::milliseconds(100);  // doubled per retry
  // The largest response body read; a larger one is an error and its connection is closed.
  size_t max_body_bytes = kMaxResponseBodyBytes;
  // Secrets per page of List (the API server's limit parameter).
  int list_page_size = 250;
  // Asked right before each write request (POST, PUT, PATCH, DELETE) leaves; a refusal fails the
  // operation with kUnavailable, nothing more sent (KubeClientOptions::before_write).
  std::function<Status()> before_write;
};

class KubernetesSecretSink : public SecretSink {
 public:
  // kInvalid when the config is unusable (bad server URL, unreadable PEM, no credentials).
  static Result<std::unique_ptr<KubernetesSecretSink>> Create(KubernetesConfig config,
                                                              KubernetesSinkOptions options);
  ~KubernetesSecretSink() override;

  Status Write(const SecretRef& ref, const DockerCredential& credential) override;
  Result<SecretState> Inspect(const SecretRef& ref) override;
  Status Delete(const SecretRef& ref) override;
  Result<std::vector<ListedSecret>> List(const std::string& owner) override;
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override;

  const std::string& source() const;  // KubernetesConfig::source

 private:
  class Impl;
  explicit KubernetesSecretSink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reading the API server's answers (pure; the sink's Inspect and List use them).
//
// The state of a Secret from the body of a 200 answer to its GET, as Inspect returns it; `what`
// names it in a conflict ("Secret NS/NAME"). kUnavailable ("malformed JSON") for a body that is
// not JSON.
Result<SecretState> DecodeSecret(const std::string& body, const std::string& what);

// One page of GET /api/v1/secrets: the Secrets on it that List returns for `owner` (managed, of
// type dockerconfigjson, with a complete record of that owner, namespace and name set; a fan-out
// copy as its place, and a copy whose fan-out annotation does not parse not at all), and the
// continue token ("" on the last page). kUnavailable ("malformed list") for a body without an
// "items" array.
struct SecretListPage {
  std::vector<ListedSecret> secrets;
  std::string next;
};
Result<SecretListPage> DecodeSecretList(const std::string& body, const std::string& owner);

// The startup path: the configuration LoadKubernetesConfig chooses for `kubeconfig` (the
// --kubeconfig flag or $KUBECONFIG, else in-cluster; kubernetes_config.h), then Create. One
// kInvalid error saying what was looked for when neither is available.
Result<std::unique_ptr<KubernetesSecretSink>> MakeKubernetesSecretSink(
    const std::string& kubeconfig, KubernetesSinkOptions options = {});

}  // namespace crtoken
