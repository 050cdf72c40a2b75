#include "daemon/app/options.h"

#include <cstdlib>
#include <map>
#include <sstream>

#include "daemon/common/json_text.h"
#include "daemon/kube/leader_elector.h"
#include "daemon/kube/lease_lock.h"
#include "daemon/registry/http_registry_api.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

// A setter returns an empty string on success, else what was wrong with the value.
using Setter = std::function<std::string(Options&, const std::string&)>;

struct Flag {
  const char* name;      // without the leading "--"
  const char* value;     // placeholder for help; nullptr for a boolean switch
  const char* commands;  // space-separated subcommands it applies to
  const char* help;
  Setter set;
  // Set for a deprecated flag: what it does now, for the one warning line when it is given.
  const char* deprecated = nullptr;
};

std::string SetDuration(std::chrono::milliseconds* out, const std::string& v) {
  auto d = ParseDuration(v);
  if (!d || d->count() <= 0) return "want a positive duration such as 30s, 5m, 1h or 1d";
  *out = *d;
  return "";
}

std::string SetBool(bool* out, const std::string& v) {
  if (v == "true" || v == "1" || v.empty()) {
    *out = true;
  } else if (v == "false" || v == "0") {
    *out = false;
  } else {
    return "want true or false";
  }
  return "";
}

std::string SetHostPort(std::string* out, const std::string& v) {
  auto colon = v.rfind(':');
  if (colon == std::string::npos) return "want HOST:PORT, e.g. 127.0.0.1:9464 or :9464";
  const std::string port = v.substr(colon + 1);
  char* end = nullptr;
  long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) return "bad port in " + v;
  *out = v;
  return "";
}

// Where the authority of a URL starts: after "://", or at 0 when there is no scheme.
size_t AuthorityStart(const std::string& url) {
  const size_t scheme_end = url.find("://");
  return scheme_end == std::string::npos ? 0 : scheme_end + 3;
}

// The position of the '@' that ends a URL's userinfo (user:password@), or npos when it has none.
size_t UserinfoEnd(const std::string& url) {
  const size_t start = AuthorityStart(url);
  const size_t end = url.find_first_of("/?#", start);
  const size_t at = url.rfind('@', end == std::string::npos ? std::string::npos : end);
  return at != std::string::npos && at >= start ? at : std::string::npos;
}

// `url` with its userinfo replaced by "***", so that an error can quote the rest.
std::string WithoutUserinfo(const std::string& url) {
  const size_t at = UserinfoEnd(url);
  if (at == std::string::npos) return url;
  return url.substr(0, AuthorityStart(url)) + "***" + url.substr(at);
}

