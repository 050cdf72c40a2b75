// apply_bench: what one `crtoken apply` costs at scale, against crtoken-emulator on loopback.
//
//   (a) a no-change apply over N tokens (default 1,000) in R registries (default 10), referenced
//       by name: the requests it sends, from the emulator's request log, and what they are made
//       of. Target: at most one registry list page per 100 registries plus one token list page
//       per 100 tokens per registry (11 for the default), nothing else;
//   (b) an apply of the N tokens, new (creates), against the bare sequential replay of the same
//       HTTP requests on one keep-alive connection (the test shelf's raw-socket HttpConnection,
//       against a fresh emulator): the ratio, target at most 1.0x. For scale, the same sequence
//       through cpprest (the HTTP library crtoken uses), and `crtoken validate` of the same specs
//       (process start and spec loading, no HTTP: what an apply costs before its first request).
// Each round starts fresh emulators; the figures are printed per round and as medians. The API
// rate limit is lifted (--api-qps): the figures are about the client, not the limiter.
//
// With --api-latency-ms L every emulator delays each API answer by L ms (a fault rule with only
// delayMs), as the real service's round trip does: the ratio then shows what the engine's
// requests in flight buy against the sequential replay, where loopback's zero latency shows only
// the client's own cost per request.
//
// Usage: apply_bench [--tokens N] [--registries R] [--rounds K] [--api-latency-ms L]
// Everything goes under $TMPDIR (default /tmp): TMPDIR=/dev/shm puts the secrets on tmpfs, as an
// emptyDir with medium: Memory does in a pod.
#include <cpprest/http_client.h>
#include <fcntl.h>
#include <pplx/threadpool.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// What the requests of a no-change apply are: registry list pages, registry reads by id, token
// list pages, anything else.
struct ReadMix {
  int registry_lists = 0, registry_gets = 0, token_lists = 0, other = 0;
};

