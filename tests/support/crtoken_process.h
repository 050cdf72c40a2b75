// Runs the real `crtoken` binary (or another program an end-to-end test drives) and captures its
// exit code and output.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace crtoken::test {

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal
  std::string out;
  std::string err;
  bool timed_out = false;  // killed (SIGKILL) because it ran past the caller's deadline
  long max_rss_kb = 0;     // the child's peak resident set size
};

// One token's spec as the e2e tests declare it: `name` in `registry`, pulling "app/*", its secret
// in the file NAME.json.
inline std::string TokenSpecYaml(const std::string& name,
                                 const std::string& registry = "acme-prod") {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: " + registry +
         "\n  scopes:\n    - {name: \"app/*\", type: repository, actions: [pull]}\n"
         "  secret:\n    file: " +
         name + ".json\n";
}

// The arguments of a one-shot command (plan, apply) in an e2e test: COMMAND --api-url API_URL
// --secret-dir DIR/secrets, then `extra`. (No --state-dir: it is deprecated, and warns.)
inline std::vector<std::string> OneShotArgs(const std::string& command, const std::string& api_url,
                                            const std::filesystem::path& dir,
                                            const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args = {command, "--api-url", api_url, "--secret-dir",
                                   (dir / "secrets").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

// Where the crtoken binary is: $CRTOKEN_BINARY, else CRTOKEN_BINARY_DIR/daemon/crtoken.
inline std::string CrtokenBinaryPath() {
  if (const char* p = std::getenv("CRTOKEN_BINARY")) return p;
  return std::string(CRTOKEN_BINARY_DIR) + "/daemon/crtoken";
}

// Runs the program at path `program` with ARGS, a clean environment (PATH=/usr/bin:/bin) plus
// `env`, and stdin as the test's; stdout and stderr go to files in `scratch` (an existing
// directory) and are read back. With a `deadline` (> 0), a run still going after it is killed and
// reported as timed_out, so that a hang fails a test instead of stalling it. `in_child`, when
// given, runs in the child just before exec (it must only make system calls, e.g. open a file as
// stdin); it may _exit(126) to say it could not. Exit code 127: the program could not be run.
inline CommandResult RunProgram(const std::string& program, const std::vector<std::string>& args,
                                const std::map<std::string, std::string>& env,
                                const std::string& scratch,
                                std::chrono::milliseconds deadline = std::chrono::milliseconds(0),
                                const std::function<void()>& in_child = {}) {
  static int run = 0;
  const std::string out_path = scratch + "/run" + std::to_string(++run) + ".out";
  const std::string err_path = scratch + "/run" + std::to_string(run) + ".err";
  // Everything is prepared before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> envs = {"PATH=/usr/bin:/bin"};
  for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);
  const std::string& bin = program;
  std::vector<std::string> argv_s = {bin};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(err, 2);
    if (in_child) in_child();
    ::execve(bin.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  CommandResult result;
  int status = 0;
  struct rusage usage {};
  const auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    const pid_t r = ::wait4(pid, &status, deadline.count() > 0 ? WNOHANG : 0, &usage);
    if (r == pid || (r < 0 && errno != EINTR)) break;
    if (r == 0 && std::chrono::steady_clock::now() >= end) {
      ::kill(pid, SIGKILL);
      ::wait4(pid, &status, 0, &usage);
      result.timed_out = true;
      break;
    }
    if (r == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.max_rss_kb = usage.ru_maxrss;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = ReadFile(out_path);
  result.err = ReadFile(err_path);
  return result;
}

// Runs crtoken ARGS (RunProgram with CrtokenBinaryPath()).
inline CommandResult RunCrtoken(const std::vector<std::string>& args,
                                const std::map<std::string, std::string>& env,
                                const std::string& scratch,
                                std::chrono::milliseconds deadline = std::chrono::milliseconds(0),
                                const std::function<void()>& in_child = {}) {
  return RunProgram(CrtokenBinaryPath(), args, env, scratch, deadline, in_child);
}

}  // namespace crtoken::test
