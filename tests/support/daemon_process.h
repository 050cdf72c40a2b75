// Runs `crtoken run` (or another server program) as a child process for end-to-end tests: its own
// process group, stdout and stderr to a log file, stopped with a signal and reaped with a deadline.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace crtoken::test {

class DaemonProcess {
 public:
  // Starts the crtoken binary (CrtokenBinaryPath(), crtoken_process.h) with `args` (after "run")
  // and the extra environment `env`; the test's own CRTOKEN_* and IONOS_* variables are dropped.
  DaemonProcess(std::vector<std::string> args, std::map<std::string, std::string> env,
                std::filesystem::path log_file);
  // Any other program a test runs as a server beside crtoken (e.g. prometheus), the same way:
  // `argv[0]` is its path.
  struct Program {
    std::vector<std::string> argv;
  };
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

}  // namespace crtoken::test
