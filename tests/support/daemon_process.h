// Runs `crtoken run` (or another server an end-to-end test needs) as a child process: its own
// process group, stdout and stderr to a log file, stopped with a signal and reaped with a deadline.
// The child is killed when the thread that started it ends (PR_SET_PDEATHSIG), so that a test
// killed by its timeout leaves no server behind: start it on the test's own thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace crtoken::test {

class DaemonProcess {
 public:
  // A program to start: its path and its arguments (after the program itself).
  struct Program {
    std::filesystem::path path;
    std::vector<std::string> args;
  };

  // Starts the crtoken binary (CrtokenBinaryPath(), crtoken_process.h) with `args` (after "run")
  // and the extra environment `env`; the test's own CRTOKEN_* and IONOS_* variables are dropped.
  DaemonProcess(std::vector<std::string> args, std::map<std::string, std::string> env,
                std::filesystem::path log_file);
  // Starts another long-running program the same way (a server an end-to-end test needs).
  DaemonProcess(Program program, std::map<std::string, std::string> env,
                std::filesystem::path log_file);
  ~DaemonProcess();  // SIGKILL if still running
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) const;
  // Waits for the exit; the exit code (128 + signal when killed), or nullopt after `deadline`.
  std::optional<int> Wait(std::chrono::milliseconds deadline);
  bool running();
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::filesystem::path log_file_;
};

// The value of one series in a Prometheus text exposition, e.g.
// MetricValue(text, "crtoken_reconcile_total{result=\"success\"}").
std::optional<double> MetricValue(const std::string& exposition, const std::string& series);

// How long an e2e test waits for what only has to happen eventually.
inline constexpr std::chrono::milliseconds kGenerous{30000};

// Checks `done` every 10 ms until it is true or `timeout` has passed; whether it became true.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = kGenerous);

// Where the `crtoken run` of an e2e test reads and writes, and the ports it serves on.
struct DaemonPlaces {
  std::filesystem::path specs;  // --specs
  std::string api_url;          // --api-url
  std::filesystem::path dir;    // --secret-dir DIR/secrets, log DIR/crtoken.log
  int metrics_port = 0;         // --metrics-addr 127.0.0.1:PORT
  int health_port = 0;          // --health-addr 127.0.0.1:PORT
};

// Starts `crtoken run` on `places`, with `extra` flags after those, in the environment `env`
// (by default IONOS_TOKEN=e2e-token; replicas that must be told apart by the emulator log in as
// IONOS_USERNAME each).
std::unique_ptr<DaemonProcess> StartDaemon(const DaemonPlaces& places,
                                           const std::vector<std::string>& extra = {},
                                           const std::map<std::string, std::string>& env = {
                                               {"IONOS_TOKEN", "e2e-token"}});

// GET http://127.0.0.1:PORT/PATH with a 5 s timeout: the status (0 when nothing answered); the
// body into *body when given.
int GetLocal(int port, const std::string& path, std::string* body = nullptr);

// The value of `series` on http://127.0.0.1:PORT/metrics; -1 when it is not there.
double ScrapeMetric(int port, const std::string& series);

}  // namespace crtoken::test
