// The composition shared by `crtoken plan`, `apply` and `run`: the API client, the secret sinks,
// the metrics and the Reconciler over them, built from Options. The one place where options become
// the adapters' own configurations: no adapter sees Options.
//
// Before the Reconciler is built, an ownership.json of an earlier version is migrated once
// (daemon/app/migration.h). Startup errors (no credentials, a bad URL, an explicit --kubeconfig
// that cannot be used, an unreadable or corrupt ownership.json) are one Error with a clear message;
// the caller prints it and exits 1.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include "daemon/app/fenced_ports.h"
#include "daemon/app/migration.h"
#include "daemon/app/options.h"
#include "daemon/common/file_ops.h"
#include "daemon/registry/http_registry_api.h"
#include "daemon/sinks/composite_secret_sink.h"
#include "daemon/sinks/file_secret_sink.h"
#include "reconciler/clock.h"
#include "reconciler/metrics.h"
#include "reconciler/reconciler.h"
#include "reconciler/registry_api.h"

namespace crtoken {

struct Runtime {
  std::string owner;  // --owner: whose tokens and secrets the pass works on
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<Clock> clock;
  std::unique_ptr<RegistryApi> api;
  std::unique_ptr<FileSecretSink> file_sink;
  // Connects on first use (--kubeconfig / $KUBECONFIG, else in-cluster); when that fails, each
  // kubernetes secret gets the error "kubernetes sink not configured: <why>".
  std::unique_ptr<SecretSink> kubernetes_sink;
  std::unique_ptr<CompositeSecretSink> sink;
  // NamespaceFanOutSink::ClusterDigest of the Kubernetes sink (nullopt until it has seen a fan-out
  // secret): `crtoken run` polls it to follow namespaces, copies and ServiceAccounts.
  std::function<Result<std::optional<std::string>>()> cluster_digest;
  // With a write guard (--leader-elect): `sink` behind the fence, what the reconciler writes
  // through; `api` is then fenced itself (fenced_ports.h).
  std::unique_ptr<SecretSink> fenced_sink;
  // What the migration of an old ownership.json did (or, in a dry run, would do); nullopt when
  // there was none. When it is not complete() the caller reports it and runs no pass. In a dry run
  // the reconciler works on `migration_view`: the API and the sink as the migration leaves them.
  std::optional<MigrationReport> migration;
  std::unique_ptr<MigrationView> migration_view;
  std::unique_ptr<Reconciler> reconciler;
};

// One writer per secret directory (docs/ownership.md): creates --secret-dir when it is missing
// (0700, and its missing parents), then takes LockDirectory on it, and removes the temporary files
// an earlier holder left when it died mid-write (RemoveStaleTempFiles; a failure there is a
// warning). apply and run call it before they read anything; plan and validate take no lock. Held
// while the result lives. An error names the directory: another crtoken apply or run holds it
// (kConflict), or it cannot be created or opened (kIo).
Result<DirectoryLock> LockSecretDir(const Options& options);

// The client the commands use: base URL, limits and TLS settings from `options`; credentials from
// --credentials-file or IONOS_TOKEN / IONOS_USERNAME + IONOS_PASSWORD (see
// daemon/registry/credentials.h). A
// missing credential is one kInvalid error naming the three ways to give one. Logs a warning when
// TLS verification is off or the credentials file is readable by others.
Result<std::unique_ptr<RegistryApi>> MakeHttpRegistryApi(const Options& options, Metrics* metrics);
// `before_write`: asked before each write attempt (HttpRegistryApiConfig::before_write).
Result<std::unique_ptr<RegistryApi>> MakeHttpRegistryApi(
    const Options& options, Metrics* metrics, const EnvLookup& env,
    std::function<void(const ApiWait&)> on_wait = nullptr, WriteGuard before_write = {});

// What a command may observe of the work as it happens (e.g. apply's progress line); each may be
// null. on_progress: ReconcilerConfig::on_progress; on_api_wait: HttpRegistryApiConfig::on_wait.
// write_guard (crtoken run --leader-elect): every registry and secret write asks it first and is
// not sent when it refuses: once per call at the ports (fenced_ports.h), and again right before
// each request of it leaves (a retry, the PUT after a Secret's GET), in the API client and the
// Kubernetes sink.
struct RuntimeHooks {
  std::function<void(const PassProgress&)> on_progress;
  std::function<void(const ApiWait&)> on_api_wait;
  WriteGuard write_guard;
};

// `dry_run` forces a read-only reconciler (crtoken plan) in addition to options.dry_run. Logs the
// options' warnings (a deprecated flag) first. The reconciler's owner is options.owner. The
// migration (of options.state_dir/ownership.json) runs after the adapters are built and before
// the reconciler is; in a dry run it writes nothing.
//
// TEST ONLY: when the environment variable CRTOKEN_TEST_CRASH_AT is after-put, after-secret or
// after-delete, the process ends with _exit(137) (as if killed with SIGKILL) the first time the
// pass reaches that point (ReconcilerConfig::test_hook). The end-to-end tests use it to prove
// crash safety; never set it otherwise.
Result<std::unique_ptr<Runtime>> MakeRuntime(const Options& options, bool dry_run = false,
                                             const RuntimeHooks& hooks = {});

}  // namespace crtoken
