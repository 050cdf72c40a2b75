// Where the Kubernetes API server is and how to authenticate to it: the pod's service account
// (in-cluster) or a kubeconfig file. Loading only, no HTTP: KubeClient (kube_client.h) takes the
// KubernetesConfig it returns, for the Secret sink and the leader elector alike.
//
// Every file is read when the config is loaded, and its PEM material checked then, so a broken
// file is a startup error naming it, not an opaque TLS failure on the first request. Errors are
// kInvalid and never carry a token or a key.
#pragma once

#include <string>

#include "daemon/common/env.h"
#include "reconciler/error.h"

namespace crtoken {

inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// How to reach and authenticate to an API server. PEM material is held in memory (files are read
// when the config is loaded); the bearer token is either static or re-read from token_file.
struct KubernetesConfig {
  std::string server;  // "https://host:port", optionally with a path prefix
  std::string ca_pem;  // trusted CA bundle (PEM); empty = the system's roots only
  bool insecure_skip_tls_verify = false;
  std::string token;            // static bearer token
  std::string token_file;       // bearer token re-read periodically (bound service-account tokens
                                // rotate); wins over token
  std::string client_cert_pem;  // client certificate chain (PEM), with client_key_pem
  std::string client_key_pem;
  std::string default_namespace;  // the context's (or pod's) namespace: used for a SecretRef
                                  // without one; empty = "default"
  std::string source;  // where it came from, for messages: "in-cluster service account (DIR)"
                       // or "kubeconfig FILE (context NAME)"
};

// In-cluster configuration: KUBERNETES_SERVICE_HOST/PORT from `env`, token and ca.crt (and
// namespace, if present) from `service_account_dir`. kInvalid naming what is missing.
Result<KubernetesConfig> LoadInClusterConfig(const std::string& service_account_dir,
                                             const EnvLookup& env);

// A kubeconfig file: its current-context's cluster (server, certificate-authority[-data],
// insecure-skip-tls-verify) and user (token, tokenFile, client-certificate[-data] +
// client-key[-data]). Relative paths are relative to the file's directory. exec and
// auth-provider users are refused (kInvalid): crtoken runs no credential plugins.
Result<KubernetesConfig> LoadKubeconfig(const std::string& path);

// The startup choice: `kubeconfig` (the --kubeconfig flag or $KUBECONFIG; a ':'-separated list
// uses its first existing file) when given, else in-cluster when `env` has
// KUBERNETES_SERVICE_HOST. One kInvalid error, beginning with `purpose` (what needs the cluster),
// saying what was looked for when neither is available.
Result<KubernetesConfig> LoadKubernetesConfig(const std::string& kubeconfig,
                                              const std::string& service_account_dir,
                                              const EnvLookup& env,
                                              const std::string& purpose = "Kubernetes secrets");

// A bearer-token file (a service-account token, a kubeconfig tokenFile), without surrounding
// whitespace; empty when it holds nothing else. kInvalid "WHAT PATH: cannot be read" (or
// ": read error").
Result<std::string> ReadTokenFile(const std::string& path, const std::string& what);

}  // namespace crtoken
