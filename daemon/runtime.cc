#include "daemon/runtime.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdlib>

#include "daemon/file_state_store.h"
#if __has_include("daemon/http_registry_api.h")
#include "daemon/http_registry_api.h"
#define CRTOKEN_HAVE_HTTP_API 1
#endif
#if __has_include("daemon/kubernetes_secret_sink.h")
#include "daemon/kubernetes_secret_sink.h"
#define CRTOKEN_HAVE_K8S_SINK 1
#endif

namespace crtoken {
namespace {

std::function<void(std::string_view)> CrashHookFromEnv() {
  const char* at = std::getenv("CRTOKEN_TEST_CRASH_AT");
  if (at == nullptr || *at == '\0') return nullptr;
  std::string point = at;
  spdlog::warn("CRTOKEN_TEST_CRASH_AT={}: this process will kill itself (test only)", point);
  return [point](std::string_view here) {
    if (here != point) return;
    spdlog::default_logger()->flush();
    ::_exit(137);
  };
}

}  // namespace

Result<std::unique_ptr<Runtime>> MakeRuntime(const Options& options, bool dry_run) {
  auto rt = std::make_unique<Runtime>();
  rt->metrics = std::make_unique<Metrics>();
  rt->clock = std::make_unique<SystemClock>();

#ifdef CRTOKEN_HAVE_HTTP_API
  auto api = MakeHttpRegistryApi(options, rt->metrics.get());
  if (!api.ok()) return api.error();
  rt->api = std::move(api.value());
#else
  return Error{ErrorKind::kInternal, "this build has no API client (daemon/http_registry_api.h)"};
#endif

  rt->file_sink = std::make_unique<FileSecretSink>(options.secret_dir);
#ifdef CRTOKEN_HAVE_K8S_SINK
  const char* in_cluster = std::getenv("KUBERNETES_SERVICE_HOST");
  if (!options.kubeconfig.empty() || (in_cluster != nullptr && *in_cluster != '\0')) {
    auto k8s = MakeKubernetesSecretSink(options.kubeconfig);
    if (!k8s.ok()) {
      // An explicit kubeconfig that does not work is a startup error; in-cluster detection is
      // only a guess, so there it is a warning and kubernetes secrets report the missing sink.
      if (!options.kubeconfig.empty()) return k8s.error();
      spdlog::warn("kubernetes sink not configured: {}", k8s.error().message);
    } else {
      rt->kubernetes_sink = std::move(k8s.value());
    }
  }
#endif
  rt->sink = std::make_unique<CompositeSecretSink>(rt->file_sink.get(), rt->kubernetes_sink.get());

  auto state = FileStateStore::Open(options.state_dir);
  if (!state.ok()) return state.error();
  rt->state = std::move(state.value());

  ReconcilerConfig config;
  config.policy = options.policy;
  config.dry_run = dry_run || options.dry_run;
  config.test_hook = CrashHookFromEnv();
  rt->reconciler = std::make_unique<Reconciler>(*rt->api, *rt->sink, *rt->state, *rt->clock,
                                                rt->metrics.get(), std::move(config));
  return rt;
}

}  // namespace crtoken
