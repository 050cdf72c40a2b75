// Prints the daemon's figures against crtoken-emulator (README.md, "Daemon figures"):
//   1. latency from a spec file write to the first API request it causes (median and p99 over
//      --edits edits, each made once the previous one's pass is done and the files have been quiet
//      for longer than the debounce: edits closer together coalesce by design; target: median
//      under 100 ms);
//   2. idle CPU with --tokens tokens in sync, over --idle-seconds between resyncs (target: under
//      1% of one core);
//   3. peak RSS (VmHWM) with --tokens and with --large-tokens declared tokens (targets: under
//      30 MB and under 100 MB).
//
// Usage: daemon_bench [--crtoken PATH] [--edits 50] [--idle-seconds 60] [--tokens 1000]
//                     [--large-tokens 10000] [--skip-large] [--debounce 100ms] [--keep]
// QUICK=1 in the environment: 20 edits, 5 s idle, no 10,000-token run.
// The crtoken binary defaults to CRTOKEN_BINARY_DIR/daemon/crtoken; the emulator is found as the
// tests find it ($CRTOKEN_EMULATOR_BINARY, else the build tree).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using crtoken::test::EmulatorProcess;
using crtoken::test::FreePort;
using crtoken::test::HttpCall;
using crtoken::test::TempDir;

struct Flags {
  std::string crtoken = CRTOKEN_BINARY_DIR "/daemon/crtoken";
  int edits = 50;
  int idle_seconds = 60;
  int tokens = 1000;
  int large_tokens = 10000;
  bool skip_large = false;
  std::string debounce = "100ms";
  int registries = 10;
};

// --debounce as a duration: "100ms" or "1s".
std::chrono::milliseconds DebounceOf(const Flags& f) {
  const std::string& d = f.debounce;
  if (d.size() > 2 && d.compare(d.size() - 2, 2, "ms") == 0) {
    return std::chrono::milliseconds(std::stol(d.substr(0, d.size() - 2)));
  }
  if (d.size() > 1 && d.back() == 's')
    return std::chrono::seconds(std::stol(d.substr(0, d.size() - 1)));
  return std::chrono::milliseconds(100);
}

std::string Yaml(const std::string& name, const std::string& registry, const std::string& status) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: " + registry + "\n  status: " + status +
         "\n  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: [pull]\n"
         "  secret:\n    file: " +
         registry + "/" + name + ".json\n";
}

std::string RegistryName(int r) { return "bench-" + std::to_string(r); }

// One file per registry, `per` tokens each.
void WriteSpecs(const fs::path& dir, int registries, int per) {
  fs::create_directories(dir);
  for (int r = 0; r < registries; ++r) {
    std::ofstream out(dir / (RegistryName(r) + ".yaml"));
    for (int i = 0; i < per; ++i) {
      if (i > 0) out << "---\n";
      out << Yaml("t" + std::to_string(i), RegistryName(r), "enabled");
    }
  }
}

