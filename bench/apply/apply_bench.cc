// apply_bench: what one `crtoken apply` costs at scale, against crtoken-emulator on loopback.
//
//   1. apply of N new tokens (default 1,000) across R registries (default 10): wall time, requests
//      sent (from the emulator's request log), peak RSS of the crtoken process (getrusage);
//   2. a no-change apply over the same tokens: the same figures; the target is one list request per
//      100 tokens per registry plus the registry lookups, and nothing else;
//   3. the bare sequence of the requests of (1), replayed on one keep-alive connection against a
//      fresh emulator, through cpprest (the HTTP library crtoken uses: the target is (1) within
//      1.5x of this) and through raw sockets (the emulator's floor);
// and the duration of the apply's passes, from its summary line (the wall time minus process start
// and spec loading).
//
// Usage: apply_bench [--tokens N] [--registries R]
// Everything goes under $TMPDIR (default /tmp): TMPDIR=/dev/shm puts the secrets on tmpfs, as an
// emptyDir with medium: Memory does in a pod.
#include <cpprest/http_client.h>
#include <fcntl.h>
#include <pplx/threadpool.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace {

using crtoken::test::EmulatorProcess;
using crtoken::test::HttpConnection;
using crtoken::test::RequestEntry;
using crtoken::test::TempDir;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Run {
  int exit_code = -1;
  double seconds = 0;
  long max_rss_kb = 0;
};