ReadMix Classify(const std::vector<RequestEntry>& log) {
  ReadMix m;
  const std::string registries = "/containerregistries/registries";
  for (const auto& r : log) {
    const std::string& p = r.path;
    if (r.method != "GET" || p.rfind(registries, 0) != 0) {
      ++m.other;
    } else if (p.find("/tokens") != std::string::npos) {
      ++m.token_lists;
    } else if (p.size() == registries.size() || p[registries.size()] == '?') {
      ++m.registry_lists;
    } else {
      ++m.registry_gets;
    }
  }
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  int tokens = 1000;
  int registries = 10;
  int rounds = 3;
  int latency_ms = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--tokens") tokens = std::atoi(argv[i + 1]);
    if (flag == "--registries") registries = std::atoi(argv[i + 1]);
    if (flag == "--rounds") rounds = std::max(1, std::atoi(argv[i + 1]));
    if (flag == "--api-latency-ms") latency_ms = std::max(0, std::atoi(argv[i + 1]));
  }
  // Every API answer of `emu` delayed by latency_ms (the admin routes are not).
  auto with_latency = [latency_ms](EmulatorProcess& emu) {
    if (latency_ms > 0) emu.AddFault(json{{"delayMs", latency_ms}});
  };
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
  const char* tmpdir = std::getenv("TMPDIR");
  std::printf(
      "apply_bench: %d tokens across %d registries (referenced by name); crtoken apply against "
      "crtoken-emulator on loopback; secrets under %s; API rate limit lifted; %d rounds\n\n",
      tokens, registries, tmpdir != nullptr ? tmpdir : "/tmp", rounds);

  struct Request {
    std::string method, path, body;
  };
  // The requests of a create apply, replayable against a fresh emulator: registry ids mapped by
  // name, PUT bodies rebuilt (the log holds no bodies).
  auto replayable = [&](const std::vector<RequestEntry>& log, const json& state,
                        EmulatorProcess& fresh) {
    std::map<std::string, std::string> token_names;  // token id -> name
    std::map<std::string, std::string> registry_names;
    for (const auto& r : state["registries"]) {
      registry_names[r["id"]] = r["name"];
      for (const auto& t : r["tokens"]) token_names[t["id"]] = t["name"];
    }
    const json fresh_state = fresh.StateJson();
    std::map<std::string, std::string> new_id;  // old registry id -> new
    for (const auto& r : fresh_state["registries"]) {
      for (const auto& [old_id, name] : registry_names) {
        if (name == r["name"]) new_id[old_id] = r["id"];
      }
    }
    std::vector<Request> out;
    for (const auto& r : log) {
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

  std::vector<double> apply_s, pass_s, replay_s, cpprest_s, validate_s;
  std::vector<RequestEntry> noop_log;
  Run noop;
  int failures = 0;
  // cpprest's pool is sized once per process, as crtoken sizes it (daemon/common/cpprest_pool.h):
  // the cpprest baseline is the best the library does.
  crossplat::threadpool::initialize_with_threads(2);
  for (int round = 1; round <= rounds; ++round) {
    EmulatorProcess emu(emu_args);
    with_latency(emu);
    // The secrets of each round in a directory of their own, deleted only at the end: on
    // ext4, creating files soon after many were deleted is slow (the kernel skips recently freed
    // inodes), which would make each round slower than the one before.
    const std::filesystem::path out = dir / ("round-" + std::to_string(round));
    std::filesystem::create_directories(out);
    const std::vector<std::string> args = {"apply",
                                           "--specs",
                                           (dir / "specs").string(),
                                           "--api-url",
                                           emu.base_url(),
                                           "--secret-dir",
                                           (out / "secrets").string(),
                                           "--api-qps",
                                           "1000000",
                                           "--api-burst",
                                           "1000000",
                                           "--log-level",
                                           "warn"};
    Run validate =
        RunCrtoken({"validate", (dir / "specs").string()}, (dir / "validate.log").string());
    Run create = RunCrtoken(args, (dir / "create.log").string());
    const std::vector<RequestEntry> create_log = emu.Requests();
    const json state = emu.StateJson();
    size_t issued = 0;
    for (const auto& r : state["registries"]) issued += r["tokens"].size();
    const double pass = PassSeconds((dir / "create.log").string());
    std::printf(
        "round %d: apply, %d new tokens: exit %d, %.3f s wall (pass %.3f s, process start and spec "
        "loading %.3f s), requests %s, peak RSS %ld KiB, %zu tokens in the emulator\n",
        round, tokens, create.exit_code, create.seconds, pass, create.seconds - pass,
        Describe(CountByMethod(create_log), create_log.size()).c_str(), create.max_rss_kb, issued);
    failures += create.exit_code != 0 || validate.exit_code != 0;

    // The baselines: the same requests in the same order, one at a time on one keep-alive
    // connection, each against a fresh emulator, bodies built before the clock starts.
    {
      EmulatorProcess fresh(emu_args);
      with_latency(fresh);
      const std::vector<Request> requests = replayable(create_log, state, fresh);
      HttpConnection conn("127.0.0.1", fresh.port());
      const crtoken::test::Headers headers = {{"Authorization", "Bearer t"},
                                              {"Content-Type", "application/json"},
                                              {"Accept", "application/json"}};
      int failed = 0;
      const auto start = Clock::now();
      for (const auto& r : requests) {
        if (conn.Call(r.method, r.path, headers, r.body).status / 100 != 2) ++failed;
      }
      replay_s.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      failures += failed != 0;
      std::printf("  bare replay, raw socket:  %.3f s for the same %zu requests (%d non-2xx)\n",
                  replay_s.back(), requests.size(), failed);
    }
    {
      EmulatorProcess fresh(emu_args);
      with_latency(fresh);
      const std::vector<Request> requests = replayable(create_log, state, fresh);
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
      cpprest_s.push_back(std::chrono::duration<double>(Clock::now() - start).count());
      failures += failed != 0;
      std::printf("  bare sequence, cpprest:   %.3f s (%d non-2xx)\n", cpprest_s.back(), failed);
    }
    std::printf("  crtoken validate:         %.3f s (the same specs, no HTTP)\n", validate.seconds);
    apply_s.push_back(create.seconds);
    pass_s.push_back(pass);
    validate_s.push_back(validate.seconds);

    if (round == rounds) {
      emu.ClearRequests();
      noop = RunCrtoken(args, (dir / "noop.log").string());
      noop_log = emu.Requests();
      failures += noop.exit_code != 0;
    }
    if (keep && round == rounds) {
      std::filesystem::copy(dir / "create.log", "/tmp/apply_bench_create.log",
                            std::filesystem::copy_options::overwrite_existing);
    }
  }

  const ReadMix mix = Classify(noop_log);
  const int per_registry = (tokens / registries + 99) / 100;
  const int target = (registries + 99) / 100 + registries * per_registry;
  std::printf(
      "\n(a) apply, no change: exit %d, %.3f s wall, peak RSS %ld KiB, %zu requests (target <= %d: "
      "%d registry list page(s) + %d token list page(s))\n"
      "    made of: %d registry list pages, %d registry reads by id, %d token list pages, %d "
      "other\n",
      noop.exit_code, noop.seconds, noop.max_rss_kb, noop_log.size(), target,
      (registries + 99) / 100, registries * per_registry, mix.registry_lists, mix.registry_gets,
      mix.token_lists, mix.other);
  const double apply = Median(apply_s), replay = Median(replay_s), cpprest = Median(cpprest_s);
  std::printf(
      "\n(b) apply of %d new tokens, API latency %d ms, medians of %d rounds: %.3f s wall (pass "
      "%.3f s; crtoken "
      "validate of the same specs %.3f s)\n"
      "    apply / bare raw-socket replay of its requests = %.3f / %.3f s = %.2fx (target <= "
      "1.0x)\n"
      "    apply / the same sequence through cpprest       = %.3f / %.3f s = %.2fx\n",
      tokens, latency_ms, rounds, apply, Median(pass_s), Median(validate_s), apply, replay,
      apply / replay, apply, cpprest, apply / cpprest);
  if (keep) std::printf("logs: %s\n", dir.path().c_str());
  return failures == 0 ? 0 : 1;
}
