// Operator configuration: flags, each with an environment variable CRTOKEN_<FLAG_IN_UPPER_SNAKE>;
// a flag wins over its variable. Credentials are never accepted as flag values.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "daemon/common/env.h"
#include "reconciler/error.h"
#include "reconciler/plan.h"

namespace crtoken {

struct Options {
  std::vector<std::string> specs;  // default {"./manifests"}
  std::string api_url;             // default $IONOS_API_URL, else the production URL
  std::string credentials_file;
  std::string secret_dir = "./secrets";
  // The name of this installation of crtoken, carried in the ids of the tokens it creates and in
  // the records of its secrets (docs/ownership.md): 1 to 63 characters of [a-z0-9-].
  std::string owner = "crtoken";
  // Deprecated (ignored by the reconcile pass): where versions before the stateless ownership kept
  // ownership.json. apply, run and plan only look there for a file to migrate.
  std::string state_dir = "./.crtoken";
  std::chrono::milliseconds resync = std::chrono::seconds(60);
  PlanPolicy policy;
  std::string metrics_addr = "127.0.0.1:9464";
  std::string health_addr = "127.0.0.1:8081";
  std::string log_format = "text";  // text | json
  std::string log_level = "info";   // trace | debug | info | warn | error
  bool dry_run = false;
  std::string output = "text";  // status: text | json
  // status: the running daemon's health address (http://HOST:PORT) to read the status from;
  // "" = a read-only pass of its own.
  std::string status_from;

  // The API client.
  double api_qps = 20;
  int api_burst = 40;
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  std::chrono::milliseconds retry_budget = std::chrono::seconds(120);
  std::chrono::milliseconds retry_after_cap = std::chrono::seconds(60);
  std::string ca_file;
  bool insecure_skip_tls_verify = false;
  // Not a flag: set by the one-shot commands (plan, apply). API connection failures that waiting
  // does not fix (refused, unresolvable name, untrusted certificate) then end a call at once
  // instead of being retried for --retry-budget; `crtoken run` keeps retrying them.
  bool one_shot = false;

  // The daemon (`crtoken run`).
  int concurrency = 4;
  std::chrono::milliseconds debounce = std::chrono::milliseconds(100);
  std::string watch = "auto";  // auto | inotify | poll
  std::chrono::milliseconds poll_interval = std::chrono::seconds(1);
  // Fan-out secrets: how often the namespaces, crtoken's Secrets and the ServiceAccounts are listed
  // to notice a namespace that starts or stops matching, a copy deleted by hand, a ServiceAccount
  // created (docs/fanout.md).
  std::chrono::milliseconds cluster_poll = std::chrono::seconds(2);
  // A token that a spec change un-declares is pruned only once the spec files have been unchanged
  // (no write, every file closed, a re-read that agrees) for this long.
  std::chrono::milliseconds prune_settle = std::chrono::seconds(3);
  // SIGTERM/SIGINT: how long in-flight passes may take to finish before the process exits anyway.
  std::chrono::milliseconds shutdown_timeout = std::chrono::seconds(25);

  // Kubernetes sink: in-cluster credentials, or this kubeconfig ($KUBECONFIG).
  std::string kubeconfig;

  // `crtoken run --leader-elect`: kube-controller-manager's flags and defaults. Only the replica
  // holding the Lease writes; the namespace defaults to the Kubernetes connection's (the pod's).
  bool leader_elect = false;
  std::string leader_elect_resource_name = "crtoken";
  std::string leader_elect_resource_namespace;
  std::chrono::milliseconds leader_elect_lease_duration = std::chrono::seconds(15);
  std::chrono::milliseconds leader_elect_renew_deadline = std::chrono::seconds(10);
  std::chrono::milliseconds leader_elect_retry_period = std::chrono::seconds(2);

  // Debugging only: leave core dumps and ptrace as the system has them. By default main makes the
  // process non-dumpable (no core file, no ptrace by other processes of the same user), since
  // its memory holds the API credentials and token passwords.
  bool allow_core_dumps = false;

  // One line each for the log, once logging is set up: a deprecated flag or variable was given.
  std::vector<std::string> warnings;

  // Positional arguments (validate's paths).
  std::vector<std::string> args;
  bool help = false;
};

// Parses `args` (after the subcommand) for `command`. A bad value, an unknown flag or a missing
// value is a kInvalid error naming the flag (or the variable) and what was wrong; a value quoted
// in it is made printable (no control characters, cut when long). A deprecated flag or variable
// that was given adds one line to `warnings`.
Result<Options> ParseOptions(const std::string& command, const std::vector<std::string>& args,
                             const EnvLookup& env);

// The flag reference printed by `crtoken <command> --help`.
std::string OptionsHelp(const std::string& command);

// The rule for --owner: 1 to 63 characters of a-z, 0-9 and '-'. Returns what is wrong with `owner`,
// or "" when it is valid.
std::string CheckOwnerName(const std::string& owner);

}  // namespace crtoken
