#include "daemon/app/runtime.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>

#include "daemon/app/legacy_state.h"
#include "daemon/registry/credentials.h"
#include "daemon/registry/http_registry_api.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "daemon/sinks/namespace_fanout_sink.h"

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

// Connects to Kubernetes on the first kubernetes secret, not at startup: file-only setups never
// need a cluster (nor a working $KUBECONFIG), and a failure is reported on each secret that needs
// the sink, with its reason. List connects too, unless no cluster is configured at all (no
// kubeconfig, not in a cluster): then there is nowhere crtoken could have written a Secret, and
// it lists nothing. Thread-safe.
//
// The sink it makes fans a place out to namespaces (NamespaceFanOutSink over the Kubernetes
// Secret sink); the number of namespaces in each result goes to crtoken_secret_namespaces.
class LazyKubernetesSink : public SecretSink {
 public:
  LazyKubernetesSink(std::string kubeconfig, WriteGuard before_write, Metrics* metrics)
      : kubeconfig_(std::move(kubeconfig)),
        before_write_(std::move(before_write)),
        metrics_(metrics) {}
  Status Replicate(const SecretRef& ref, const SecretRecord& record) override {
    auto sink = Get();
    if (!sink.ok()) return sink.error();
    return sink.value()->Replicate(ref, record);
  }
  // NamespaceFanOutSink::ClusterDigest, once the sink exists (nullopt before).
  Result<std::optional<std::string>> ClusterDigest() {
    NamespaceFanOutSink* sink = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sink = sink_.get();
    }
    if (sink == nullptr) return std::optional<std::string>{};
    return sink->ClusterDigest();
  }
  Status Write(const SecretRef& ref, const DockerCredential& credential) override {
    auto sink = Get();
    if (!sink.ok()) return sink.error();
    return sink.value()->Write(ref, credential);
  }
  Result<SecretState> Inspect(const SecretRef& ref) override {
    auto sink = Get();
    if (!sink.ok()) return sink.error();
    return sink.value()->Inspect(ref);
  }
  Status Delete(const SecretRef& ref) override {
    auto sink = Get();
    if (!sink.ok()) return sink.error();
    return sink.value()->Delete(ref);
  }
  Result<std::vector<ListedSecret>> List(const std::string& owner) override {
    if (kubeconfig_.empty() && !ProcessEnv()("KUBERNETES_SERVICE_HOST")) {
      return std::vector<ListedSecret>{};
    }
    auto sink = Get();
    if (!sink.ok()) return sink.error();
    return sink.value()->List(owner);
  }
  Status Stamp(const SecretRef& ref, const SecretRecord& record) override {
    auto sink = Get();
    if (!sink.ok()) return sink.error();
    return sink.value()->Stamp(ref, record);
  }

 private:
  Result<SecretSink*> Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!sink_ && !error_) {
      KubernetesSinkOptions options;
      options.before_write = before_write_;
      auto made = MakeKubernetesSecretSink(kubeconfig_, std::move(options));
      std::optional<Error> failed;
      if (made.ok()) {
        KubeClientOptions client_options;
        client_options.before_write = before_write_;
        auto client = MakeKubeClient(kubeconfig_, kServiceAccountDir, ProcessEnv(),
                                     "namespace fan-out", client_options);
        if (client.ok()) {
          FanOutOptions fan_out;
          fan_out.on_results = [metrics = metrics_](const std::map<std::string, int>& counts) {
            if (metrics != nullptr) metrics->SetSecretNamespaces(counts);
          };
          sink_ = std::make_unique<NamespaceFanOutSink>(
              std::move(made.value()), std::move(client.value()), std::move(fan_out));
        } else {
          failed = client.error();
        }
      } else {
        failed = made.error();
      }
      if (failed) {
        error_ = Error{failed->kind, "kubernetes sink not configured: " + failed->message};
        spdlog::warn("{}", error_->message);
      }
    }
    if (error_) return *error_;
    return sink_.get();
  }

  std::string kubeconfig_;
  WriteGuard before_write_;
  std::mutex mu_;
  std::unique_ptr<NamespaceFanOutSink> sink_;
  std::optional<Error> error_;
  Metrics* metrics_;
};

}  // namespace

Result<std::unique_ptr<RegistryApi>> MakeHttpRegistryApi(
    const Options& options, Metrics* metrics, const EnvLookup& env,
    std::function<void(const ApiWait&)> on_wait, WriteGuard before_write) {
  std::vector<std::string> warnings;
  auto creds = LoadCredentials(options.credentials_file, env, &warnings);
  if (!creds.ok()) return creds.error();
  for (const std::string& w : warnings) spdlog::warn("{}", w);
  HttpRegistryApiConfig config;
  config.base_url = options.api_url.empty() ? std::string(kDefaultApiUrl) : options.api_url;
  config.credentials = creds.value();
  config.qps = options.api_qps;
  config.burst = options.api_burst;
  config.request_timeout = options.request_timeout;
  config.retry.retry_budget = options.retry_budget;
  config.retry.retry_after_cap = options.retry_after_cap;
  config.retry.retry_permanent_failures = !options.one_shot;
  config.ca_file = options.ca_file;
  config.insecure_skip_tls_verify = options.insecure_skip_tls_verify;
  config.metrics = metrics;
  config.on_wait = std::move(on_wait);
  config.before_write = std::move(before_write);
  if (config.insecure_skip_tls_verify) {
    spdlog::warn(
        "--insecure-skip-tls-verify: the API's TLS certificate is NOT verified; anyone on the "
        "network path can read the API credentials and every token password");
  }
  auto api = HttpRegistryApi::Create(std::move(config));
  if (!api.ok()) return api.error();
  spdlog::info("API client: {} ({}), {} qps, burst {}",
               options.api_url.empty() ? std::string(kDefaultApiUrl) : options.api_url,
               creds.value().description(), options.api_qps, options.api_burst);
  return std::unique_ptr<RegistryApi>(std::move(api.value()));
}

