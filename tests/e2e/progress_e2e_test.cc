// The progress line of `crtoken apply` end to end: the real binary against crtoken-emulator, with
// stderr on a pseudo-terminal (the line appears, rewritten in place, and says what it waits for)
// and with stderr on a file (nothing extra is printed).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;

struct PtyResult {
  int exit_code = -1;
  std::string terminal;  // what the program wrote to its stderr, the pseudo-terminal
  bool timed_out = false;
};

// Runs the crtoken binary with ARGS and a clean environment plus `env`, stderr on a new
// pseudo-terminal (read here as it comes), stdin from /dev/null and stdout to `out_file`. Killed
// after `deadline`.
PtyResult RunOnTerminal(const std::vector<std::string>& args, const std::vector<std::string>& env,
                        const std::string& out_file, std::chrono::seconds deadline) {
  PtyResult result;
  int master = -1;
  const std::string binary = CrtokenBinaryPath();
  std::vector<char*> argv = {const_cast<char*>(binary.c_str())};
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> environment = {"PATH=/usr/bin:/bin"};
  environment.insert(environment.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : environment) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) return result;
  if (pid == 0) {
    // The pty is stdin, stdout and stderr here: keep stderr on it, move the others.
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0) _exit(126);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  const auto end = std::chrono::steady_clock::now() + deadline;
  char buf[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        end - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    const ssize_t n = read(master, buf, sizeof buf);
    if (n > 0) {
      result.terminal.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;  // EIO: the child closed its side of the terminal
    }
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

class ProgressE2eTest : public ::testing::Test {
 protected:
  ProgressE2eTest() {
    for (int i = 0; i < kTokens; ++i) {
      WriteFile(dir_ / ("specs/t" + std::to_string(i) + ".yaml"),
                TokenSpecYaml("t" + std::to_string(i), "acme"));
    }
    fs::create_directories(dir_ / "out");
  }
  // apply at 4 requests a second, one at once: 12 creates take about 3 s.
  std::vector<std::string> ApplyArgs() {
    return OneShotArgs("apply", emu_.base_url(), dir_.path(),
                       {"--specs", (dir_ / "specs").string(), "--api-qps", "4", "--api-burst", "1",
                        "--log-level", "warn"});
  }
  int EmulatorTokens() {
    int n = 0;
    const nlohmann::json state = emu_.StateJson();
    for (const auto& r : state["registries"]) n += static_cast<int>(r["tokens"].size());
    return n;
  }

  static constexpr int kTokens = 12;
  EmulatorProcess emu_{{"--registry", "acme", "--token", "t"}};
  TempDir dir_{"crtoken-progress"};
};

TEST_F(ProgressE2eTest, OnATerminalApplyShowsItsProgressAndWhatItWaitsFor) {
  // One create is refused with a Retry-After: the line says that it waits, and for what.
  emu_.AddFault({{"method", "PUT"}, {"status", 429}, {"retryAfter", "1"}, {"times", 1}});
  PtyResult r = RunOnTerminal(ApplyArgs(), {"IONOS_TOKEN=t"}, (dir_ / "out/apply.out").string(),
                              std::chrono::seconds(60));
  ASSERT_FALSE(r.timed_out) << r.terminal;
  EXPECT_EQ(r.exit_code, 0) << r.terminal;
  EXPECT_EQ(EmulatorTokens(), kTokens);
  const std::string& t = r.terminal;
  // Before the first action: the time the rate limit makes it take.
  EXPECT_NE(t.find("\rapply: 0/12 actions done, about 3 s left at --api-qps 4\x1b[K"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("; waiting for the client rate limit (--api-qps 4)"), std::string::npos) << t;
  EXPECT_NE(t.find("; waiting 1 s to retry: 429 (Retry-After 1)"), std::string::npos) << t;
  // The last line: every action done, ended with a newline (the terminal shows "\r\n").
  EXPECT_NE(t.find("\rapply: 12/12 actions done, "), std::string::npos) << t;
  EXPECT_NE(t.find("\x1b[K\r\n"), std::string::npos) << t;
  // Never a password.
  const nlohmann::json state = emu_.StateJson();
  for (const auto& reg : state["registries"]) {
    for (const auto& token : reg["tokens"]) {
      const std::string password = token.value("password", "");
      ASSERT_FALSE(password.empty());
      EXPECT_EQ(t.find(password), std::string::npos);
    }
  }
  EXPECT_NE(ReadFile(dir_ / "out/apply.out").find("Apply: 12 create"), std::string::npos);
}

TEST_F(ProgressE2eTest, OffATerminalNothingExtraIsPrinted) {
  emu_.AddFault({{"method", "PUT"}, {"status", 429}, {"retryAfter", "1"}, {"times", 1}});
  CommandResult r = RunCrtoken(ApplyArgs(), {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string(),
                               std::chrono::seconds(60));
  ASSERT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(EmulatorTokens(), kTokens);
  EXPECT_NE(r.out.find("Apply: 12 create"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("actions done"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
}

}  // namespace
}  // namespace crtoken::test