// Credentials in the API URL would be logged and shown with it: they are refused.
std::string CheckUrlHasNoUserinfo(const std::string& url) {
  if (UserinfoEnd(url) == std::string::npos) return "";
  return "credentials in the URL (user:password@host) are not accepted: they would be logged; "
         "use IONOS_TOKEN, IONOS_USERNAME and IONOS_PASSWORD, or --credentials-file";
}

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = {
      {"specs", "PATH", "run plan apply validate",
       "spec file or directory, recursive (repeatable; default ./manifests)",
       [](Options& o, const std::string& v) {
         if (v.empty()) return std::string("empty path");
         o.specs.push_back(v);
         return std::string();
       }},
      {"api-url", "URL", "run plan apply",
       "API base URL, used as given (default $IONOS_API_URL, else the production URL)",
       [](Options& o, const std::string& v) {
         if (v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
           return std::string("want an http:// or https:// URL");
         }
         if (std::string why = CheckUrlHasNoUserinfo(v); !why.empty()) return why;
         o.api_url = v;
         return std::string();
       }},
      {"credentials-file", "FILE", "run plan apply",
       "file with IONOS_TOKEN=... or IONOS_USERNAME=... and IONOS_PASSWORD=... lines",
       [](Options& o, const std::string& v) {
         o.credentials_file = v;
         return std::string();
       }},
      {"secret-dir", "DIR", "run plan apply", "root of the file sink (default ./secrets)",
       [](Options& o, const std::string& v) {
         o.secret_dir = v;
         return std::string();
       }},
      {"owner", "NAME", "run plan apply",
       "this installation's name in its tokens' ids and its secrets' records (default crtoken)",
       [](Options& o, const std::string& v) {
         if (std::string why = CheckOwnerName(v); !why.empty()) return why;
         o.owner = v;
         return std::string();
       }},
      {"state-dir", "DIR", "run plan apply",
       "deprecated, ignored: crtoken keeps no state; an ownership.json found there (or in "
       "./.crtoken) is migrated once",
       [](Options& o, const std::string& v) {
         o.state_dir = v;
         return std::string();
       },
       "is deprecated and ignored: crtoken keeps no state of its own; an ownership.json there is "
       "migrated once (docs/ownership.md), then the flag can go"},
      {"resync", "DURATION", "run", "full re-check interval (default 60s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.resync, v); }},
      {"prune", "MODE", "run plan apply",
       "owned (default): delete undeclared tokens crtoken owns; none; all: also unowned ones",
       [](Options& o, const std::string& v) {
         auto mode = ParsePruneMode(v);
         if (!mode) return std::string("want owned, none or all");
         o.policy.prune = *mode;
         return std::string();
       }},
      {"adopt", nullptr, "run plan apply",
       "take over existing tokens with declared names (re-issues them: their password is unknown)",
       [](Options& o, const std::string& v) { return SetBool(&o.policy.adopt_all, v); }},
      {"metrics-addr", "HOST:PORT", "run", "Prometheus /metrics (default 127.0.0.1:9464)",
       [](Options& o, const std::string& v) { return SetHostPort(&o.metrics_addr, v); }},
      {"health-addr", "HOST:PORT", "run", "/healthz, /readyz and /status (default 127.0.0.1:8081)",
       [](Options& o, const std::string& v) { return SetHostPort(&o.health_addr, v); }},
      {"log-format", "text|json", "run plan apply", "log format (default text)",
       [](Options& o, const std::string& v) {
         if (v != "text" && v != "json") return std::string("want text or json");
         o.log_format = v;
         return std::string();
       }},
      {"log-level", "LEVEL", "run plan apply", "trace, debug, info (default), warn or error",
       [](Options& o, const std::string& v) {
         if (v != "trace" && v != "debug" && v != "info" && v != "warn" && v != "error") {
           return std::string("want trace, debug, info, warn or error");
         }
         o.log_level = v;
         return std::string();
       }},
      {"dry-run", nullptr, "run", "log the plan, write nothing",
       [](Options& o, const std::string& v) { return SetBool(&o.dry_run, v); }},
      {"api-qps", "N", "run plan apply", "client-side request rate limit (default 20/s)",
       [](Options& o, const std::string& v) {
         char* end = nullptr;
         double q = std::strtod(v.c_str(), &end);
         if (v.empty() || *end != '\0' || q <= 0) return std::string("want a positive number");
         o.api_qps = q;
         return std::string();
       }},
      {"api-burst", "N", "run plan apply", "requests allowed at once above the rate (default 40)",
       [](Options& o, const std::string& v) {
         char* end = nullptr;
         long b = std::strtol(v.c_str(), &end, 10);
         if (v.empty() || *end != '\0' || b < 1) return std::string("want a whole number >= 1");
         o.api_burst = static_cast<int>(b);
         return std::string();
       }},
      {"request-timeout", "DURATION", "run plan apply", "deadline of one API request (default 30s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.request_timeout, v); }},
      {"retry-budget", "DURATION", "run plan apply",
       "total time one API call may spend retrying (default 2m)",
       [](Options& o, const std::string& v) { return SetDuration(&o.retry_budget, v); }},
      {"retry-after-cap", "DURATION", "run plan apply",
       "longest Retry-After honoured (default 60s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.retry_after_cap, v); }},
      {"ca-file", "FILE", "run plan apply", "PEM bundle of a private CA for the API",
       [](Options& o, const std::string& v) {
         o.ca_file = v;
         return std::string();
       }},
      {"insecure-skip-tls-verify", nullptr, "run plan apply",
       "do not verify the API's TLS certificate (dangerous; logged as a warning)",
       [](Options& o, const std::string& v) { return SetBool(&o.insecure_skip_tls_verify, v); }},
      {"concurrency", "N", "run", "registries reconciled at once (default 4)",
       [](Options& o, const std::string& v) {
         char* end = nullptr;
         long c = std::strtol(v.c_str(), &end, 10);
         if (v.empty() || *end != '\0' || c < 1 || c > 64) return std::string("want 1 to 64");
         o.concurrency = static_cast<int>(c);
         return std::string();
       }},
      {"debounce", "DURATION", "run",
       "quiet time after a spec change before a pass (default 100ms)",
       [](Options& o, const std::string& v) { return SetDuration(&o.debounce, v); }},
      {"watch", "auto|inotify|poll", "run",
       "how spec changes are noticed: inotify, polling a content hash, or auto (default)",
       [](Options& o, const std::string& v) {
         if (v != "auto" && v != "inotify" && v != "poll") {
           return std::string("want auto, inotify or poll");
         }
         o.watch = v;
         return std::string();
       }},
      {"poll-interval", "DURATION", "run", "spec polling interval when polling (default 1s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.poll_interval, v); }},
      {"cluster-poll", "DURATION", "run",
       "how often fan-out secrets check namespaces, their copies and ServiceAccounts (default 2s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.cluster_poll, v); }},
      {"prune-settle", "DURATION", "run",
       "prune what a spec change un-declares once the specs are unchanged this long (default 3s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.prune_settle, v); }},
      {"shutdown-timeout", "DURATION", "run",
       "on SIGTERM/SIGINT, how long in-flight work may take to finish (default 25s)",
       [](Options& o, const std::string& v) { return SetDuration(&o.shutdown_timeout, v); }},
      {"kubeconfig", "FILE", "run plan apply",
       "kubeconfig for the Kubernetes sink (default $KUBECONFIG, else in-cluster)",
       [](Options& o, const std::string& v) {
         o.kubeconfig = v;
         return std::string();
       }},
      {"output", "text|json", "status",
       "text (default): one line per token; json: one document (also -o)",
       [](Options& o, const std::string& v) {
         if (v != "text" && v != "json") return std::string("want text or json");
         o.output = v;
         return std::string();
       }},
      {"from", "URL", "status",
       "read the states from the running daemon's --health-addr (http://HOST:PORT, GET /status) "
       "instead of a read-only pass of its own",
       [](Options& o, const std::string& v) {
         o.status_from = v;
         return std::string();
       }},
      {"leader-elect", nullptr, "run",
       "run as one of several replicas: only the holder of a Lease writes (needs a cluster)",
       [](Options& o, const std::string& v) { return SetBool(&o.leader_elect, v); }},
      {"leader-elect-resource-name", "NAME", "run", "the Lease's name (default crtoken)",
       [](Options& o, const std::string& v) {
         o.leader_elect_resource_name = v;
         return std::string();
       }},
      {"leader-elect-resource-namespace", "NS", "run",
       "the Lease's namespace (default: the pod's, else the kubeconfig context's, else default)",
       [](Options& o, const std::string& v) {
         o.leader_elect_resource_namespace = v;
         return std::string();
       }},
      {"leader-elect-lease-duration", "DURATION", "run",
       "how long a standby waits for an unrenewed Lease before it takes it (default 15s)",
       [](Options& o, const std::string& v) {
         return SetDuration(&o.leader_elect_lease_duration, v);
       }},
      {"leader-elect-renew-deadline", "DURATION", "run",
       "how long the leader keeps writing without a renewal of its Lease (default 10s)",
       [](Options& o, const std::string& v) {
         return SetDuration(&o.leader_elect_renew_deadline, v);
       }},
      {"leader-elect-retry-period", "DURATION", "run",
       "how often the Lease is renewed, or tried by a standby (default 2s)",
       [](Options& o, const std::string& v) {
         return SetDuration(&o.leader_elect_retry_period, v);
       }},
      {"allow-core-dumps", nullptr, "run plan apply validate",
       "debugging only: allow core dumps and ptrace (by default the process is non-dumpable: "
       "its memory holds credentials and passwords)",
       [](Options& o, const std::string& v) { return SetBool(&o.allow_core_dumps, v); }},
  };
  return flags;
}

bool AppliesTo(const Flag& flag, const std::string& command) {
  // `crtoken status` is a read-only pass like `plan`: it takes plan's flags, and its own.
  if (command == "status" && AppliesTo(flag, "plan")) return true;
  std::istringstream in(flag.commands);
  std::string c;
  while (in >> c) {
    if (c == command) return true;
  }
  return false;
}

std::string EnvName(const std::string& flag) {
  std::string out = "CRTOKEN_";
  for (char c : flag) out += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return out;
}

Error Invalid(const std::string& message) { return Error{ErrorKind::kInvalid, message}; }

// A value quoted in an error: without userinfo, on one printable line, not too long.
std::string Quoted(const std::string& value) { return PrintableText(WithoutUserinfo(value), 256); }

// The leader election flags together (client-go's rules, and names the API server accepts).
std::string CheckLeaderElection(const Options& o) {
  LeaderElectionConfig c;
  c.lease_duration = o.leader_elect_lease_duration;
  c.renew_deadline = o.leader_elect_renew_deadline;
  c.retry_period = o.leader_elect_retry_period;
  if (std::string why = ValidateLeaderElection(c); !why.empty()) return why;
  const std::string ns =
      o.leader_elect_resource_namespace.empty() ? "default" : o.leader_elect_resource_namespace;
  if (std::string why = ValidLeaseName(ns, o.leader_elect_resource_name); !why.empty()) {
    return "--leader-elect-resource-" +
           std::string(why.rfind("namespace", 0) == 0 ? "namespace: " : "name: ") + why;
  }
  return "";
}

}  // namespace

std::string CheckOwnerName(const std::string& owner) {
  const std::string rule = "want 1 to 63 characters of a-z, 0-9 and '-'";
  if (owner.empty()) return rule + " (it is empty)";
  if (owner.size() > 63) return rule + " (it has " + std::to_string(owner.size()) + ")";
  for (size_t i = 0; i < owner.size(); ++i) {
    const char c = owner[i];
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-') continue;
    return rule + " (character " + std::to_string(i + 1) + " is not one of them)";
  }
  return "";
}

Result<Options> ParseOptions(const std::string& command, const std::vector<std::string>& args,
                             const EnvLookup& env) {
  Options o;
  // Where each deprecated flag that was given came from (the flag wins over its variable).
  std::map<const Flag*, std::string> deprecated_given;
  // Environment first, so that flags win.
  for (const Flag& f : Flags()) {
    if (!AppliesTo(f, command)) continue;
    auto v = env(EnvName(f.name));
    if (!v) continue;
    if (f.deprecated != nullptr) deprecated_given[&f] = "$" + EnvName(f.name);
    if (std::string(f.name) == "specs") {
      // A list: colon-separated, like PATH.
      std::istringstream in(*v);
      std::string part;
      while (std::getline(in, part, ':')) {
        if (!part.empty()) o.specs.push_back(part);
      }
      continue;
    }
    if (std::string why = f.set(o, *v); !why.empty()) {
      return Invalid("bad value in $" + EnvName(f.name) + "=" + Quoted(*v) + ": " + why);
    }
  }
  bool specs_from_flags = false;
  for (size_t i = 0; i < args.size(); ++i) {
    // -o is the one short flag: --output.
    const std::string a = args[i] == "-o" ? std::string("--output") : args[i];
    if (a == "-h" || a == "--help") {
      o.help = true;
      continue;
    }
    if (a == "--") {
      o.args.insert(o.args.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (a.rfind("--", 0) != 0 || a.size() == 2) {
      if (!a.empty() && a[0] == '-') return Invalid("unknown flag " + a);
      o.args.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "token" || name == "password" || name == "username") {
      return Invalid("--" + name +
                     " is not accepted: credentials come from IONOS_TOKEN, IONOS_USERNAME and "
                     "IONOS_PASSWORD, or --credentials-file, never from the command line");
    }
    const Flag* flag = nullptr;
    for (const Flag& f : Flags()) {
      if (name == f.name && AppliesTo(f, command)) flag = &f;
    }
    if (flag == nullptr) {
      return Invalid("unknown flag --" + Quoted(name) + " for crtoken " + command);
    }
    if (flag->deprecated != nullptr) deprecated_given[flag] = "--" + name;
    if (!value) {
      if (flag->value == nullptr) {
        value = "true";
      } else {
        if (i + 1 >= args.size()) return Invalid("flag --" + name + " needs a value");
        value = args[++i];
      }
    }
    if (name == "specs" && !specs_from_flags) {
      o.specs.clear();  // flags replace the environment's list
      specs_from_flags = true;
    }
    if (std::string why = flag->set(o, *value); !why.empty()) {
      return Invalid("bad value for --" + name + " \"" + Quoted(*value) + "\": " + why);
    }
  }
  for (const auto& [flag, where] : deprecated_given) {
    o.warnings.push_back(where + " " + flag->deprecated);
  }
  if (o.specs.empty()) o.specs.push_back("./manifests");
  if (o.api_url.empty()) {
    auto url = env("IONOS_API_URL");
    o.api_url = url && !url->empty() ? *url : kDefaultApiUrl;
    if (std::string why = CheckUrlHasNoUserinfo(o.api_url); !why.empty()) {
      return Invalid("bad value in $IONOS_API_URL=" + WithoutUserinfo(o.api_url) + ": " + why);
    }
  }
  if (o.kubeconfig.empty()) {
    if (auto k = env("KUBECONFIG")) o.kubeconfig = *k;
  }
  if (o.leader_elect) {
    if (std::string why = CheckLeaderElection(o); !why.empty()) return Invalid(why);
  }
  return o;
}

std::string OptionsHelp(const std::string& command) {
  std::ostringstream out;
  for (const Flag& f : Flags()) {
    if (!AppliesTo(f, command)) continue;
    std::string left = std::string("  --") + f.name + (f.value ? std::string(" ") + f.value : "");
    out << left;
    out << (left.size() < 34 ? std::string(34 - left.size(), ' ') : std::string("  "));
    out << f.help << "  [$" << EnvName(f.name) << "]\n";
  }
  return out.str();
}

}  // namespace crtoken