// Runs crtoken with `args`; output to `log`. Peak RSS from wait4's rusage of that child alone.
Run RunCrtoken(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> env_s = {"PATH=/usr/bin:/bin", "IONOS_TOKEN=t"};
  std::vector<char*> envp;
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string bin = std::string(CRTOKEN_BINARY_DIR) + "/daemon/crtoken";
  std::vector<std::string> argv_s = {bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(bin.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  ::wait4(pid, &status, 0, &usage);
  Run run;
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.max_rss_kb = usage.ru_maxrss;
  return run;
}

std::map<std::string, int> CountByMethod(const std::vector<RequestEntry>& log) {
  std::map<std::string, int> out;
  for (const auto& r : log) ++out[r.method];
  return out;
}

std::string Describe(const std::map<std::string, int>& by_method, size_t total) {
  std::string s = std::to_string(total) + " (";
  bool first = true;
  for (const auto& [m, n] : by_method) {
    s += (first ? "" : ", ") + m + " " + std::to_string(n);
    first = false;
  }
  return s + ")";
}

// The seconds of the passes, from the apply's summary line "Apply: ... converged in 0.46 s (...)".
double PassSeconds(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line)) {
    auto at = line.find("converged in ");
    if (line.rfind("Apply: ", 0) == 0 && at != std::string::npos) {
      return std::atof(line.c_str() + at + 13);
    }
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int tokens = 1000;
  int registries = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--tokens") tokens = std::atoi(argv[i + 1]);
    if (flag == "--registries") registries = std::atoi(argv[i + 1]);
  }
  std::vector<std::string> emu_args = {"--token", "t"};
  std::vector<std::string> names;
  for (int r = 0; r < registries; ++r) {
    char name[32];
    std::snprintf(name, sizeof name, "bench-%02d", r);
    names.push_back(name);
    emu_args.push_back("--registry");
    emu_args.push_back(name);
  }

  TempDir dir("crtoken-apply-bench");
  const bool keep = std::getenv("ENGINE_BENCH_KEEP") != nullptr;
  std::filesystem::create_directories(dir / "specs");
  for (int r = 0; r < registries; ++r) {
    std::ofstream out(dir / ("specs/" + names[r] + ".yaml"));
    for (int t = r; t < tokens; t += registries) {
      out << "---\napiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: tok-"
          << t << "\nspec:\n  registry: " << names[r]
          << "\n  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: [pull, "
             "push]\n  secret:\n    file: "
          << names[r] << "/tok-" << t << ".json\n";
    }
  }

  std::printf(
      "apply_bench: %d tokens across %d registries; crtoken apply against "
      "crtoken-emulator on loopback\n\n",
      tokens, registries);
  EmulatorProcess emu(emu_args);
  const std::vector<std::string> args = {"apply",
                                         "--specs",
                                         (dir / "specs").string(),
                                         "--api-url",
                                         emu.base_url(),
                                         "--secret-dir",
                                         (dir / "secrets").string(),
                                         "--state-dir",
                                         (dir / "state").string(),
                                         "--api-qps",
                                         "1000000",
                                         "--api-burst",
                                         "1000000",
                                         "--log-level",
                                         "warn"};

  Run create = RunCrtoken(args, (dir / "create.log").string());
  std::vector<RequestEntry> create_log = emu.Requests();
  json state = emu.StateJson();
  size_t issued = 0;
  for (const auto& r : state["registries"]) issued += r["tokens"].size();
  std::printf(
      "apply, %d new tokens:   exit %d, %.3f s wall, requests %s, peak RSS %ld KiB, "
      "%zu tokens in the emulator\n",
      tokens, create.exit_code, create.seconds,
      Describe(CountByMethod(create_log), create_log.size()).c_str(), create.max_rss_kb, issued);
  std::printf("  of which the reconcile pass: %.3f s (the rest: process start and spec loading)\n",
              PassSeconds((dir / "create.log").string()));

  emu.ClearRequests();
  Run noop = RunCrtoken(args, (dir / "noop.log").string());
  std::vector<RequestEntry> noop_log = emu.Requests();
  std::printf("apply, no change:       exit %d, %.3f s wall, requests %s, peak RSS %ld KiB\n",
              noop.exit_code, noop.seconds,
              Describe(CountByMethod(noop_log), noop_log.size()).c_str(), noop.max_rss_kb);
  int lists = 0, lookups = 0, other = 0;
  for (const auto& r : noop_log) {
    if (r.method == "GET" && r.path.find("/tokens") != std::string::npos) {
      ++lists;
    } else if (r.method == "GET" && r.path.find("/registries") != std::string::npos) {
      ++lookups;
    } else {
      ++other;
    }
  }
  const int expected_lists = registries * ((tokens / registries + 99) / 100);
  std::printf(
      "  no-change requests: %d token lists (target %d = one per 100 tokens per "
      "registry), %d registry lookups, %d other (target 0)\n",
      lists, expected_lists, lookups, other);

  // The baselines: the same requests as the create apply, in the same order, one at a time on one
  // keep-alive connection, each against a fresh emulator (registry ids mapped by name), bodies
  // built before the clock starts. (a) through cpprest, the HTTP library crtoken must use: the
  // target compares the apply with this; (b) raw sockets: the emulator's own floor.
  std::map<std::string, std::string> token_names;  // token id -> name
  std::map<std::string, std::string> registry_names;
  for (const auto& r : state["registries"]) {
    registry_names[r["id"]] = r["name"];
    for (const auto& t : r["tokens"]) token_names[t["id"]] = t["name"];
  }
  struct Request {
    std::string method, path, body;
  };
  auto requests_for = [&](EmulatorProcess& fresh) {
    json fresh_state = fresh.StateJson();
    std::map<std::string, std::string> new_id;  // old registry id -> new
    for (const auto& r : fresh_state["registries"]) {
      for (const auto& [old_id, name] : registry_names) {
        if (name == r["name"]) new_id[old_id] = r["id"];
      }
    }
    std::vector<Request> out;
    for (const auto& r : create_log) {
      Request req{r.method, r.path, ""};
      for (const auto& [old_id, id] : new_id) {
        if (auto pos = req.path.find(old_id); pos != std::string::npos)
          req.path.replace(pos, old_id.size(), id);
      }
      if (r.method == "PUT") {
        const std::string token_id = req.path.substr(req.path.rfind('/') + 1);
        req.body = json{{"properties",
                         {{"name", token_names[token_id]},
                          {"status", "enabled"},
                          {"scopes", json::array({{{"name", "app/*"},
                                                   {"type", "repository"},
                                                   {"actions", {"pull", "push"}}}})}}}}
                       .dump();
      }
      out.push_back(std::move(req));
    }
    return out;
  };

  double raw_seconds = 0;
  {
    EmulatorProcess fresh(emu_args);
    const std::vector<Request> requests = requests_for(fresh);
    HttpConnection conn("127.0.0.1", fresh.port());
    const crtoken::test::Headers headers = {{"Authorization", "Bearer t"},
                                            {"Content-Type", "application/json"},
                                            {"Accept", "application/json"}};
    int failed = 0;
    const auto start = Clock::now();
    for (const auto& r : requests) {
      if (conn.Call(r.method, r.path, headers, r.body).status / 100 != 2) ++failed;
    }
    raw_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "bare raw-socket replay: %.3f s for the same requests on one keep-alive connection (%d "
        "non-2xx): the emulator's floor\n",
        raw_seconds, failed);
  }
  double cpprest_seconds = 0;
  {
    EmulatorProcess fresh(emu_args);
    const std::vector<Request> requests = requests_for(fresh);
    // The pool size crtoken sets (daemon/common/cpprest_pool.h): cpprest's default of 40 threads is
    // slower, and the baseline should be the best the library does.
    crossplat::threadpool::initialize_with_threads(2);
    web::http::client::http_client client(fresh.root_url());
    int failed = 0;
    const auto start = Clock::now();
    for (const auto& r : requests) {
      web::http::http_request req(r.method);
      req.set_request_uri(r.path);
      req.headers().add("Authorization", "Bearer t");
      req.headers().add("Accept", "application/json");
      if (!r.body.empty()) req.set_body(r.body, "application/json");
      web::http::http_response resp = client.request(req).get();
      resp.extract_string(true).get();
      if (resp.status_code() / 100 != 2) ++failed;
    }
    cpprest_seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf(
        "bare cpprest sequence:  %.3f s for the same %zu requests on one keep-alive connection "
        "(%d non-2xx)\n",
        cpprest_seconds, requests.size(), failed);
  }
  std::printf(
      "  create apply / bare cpprest sequence = %.2fx (target <= 1.5x; the apply also starts the "
      "process, reads %d spec documents, writes %d secret files and 2 state records)\n"
      "  create apply / raw-socket replay     = %.2fx (cpprest's own cost per request is most "
      "of the difference)\n",
      create.seconds / cpprest_seconds, tokens, tokens, create.seconds / raw_seconds);
  if (keep) {
    std::printf("logs: %s\n", dir.path().c_str());
    std::filesystem::copy(dir / "create.log", "/tmp/apply_bench_create.log",
                          std::filesystem::copy_options::overwrite_existing);
  }
  return create.exit_code == 0 && noop.exit_code == 0 ? 0 : 1;
}
