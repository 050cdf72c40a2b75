#include "tests/support/daemon_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/crtoken_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {

DaemonProcess::DaemonProcess(std::vector<std::string> args, std::map<std::string, std::string> env,
                             std::filesystem::path log_file)
    : DaemonProcess(Program{CrtokenBinaryPath(),
                            [&args] {
                              std::vector<std::string> run_args = {"run"};
                              run_args.insert(run_args.end(), args.begin(), args.end());
                              return run_args;
                            }()},
                    std::move(env), std::move(log_file)) {}

DaemonProcess::DaemonProcess(Program program, std::map<std::string, std::string> env,
                             std::filesystem::path log_file)
    : log_file_(std::move(log_file)) {
  std::vector<std::string> argv_s = {program.path.string()};
  argv_s.insert(argv_s.end(), program.args.begin(), program.args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    // Nothing of the test's own environment may configure the daemon by accident.
    if (kv.rfind("CRTOKEN_", 0) == 0 || kv.rfind("IONOS_", 0) == 0) continue;
    env_s.push_back(kv);
  }
  for (const auto& [k, v] : env) env_s.push_back(k + "=" + v);
  std::vector<char*> argv, envp;
  for (auto& s : argv_s) argv.push_back(s.data());
  argv.push_back(nullptr);
  for (auto& s : env_s) envp.push_back(s.data());
  envp.push_back(nullptr);
  const int log_fd = ::open(log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log_file_.string());
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test killed by its timeout
    if (::getppid() != parent) ::_exit(127);
    ::setpgid(0, 0);
    // The test runner may block signals; the daemon must start with a clean mask.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
}

DaemonProcess::~DaemonProcess() {
  if (pid_ > 0 && !exit_code_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void DaemonProcess::Signal(int sig) const { ::kill(pid_, sig); }

std::optional<int> DaemonProcess::Wait(std::chrono::milliseconds deadline) {
  if (exit_code_) return exit_code_;
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    if (std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool DaemonProcess::running() { return !Wait(std::chrono::milliseconds(0)).has_value(); }

std::string DaemonProcess::Log() const { return ReadFile(log_file_); }

std::optional<double> MetricValue(const std::string& exposition, const std::string& series) {
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::unique_ptr<DaemonProcess> StartDaemon(const DaemonPlaces& places,
                                           const std::vector<std::string>& extra,
                                           const std::map<std::string, std::string>& env) {
  std::vector<std::string> args = {
      "--specs",        places.specs.string(),
      "--api-url",      places.api_url,
      "--secret-dir",   (places.dir / "secrets").string(),
      "--metrics-addr", "127.0.0.1:" + std::to_string(places.metrics_port),
      "--health-addr",  "127.0.0.1:" + std::to_string(places.health_port)};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<DaemonProcess>(args, env, places.dir / "crtoken.log");
}

int GetLocal(int port, const std::string& path, std::string* body) {
  HttpResult r = HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + path, {}, "", 5000);
  if (body != nullptr) *body = r.body;
  return r.status;
}

double ScrapeMetric(int port, const std::string& series) {
  std::string body;
  GetLocal(port, "/metrics", &body);
  return MetricValue(body, series).value_or(-1);
}

}  // namespace crtoken::test
