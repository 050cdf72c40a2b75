// Prints what one KubernetesSecretSink operation costs against the Kubernetes API emulator (a
// Python fixture, so the figures bound the sink's cost from above): create, update, unchanged
// write, Inspect and Delete, sequentially over one keep-alive client, and 8 concurrent writers.
//
//   k8s_sink_bench [N]   (default N = 200 secrets)
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/sinks/kubernetes_secret_sink.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"

namespace {

using crtoken::DockerCredential;
using crtoken::SecretRef;

SecretRef Ref(int i) {
  SecretRef ref;
  ref.kind = SecretRef::Kind::kKubernetes;
  ref.k8s_namespace = "bench";
  ref.k8s_name = "pull-" + std::to_string(i);
  return ref;
}

DockerCredential Cred(int i, int generation) {
  DockerCredential c;
  c.hostname = "bench-reg.cr.de-fra.ionos.com";
  c.username = "token-" + std::to_string(i);
  c.password =
      crtoken::Password("password-" + std::to_string(i) + "-" + std::to_string(generation));
  c.record.token_id = "id-" + std::to_string(i);
  return c;
}

void Report(const char* what, int n, const std::function<bool(int)>& op) {
  const auto start = std::chrono::steady_clock::now();
  int failures = 0;
  for (int i = 0; i < n; ++i) failures += op(i) ? 0 : 1;
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  %-28s %6d ops  %8.1f ops/s  %7.2f ms/op  failures %d\n", what, n, n / s,
              1000 * s / n, failures);
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 200;
  if (n <= 0) n = 200;  // bench/run.sh may pass arguments meant for other benchmarks
  spdlog::set_level(spdlog::level::warn);
  crtoken::test::K8sEmulatorProcess emu(
      CRTOKEN_PYTHON,
      std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
      {"--token", "bench-token", "--namespace", "bench"});
  if (!emu.started()) {
    std::fprintf(stderr, "k8s_sink_bench: emulator did not start: %s\n", emu.first_line().c_str());
    return 1;
  }
  crtoken::KubernetesConfig config;
  config.server = emu.Server();
  std::ifstream ca(emu.CaFile());
  std::stringstream pem;
  pem << ca.rdbuf();
  config.ca_pem = pem.str();
  config.token = "bench-token";
  config.source = "bench";
  auto sink = crtoken::KubernetesSecretSink::Create(config, {});
  if (!sink.ok()) {
    std::fprintf(stderr, "k8s_sink_bench: %s\n", sink.error().ToString().c_str());
    return 1;
  }
  auto& s = *sink.value();
  // Warm-up: the TLS handshake, cpprest's thread pool and the emulator's first request.
  for (int i = 0; i < 10; ++i) (void)s.Inspect(Ref(-1));
  std::printf("KubernetesSecretSink against the Python k8s emulator, %d secrets\n", n);
  Report("Write (create: GET+POST)", n, [&](int i) { return s.Write(Ref(i), Cred(i, 1)).ok(); });
  Report("Write (update: GET+PUT)", n, [&](int i) { return s.Write(Ref(i), Cred(i, 2)).ok(); });
  Report("Write (unchanged: GET)", n, [&](int i) { return s.Write(Ref(i), Cred(i, 2)).ok(); });
  Report("Inspect (GET)", n, [&](int i) { return s.Inspect(Ref(i)).ok(); });
  Report("Delete (GET+DELETE)", n, [&](int i) { return s.Delete(Ref(i)).ok(); });

  std::atomic<int> next{0}, failures{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) failures += s.Write(Ref(i), Cred(i, 3)).ok() ? 0 : 1;
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  %-28s %6d ops  %8.1f ops/s  %7.2f ms/op  failures %d\n",
              "Write (create, 8 threads)", n, n / secs, 1000 * secs / n, failures.load());
  return 0;
}
