// Starts tests/support/k8s_emulator/k8s_emulator.py on a free loopback port with its own test CA,
// for tests and benchmarks in C++, and talks to it (Api, through curl). POSIX only; header-only
// (link crtoken_test_support for FreePort, TempDir and nlohmann_json).
#pragma once

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {

class K8sEmulatorProcess {
 public:
  // `python` and `script` are paths; `extra` are further flags (--token, --namespace, ...).
  K8sEmulatorProcess(const std::string& python, const std::string& script,
                     const std::vector<std::string>& extra) {
    port_ = FreePort();
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
  }
  K8sEmulatorProcess(const K8sEmulatorProcess&) = delete;
  K8sEmulatorProcess& operator=(const K8sEmulatorProcess&) = delete;

  // One request to the emulator's API (its admin endpoints too) as `token`, with curl (the
  // shelf's HTTP client speaks no TLS): the status (0 when curl got no answer) and the parsed
  // body (discarded when it is not JSON). Thread-safe.
  std::pair<int, nlohmann::json> Api(const std::string& method, const std::string& path,
                                     const std::string& token, const nlohmann::json& body = nullptr,
                                     const std::string& content_type = "application/json") const {
    static std::atomic<int> calls{0};
    const std::string n = std::to_string(++calls);
    const std::filesystem::path request = dir_ / ("request-" + n + ".json");
    const std::filesystem::path response = dir_ / ("response-" + n + ".json");
    std::string cmd = "curl -s -o " + response.string() + " -w '%{http_code}' --cacert " +
                      CaFile().string() + " -H 'Authorization: Bearer " + token + "' -X " + method;
    if (!body.is_null()) {
      WriteFile(request, body.dump());
      cmd += " -H 'Content-Type: " + content_type + "' --data-binary @" + request.string();
    }
    cmd += " '" + Server() + path + "'";
    std::string status;
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char buf[64];
      size_t got;
      while ((got = std::fread(buf, 1, sizeof buf, f)) > 0) status.append(buf, got);
      ::pclose(f);
    }
    const std::string text = ReadFile(response);
    std::error_code ec;
    std::filesystem::remove(request, ec);
    std::filesystem::remove(response, ec);
    int code = 0;
    try {
      code = status.empty() ? 0 : std::stoi(status);
    } catch (const std::exception&) {
    }
    return {code, nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false)};
  }

  bool started() const { return first_line_.find("listening") != std::string::npos; }
  const std::string& first_line() const { return first_line_; }
  std::string Server() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  std::filesystem::path CaFile() const { return dir_ / "tls" / "ca.crt"; }
  int port() const { return port_; }

 private:
  TempDir dir_{"k8s-emulator"};
  int port_ = 0;
  pid_t pid_ = -1;
  std::string first_line_;
};

}  // namespace crtoken::test
