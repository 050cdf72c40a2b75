// KubeClient: one connection to a Kubernetes API server, as a KubernetesConfig describes it (the
// pod's service account or a kubeconfig). The Secret sink and the leader elector each hold one;
// what they send (Secrets, Leases) is theirs, how it travels is this unit's.
//
// Contract:
// - Call sends one request and returns the answer, whatever its status; an exchange without an
//   answer (refused, reset, TLS failure, timeout, a body over max_body_bytes) is kUnavailable.
//   Never throws: every cpprest exception stops here.
// - Authentication: the static bearer token, or the token file re-read every token_refresh (bound
//   service-account tokens rotate); a 401 re-reads the file and tries once more. Client
//   certificates from the config.
// - No redirect is followed (a 3xx comes back as the answer, and HttpError reports it), so the
//   bearer token never reaches another server; TLS is verified against the config's CA unless it
//   says insecure-skip-tls-verify (logged as a warning).
// - The bearer token never reaches a log line or an error message: every message built here is
//   redacted of it and of the caller's `secrets`.
// - Writes (every method but GET) are sent only when options.before_write allows them, asked
//   right before each one.
// - Thread-safe: one client may serve concurrent calls.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/common/env.h"
#include "daemon/common/http_failure.h"
#include "daemon/kube/kubernetes_config.h"
#include "reconciler/error.h"

namespace crtoken {

struct KubeClientOptions {
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  // How long a token read from token_file is used before the file is read again.
  std::chrono::milliseconds token_refresh = std::chrono::seconds(60);
  // The largest response body read; a larger one is an error and its connection is closed.
  size_t max_body_bytes = kMaxResponseBodyBytes;
  // Asked right before each request that is not a GET leaves; a refusal is that request's
  // Error (kUnavailable, "not sent"), nothing sent. `crtoken run --leader-elect` passes the
  // Lease's fence here, so that no write of a multi-request operation goes out after the fence
  // closed. Empty: every request is sent.
  std::function<Status()> before_write;
};

struct KubeResponse {
  int status = 0;
  std::string body;
  std::optional<std::string> location;  // the Location header, for a 3xx
};

class KubeClient {
 public:
  // kInvalid when the config is unusable (bad server URL, no credentials, an unreadable token
  // file).
  static Result<std::unique_ptr<KubeClient>> Create(KubernetesConfig config,
                                                    KubeClientOptions options = {});
  ~KubeClient();
  KubeClient(const KubeClient&) = delete;
  KubeClient& operator=(const KubeClient&) = delete;

  // One exchange. `path` is the request target below the server URL ("/api/v1/...", with its
  // query); `body` is sent with `content_type` when not empty; `secrets` are redacted from any
  // message (the bearer token always is).
  Result<KubeResponse> Call(const std::string& method, const std::string& path,
                            const std::string& body = "", const std::string& content_type = "",
                            std::vector<std::string> secrets = {});

  // The Error for an answer that is not the success the caller wanted: the status mapped as every
  // client of crtoken maps it (http_failure.h), "kubernetes METHOD PATH: HTTP N: <the Status
  // message>", redacted of the bearer token and `secrets`.
  Error HttpError(const std::string& method, const std::string& path, const KubeResponse& response,
                  std::vector<std::string> secrets = {});

  const KubernetesConfig& config() const;
  // Where the config came from, for messages (KubernetesConfig::source).
  const std::string& source() const;
  // The namespace of the connection: the kubeconfig context's or the pod's, else "default".
  std::string DefaultNamespace() const;

 private:
  class Impl;
  explicit KubeClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The startup path: the configuration LoadKubernetesConfig chooses (`kubeconfig`, else in-cluster
// from `service_account_dir` and `env`; an empty env means the process environment), then Create.
// Errors begin with `purpose` (what needs the cluster).
Result<std::unique_ptr<KubeClient>> MakeKubeClient(const std::string& kubeconfig,
                                                   const std::string& service_account_dir,
                                                   EnvLookup env, const std::string& purpose,
                                                   KubeClientOptions options = {});

// The `message` of a Kubernetes Status body, or the start of whatever else came back; made
// printable (control characters escaped, length capped), as it ends up in logs and on stderr.
std::string KubeStatusMessage(const std::string& body);

// `text` with every occurrence of each of `secrets` (of 4 characters or more) replaced by
// "<redacted>", so that no message built from a server's reply carries a password or a token on.
std::string RedactSecrets(std::string text, const std::vector<std::string>& secrets);

// Object names as the API server validates them (checked before they go into a URL path).
bool IsDnsLabel(const std::string& s);      // a namespace
bool IsDnsSubdomain(const std::string& s);  // a Secret's or a Lease's name

}  // namespace crtoken