class Daemon {
 public:
  Daemon(const Flags& f, const EmulatorProcess& emu, const fs::path& dir,
         std::vector<std::string> extra) {
    health_port_ = FreePort();
    metrics_port_ = FreePort();
    std::vector<std::string> args = {f.crtoken,        "run",
                                     "--specs",        (dir / "specs").string(),
                                     "--api-url",      emu.base_url(),
                                     "--secret-dir",   (dir / "secrets").string(),
                                     "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port_),
                                     "--health-addr",  "127.0.0.1:" + std::to_string(health_port_),
                                     "--api-qps",      "100000",
                                     "--api-burst",    "100000",
                                     "--log-level",    "warn"};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::string log = (dir / "crtoken.log").string();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setenv("IONOS_TOKEN", "bench-token", 1);
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Daemon() { Stop(); }

  bool WaitReady(int timeout_s) {
    const auto end = Clock::now() + std::chrono::seconds(timeout_s);
    while (Clock::now() < end) {
      auto r = HttpCall("GET", "http://127.0.0.1:" + std::to_string(health_port_) + "/readyz", {},
                        "", 2000);
      if (r.status == 200) return true;
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  std::string Metrics() const {
    return HttpCall("GET", "http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics").body;
  }
  // utime + stime in clock ticks.
  long CpuTicks() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string s((std::istreambuf_iterator<char>(in)), {});
    auto close = s.rfind(')');
    std::istringstream rest(s.substr(close + 2));
    std::string field;
    long utime = 0, stime = 0;
    for (int i = 3; rest >> field; ++i) {
      if (i == 14) utime = std::stol(field);
      if (i == 15) {
        stime = std::stol(field);
        break;
      }
    }
    return utime + stime;
  }
  // VmHWM in kB.
  long PeakRssKb() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    }
    return -1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int health_port_ = 0;
  int metrics_port_ = 0;
};

std::vector<std::string> EmulatorArgs(int registries) {
  std::vector<std::string> args;
  for (int r = 0; r < registries; ++r) {
    args.push_back("--registry");
    args.push_back(RegistryName(r));
  }
  return args;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0;
  size_t idx = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// 1. Write -> first API request.
void BenchLatency(const Flags& f) {
  EmulatorProcess emu(EmulatorArgs(1));
  TempDir dir("crtoken-bench");
  WriteSpecs(dir / "specs", 1, 10);
  Daemon d(f, emu, dir.path(), {"--resync", "1h", "--debounce", f.debounce});
  if (!d.WaitReady(120)) {
    std::printf("latency: crtoken never became ready\n");
    return;
  }
  std::vector<double> ms;
  const fs::path file = dir / "specs" / (RegistryName(0) + ".yaml");
  for (int e = 0; e < f.edits; ++e) {
    emu.ClearRequests();
    // Toggle the first token's status: every edit must cause a list and a PATCH.
    std::string content;
    for (int i = 0; i < 10; ++i) {
      if (i > 0) content += "---\n";
      content += Yaml("t" + std::to_string(i), RegistryName(0),
                      i == 0 && e % 2 == 0 ? "disabled" : "enabled");
    }
    const auto t0 = Clock::now();
    {
      std::ofstream out(file, std::ios::trunc);
      out << content;
    }
    bool seen = false;
    while (!seen && Clock::now() - t0 < std::chrono::seconds(10)) {
      seen = !emu.Requests().empty();
      if (!seen) std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    if (seen) {
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    // Let the pass finish before the next edit (the next edit must not merge into it).
    auto patched = [&] {
      for (const auto& r : emu.Requests()) {
        if (r.method == "PATCH") return true;
      }
      return false;
    };
    const auto t1 = Clock::now();
    while (!patched() && Clock::now() - t1 < std::chrono::seconds(10)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    // A change within the debounce of the last reload is coalesced with what follows (an edit
    // storm): leave a quiet moment, as between two real edits.
    std::this_thread::sleep_for(DebounceOf(f) + std::chrono::milliseconds(50));
  }
  std::printf(
      "write -> first API request (%zu of %d edits seen, --debounce %s): median %.1f ms, "
      "p99 %.1f ms, min %.1f ms, max %.1f ms  (target: median < 100 ms)\n",
      ms.size(), f.edits, f.debounce.c_str(), Percentile(ms, 0.5), Percentile(ms, 0.99),
      Percentile(ms, 0), Percentile(ms, 1));
}

// 2 and 3. Idle CPU with `tokens` in sync, and peak RSS.
void BenchSteadyState(const Flags& f, int tokens, bool idle) {
  const int registries = std::min(f.registries, std::max(1, tokens / 100));
  EmulatorProcess emu(EmulatorArgs(registries));
  TempDir dir("crtoken-bench");
  WriteSpecs(dir / "specs", registries, tokens / registries);
  const auto t0 = Clock::now();
  Daemon d(f, emu, dir.path(), {"--resync", "1h"});
  if (!d.WaitReady(1800)) {
    std::printf("%d tokens: crtoken never became ready\n", tokens);
    return;
  }
  const double create_s = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%d tokens in %d registries: first pass (creates + secrets) took %.1f s\n", tokens,
              registries, create_s);
  if (idle) {
    // Let the pass's tail (state writes, logs) settle, then measure.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    emu.ClearRequests();
    const long before = d.CpuTicks();
    const auto start = Clock::now();
    std::this_thread::sleep_for(std::chrono::seconds(f.idle_seconds));
    const long ticks = d.CpuTicks() - before;
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    const double pct =
        100.0 * static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK)) / secs;
    std::printf(
        "idle CPU with %d tokens in sync over %.0f s: %.3f%% of one core (%ld ticks), "
        "%zu API requests  (target: < 1%%)\n",
        tokens, secs, pct, ticks, emu.Requests().size());
  }
  const long kb = d.PeakRssKb();
  d.Stop();
  // The steady state: a restart over the same state, every token already in sync (what a
  // long-running daemon holds between passes, without the first pass's creates).
  Daemon again(f, emu, dir.path(), {"--resync", "1h"});
  if (!again.WaitReady(600)) {
    std::printf("%d tokens: crtoken never became ready after a restart\n", tokens);
    return;
  }
  const long steady_kb = again.PeakRssKb();
  std::printf(
      "peak RSS with %d declared tokens: %.1f MB in sync (restart, no-change pass), "
      "%.1f MB through the first pass that created them  (target: < %d MB)\n",
      tokens, static_cast<double>(steady_kb) / 1024.0, static_cast<double>(kb) / 1024.0,
      tokens <= 1000 ? 30 : 100);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  if (const char* q = std::getenv("QUICK"); q != nullptr && std::string(q) == "1") {
    // QUICK=1 make bench: a short run.
    f.edits = 20;
    f.idle_seconds = 5;
    f.skip_large = true;
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--crtoken") {
      f.crtoken = next();
    } else if (a == "--edits") {
      f.edits = std::stoi(next());
    } else if (a == "--idle-seconds") {
      f.idle_seconds = std::stoi(next());
    } else if (a == "--tokens") {
      f.tokens = std::stoi(next());
    } else if (a == "--large-tokens") {
      f.large_tokens = std::stoi(next());
    } else if (a == "--skip-large") {
      f.skip_large = true;
    } else if (a == "--debounce") {
      f.debounce = next();
    } else {
      std::fprintf(stderr,
                   "usage: daemon_bench [--crtoken PATH] [--edits N] [--idle-seconds N] "
                   "[--tokens N] [--large-tokens N] [--skip-large] [--debounce D]\n");
      return 2;
    }
  }
  std::printf("== crtoken run (bench/daemon) ==\n");
  try {
    BenchLatency(f);
    BenchSteadyState(f, f.tokens, true);
    if (!f.skip_large) BenchSteadyState(f, f.large_tokens, false);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "daemon_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
