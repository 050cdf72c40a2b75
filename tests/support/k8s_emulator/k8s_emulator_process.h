// Starts tests/support/k8s_emulator/k8s_emulator.py on a free loopback port with its own test CA,
// for tests and benchmarks in C++. POSIX only; header-only so any target can use it.
#pragma once

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

namespace crtoken::testing {

// Binds port 0, reads the port, closes: the emulator then binds it.
inline int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class K8sEmulatorProcess {
 public:
  // `python` and `script` are paths; `extra` are further flags (--token, --namespace, ...).
  K8sEmulatorProcess(const std::string& python, const std::string& script,
                     const std::vector<std::string>& extra) {
    char tmpl[] = "/tmp/k8s-emulator-XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = FreeLoopbackPort();
    std::vector<std::string> args = {
        python, script, "--port", std::to_string(port_), "--tls-dir", (dir_ / "tls").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    int out[2];
    if (pipe(out) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(out[1]);
    pollfd pfd{out[0], POLLIN, 0};
    while (first_line_.find('\n') == std::string::npos && poll(&pfd, 1, 30000) > 0) {
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      first_line_.append(buf, n);
    }
    close(out[0]);
  }
  ~K8sEmulatorProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  K8sEmulatorProcess(const K8sEmulatorProcess&) = delete;
  K8sEmulatorProcess& operator=(const K8sEmulatorProcess&) = delete;

  bool started() const { return first_line_.find("listening") != std::string::npos; }
  const std::string& first_line() const { return first_line_; }
  std::string Server() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path CaFile() const { return dir_ / "tls" / "ca.crt"; }
  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  std::string first_line_;
};

}  // namespace crtoken::testing
