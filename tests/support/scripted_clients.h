// The two cpprest clients under test, the registry API client and the Kubernetes secret sink,
// aimed at a RawHttpServer, as the tests of their answers to scripted (and hostile) servers set
// them up. Header-only: a test that includes it links crtoken_registry and crtoken_sinks.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "daemon/registry/http_registry_api.h"
#include "daemon/sinks/kubernetes_secret_sink.h"

namespace crtoken::test {

// The registry id and token id of the scripted calls.
inline constexpr char kScriptedRegistryId[] = "0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11";
inline constexpr char kScriptedTokenId[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

// The registry client's configuration for the server at `url` (the API under
// /containerregistries): a bearer token, no rate limit to speak of, a 5 s deadline, retries 1 to
// 5 ms apart, at most `max_attempts` attempts.
inline HttpRegistryApiConfig ScriptedRegistryConfig(const std::string& url, int max_attempts = 4) {
  HttpRegistryApiConfig c;
  c.base_url = url + "/containerregistries";
  c.credentials = Credentials::Bearer("bearer-SECRET-token");
  c.qps = 1e6;
  c.burst = 1000000;
  c.request_timeout = std::chrono::seconds(5);
  c.retry.initial_backoff = std::chrono::milliseconds(1);
  c.retry.max_backoff = std::chrono::milliseconds(5);
  c.retry.max_attempts = max_attempts;
  c.jitter_seed = 1;
  return c;
}

// The Kubernetes secret sink for the API server at `url`, with a bearer token, at most
// `max_attempts` attempts 1 ms apart.
inline Result<std::unique_ptr<KubernetesSecretSink>> ScriptedKubernetesSink(const std::string& url,
                                                                            int max_attempts) {
  KubernetesConfig config;
  config.server = url;
  config.token = "k8s-SECRET-token";
  config.source = "test";
  KubernetesSinkOptions options;
  options.max_attempts = max_attempts;
  options.backoff = std::chrono::milliseconds(1);
  return KubernetesSecretSink::Create(config, options);
}

// The Secret the scripted Kubernetes calls are about: team-a/s.
inline SecretRef ScriptedSecretRef() {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "team-a";
  ref.k8s_name = "s";
  return ref;
}

}  // namespace crtoken::test