Result<std::unique_ptr<RegistryApi>> MakeHttpRegistryApi(const Options& options, Metrics* metrics) {
  return MakeHttpRegistryApi(options, metrics, ProcessEnv());
}

Result<std::unique_ptr<Runtime>> MakeRuntime(const Options& options, bool dry_run,
                                             const RuntimeHooks& hooks) {
  const WriteGuard& write_guard = hooks.write_guard;
  for (const std::string& warning : options.warnings) spdlog::warn("{}", warning);
  auto rt = std::make_unique<Runtime>();
  rt->owner = options.owner;
  rt->metrics = std::make_unique<Metrics>();
  rt->clock = std::make_unique<SystemClock>();

  auto api = MakeHttpRegistryApi(options, rt->metrics.get(), ProcessEnv(), hooks.on_api_wait,
                                 hooks.write_guard);
  if (!api.ok()) return api.error();
  rt->api = std::move(api.value());

  rt->file_sink = std::make_unique<FileSecretSink>(options.secret_dir);
  auto kubernetes =
      std::make_unique<LazyKubernetesSink>(options.kubeconfig, write_guard, rt->metrics.get());
  LazyKubernetesSink* lazy = kubernetes.get();
  rt->cluster_digest = [lazy] { return lazy->ClusterDigest(); };
  rt->kubernetes_sink = std::move(kubernetes);
  rt->sink = std::make_unique<CompositeSecretSink>(rt->file_sink.get(), rt->kubernetes_sink.get());
  if (write_guard) {
    rt->api = std::make_unique<FencedRegistryApi>(std::move(rt->api), write_guard);
    rt->fenced_sink = std::make_unique<FencedSecretSink>(*rt->sink, write_guard);
  }
  SecretSink& sink = rt->fenced_sink ? *rt->fenced_sink : *rt->sink;

  const bool read_only = dry_run || options.dry_run;
  if (write_guard && !read_only) {
    // Replicas migrate nothing: each would try, before any of them holds the Lease the migration's
    // writes need. One crtoken without --leader-elect migrates, once.
    auto legacy = ReadLegacyState(options.state_dir);
    if (!legacy.ok()) return legacy.error();
    if (legacy.value()) {
      return Error{ErrorKind::kInvalid,
                   "--leader-elect: " +
                       (std::filesystem::path(options.state_dir) / kLegacyStateFile).string() +
                       " holds the ownership records of an earlier version; migrate them once "
                       "with `crtoken apply` (or `crtoken run` without --leader-elect) and the "
                       "same --state-dir, then start the replicas"};
    }
  } else {
    auto migrated = MigrateLegacyState(options.state_dir, *rt->api, sink, options.owner, read_only);
    if (!migrated.ok()) return migrated.error();
    rt->migration = std::move(migrated.value());
  }
  RegistryApi* api_seen = rt->api.get();
  SecretSink* sink_seen = &sink;
  if (read_only && rt->migration) {
    rt->migration_view = std::make_unique<MigrationView>(*rt->api, *rt->sink, *rt->migration);
    api_seen = &rt->migration_view->api();
    sink_seen = &rt->migration_view->sink();
  }

  ReconcilerConfig config;
  config.policy = options.policy;
  config.policy.owner = options.owner;
  config.dry_run = read_only;
  config.test_hook = CrashHookFromEnv();
  config.on_progress = hooks.on_progress;
  rt->reconciler = std::make_unique<Reconciler>(*api_seen, *sink_seen, *rt->clock,
                                                rt->metrics.get(), std::move(config));
  return rt;
}

Result<DirectoryLock> LockSecretDir(const Options& options) {
  std::string dir = options.secret_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  if (dir.empty()) dir = ".";
  // mkdir -p: each missing component 0700, as the file sink creates it.
  for (size_t i = 1; i <= dir.size(); ++i) {
    if (i != dir.size() && dir[i] != '/') continue;
    const std::string prefix = dir.substr(0, i);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return IoError("cannot create the secret dir", prefix, errno);
    }
  }
  auto lock = LockDirectory(dir);
  if (!lock.ok()) return lock;
  // A crtoken that held the lock and died mid-write (kill -9, OOM) left its temporary files.
  auto removed = RemoveStaleTempFiles(dir);
  if (!removed.ok()) {
    spdlog::warn("{}", removed.error().message);
  } else if (removed.value() > 0) {
    spdlog::info("removed {} temporary files a crtoken left in {} when it stopped mid-write",
                 removed.value(), dir);
  }
  return lock;
}

}  // namespace crtoken
