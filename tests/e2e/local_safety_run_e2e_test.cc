// `crtoken run` and what lives on the local machine: a FIFO at a secret path no longer wedges the
// registry's worker (the pass ends, /readyz turns 200, the password is held and written once the
// path is usable, without a re-issue), and the process is not dumpable (no core file, its memory
// closed to other processes of its user) and has a core size limit of 0, unless
// --allow-core-dumps says otherwise.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// `crtoken run` started as a user other than root (root may read any /proc file, dumpable or not):
// as nobody when this test runs as root, else as this test's user. Killed and reaped on
// destruction.
class UnprivilegedDaemon {
 public:
  UnprivilegedDaemon(std::vector<std::string> args, const fs::path& log_file) {
    std::vector<std::string> argv_s = {CrtokenBinaryPath(), "run"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::string token = "IONOS_TOKEN=e2e-token";
    char* envp[] = {token.data(), nullptr};
    const int log_fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uid_ = ::geteuid() == 0 ? 65534 : ::geteuid();
    const bool drop = ::geteuid() == 0;
    pid_ = ::fork();
    if (pid_ == 0) {
      if (drop && (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0)) {
        ::_exit(126);
      }
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
      ::execve(argv[0], argv.data(), envp);
      ::_exit(127);
    }
    ::close(log_fd);
  }
  ~UnprivilegedDaemon() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  uid_t uid() const { return uid_; }
  // The exit code if it already ended (126/127: it could not become that user or exec).
  std::optional<int> Exited() {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return std::nullopt;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  pid_t pid_ = -1;
  uid_t uid_ = 0;
};

// The owner of /proc/PID/status: the process's own user while it is dumpable, root once it is not
// (the kernel's way of keeping other processes of that user from its memory).
uid_t ProcOwner(pid_t pid) {
  struct stat st;
  if (::stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &st) != 0) return -1;
  return st.st_uid;
}

// "soft hard" of /proc/PID/limits' core file size line, e.g. "0 0" or "unlimited unlimited".
std::string CoreLimits(pid_t pid) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/limits"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Max core file size", 0) != 0) continue;
    std::istringstream fields(line.substr(std::strlen("Max core file size")));
    std::string soft, hard;
    fields >> soft >> hard;
    return soft + " " + hard;
  }
  return "";
}

std::string LimitText(rlim_t v) { return v == RLIM_INFINITY ? "unlimited" : std::to_string(v); }

class LocalSafetyRunE2eTest : public DaemonFixture<> {
 protected:
  LocalSafetyRunE2eTest() : DaemonFixture({"acme"}, "crtoken-local-run") {}
  void SetUp() override {
    DaemonFixture::SetUp();
    fs::create_directories(dir_ / "secrets");
  }

  void Declare(const std::string& name) {
    WriteFile(dir_ / ("specs/" + name + ".yaml"), TokenSpecYaml(name, "acme"));
  }

  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--resync", "10m"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartOn(specs_, args);
  }

  int Get(int port, const std::string& path) { return GetLocal(port, path); }
  nlohmann::json Token(const std::string& name) { return emu_->Token(name); }
};

TEST_F(LocalSafetyRunE2eTest, AFifoAtASecretPathNeitherWedgesTheWorkerNorGetsAToken) {
  Declare("ci-push");
  const fs::path fifo = dir_ / "secrets/ci-push.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Start();

  // The first pass ends (it used to block in open() for good, and /readyz stayed 503). The FIFO is
  // found before any create: no token is issued for a place that cannot take its password.
  ASSERT_TRUE(WaitUntil([&] { return Get(health_port_, "/readyz") == 200; }, kGenerous));
  ASSERT_TRUE(WaitUntil(
      [&] {
        return daemon_->Log().find(fifo.string() + " is a FIFO, not a secret file") !=
               std::string::npos;
      },
      kGenerous))
      << daemon_->Log();
  EXPECT_TRUE(Token("ci-push").is_null());
  EXPECT_TRUE(fs::is_fifo(fifo));

  // Once the path is usable, the token is created and its password written.
  fs::remove(fifo);
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return fs::is_regular_file(fifo); }, kGenerous));
  const nlohmann::json token = Token("ci-push");
  ASSERT_FALSE(token.is_null());
  auto doc = nlohmann::json::parse(ReadFile(fifo));
  EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], token["password"]);
  EXPECT_EQ(Metric("crtoken_secrets_waiting"), 0);
  EXPECT_TRUE(daemon_->running());
}

// Started as a user other than root, so that /proc shows whether it is dumpable. The directories
// it reads must be readable by that user; it writes nothing (no spec, no state, no secret).
std::unique_ptr<UnprivilegedDaemon> StartUnprivileged(const TempDir& dir, int health_port,
                                                      std::vector<std::string> extra) {
  fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
  fs::create_directories(dir / "empty-specs");
  std::vector<std::string> args = {"--specs",        (dir / "empty-specs").string(),
                                   "--api-url",      "http://127.0.0.1:9/containerregistries",
                                   "--secret-dir",   (dir / "secrets").string(),
                                   "--metrics-addr", "127.0.0.1:" + std::to_string(FreePort()),
                                   "--health-addr",  "127.0.0.1:" + std::to_string(health_port)};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<UnprivilegedDaemon>(args, dir / "unprivileged.log");
}

TEST_F(LocalSafetyRunE2eTest, TheProcessIsNotDumpableAndHasNoCoreLimit) {
  auto daemon = StartUnprivileged(dir_, health_port_, {});
  ASSERT_TRUE(WaitUntil(
      [&] { return Get(health_port_, "/healthz") == 200 || daemon->Exited().has_value(); },
      kGenerous))
      << ReadFile(dir_ / "unprivileged.log");
  if (auto code = daemon->Exited(); code == 126 || code == 127) {
    GTEST_SKIP() << "cannot run crtoken as uid " << daemon->uid();
  }
  ASSERT_NE(daemon->uid(), 0u);
  EXPECT_EQ(ProcOwner(daemon->pid()), 0u) << "dumpable: /proc/PID is owned by its user";
  EXPECT_EQ(CoreLimits(daemon->pid()), "0 0");
}

TEST_F(LocalSafetyRunE2eTest, AllowCoreDumpsKeepsTheLimitsItWasStartedWith) {
  // Start it with core dumps enabled as far as this process may (soft = hard), then put back ours.
  struct rlimit mine;
  ASSERT_EQ(::getrlimit(RLIMIT_CORE, &mine), 0);
  struct rlimit raised = {mine.rlim_max, mine.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &raised), 0);
  auto daemon = StartUnprivileged(dir_, health_port_, {"--allow-core-dumps"});
  ASSERT_EQ(::setrlimit(RLIMIT_CORE, &mine), 0);
  ASSERT_TRUE(WaitUntil(
      [&] { return Get(health_port_, "/healthz") == 200 || daemon->Exited().has_value(); },
      kGenerous))
      << ReadFile(dir_ / "unprivileged.log");
  if (auto code = daemon->Exited(); code == 126 || code == 127) {
    GTEST_SKIP() << "cannot run crtoken as uid " << daemon->uid();
  }
  EXPECT_EQ(ProcOwner(daemon->pid()), daemon->uid());
  EXPECT_EQ(CoreLimits(daemon->pid()),
            LimitText(raised.rlim_cur) + " " + LimitText(raised.rlim_max));
}

}  // namespace
}  // namespace crtoken::test
