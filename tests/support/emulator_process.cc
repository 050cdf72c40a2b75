#include "tests/support/emulator_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>

namespace crtoken::test {

std::string EmulatorBinaryPath() {
  if (const char* env = std::getenv("CRTOKEN_EMULATOR_BINARY"); env && *env) return env;
  return std::string(CRTOKEN_BINARY_DIR) + "/emulator/crtoken-emulator";
}

EmulatorProcess::EmulatorProcess(std::vector<std::string> args) {
  const std::string binary = EmulatorBinaryPath();
  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreePort();
    std::vector<std::string> argv_s = {binary, "--listen", "127.0.0.1:" + std::to_string(port_)};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("EmulatorProcess: fork failed");
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test
      if (::getppid() != parent) ::_exit(127);
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        last_error = "exited with status " + std::to_string(WEXITSTATUS(status));
        pid_ = -1;
        break;
      }
      HttpResult r = HttpCall("GET", root_url() + "/_emulator/state", {}, "", 2000);
      if (r.status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      last_error = "did not answer within 20 s";
    }
    if (last_error == "exited with status 127") break;  // binary missing: no point retrying
  }
  throw std::runtime_error("EmulatorProcess: " + binary + " " + last_error);
}

EmulatorProcess::~EmulatorProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string EmulatorProcess::base_url() const { return root_url() + "/containerregistries"; }

std::string EmulatorProcess::root_url() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

HttpResult EmulatorProcess::Admin(const std::string& method, const std::string& path,
                                  const std::string& body) const {
  HttpResult r = HttpCall(method, root_url() + path, {}, body);
  if (r.status == 0) {
    throw std::runtime_error("emulator admin " + method + " " + path + ": " + r.error);
  }
  if (r.status >= 400) {
    throw std::runtime_error("emulator admin " + method + " " + path + ": " +
                             std::to_string(r.status) + " " + r.body);
  }
  return r;
}

std::vector<RequestEntry> EmulatorProcess::Requests() const {
  nlohmann::json j = nlohmann::json::parse(Admin("GET", "/_emulator/requests").body);
  std::vector<RequestEntry> out;
  for (const auto& e : j) {
    out.push_back(
        {e["method"].get<std::string>(), e["path"].get<std::string>(), e["status"].get<int>()});
  }
  return out;
}

void EmulatorProcess::ClearRequests() const { Admin("DELETE", "/_emulator/requests"); }

nlohmann::json EmulatorProcess::StateJson() const {
  return nlohmann::json::parse(Admin("GET", "/_emulator/state").body);
}

nlohmann::json EmulatorProcess::AddFault(const nlohmann::json& rule) const {
  return nlohmann::json::parse(Admin("POST", "/_emulator/faults", rule.dump()).body);
}

void EmulatorProcess::ClearFaults() const { Admin("DELETE", "/_emulator/faults"); }

void EmulatorProcess::AdvanceClock(int64_t seconds) const {
  Admin("POST", "/_emulator/clock", nlohmann::json{{"advanceSeconds", seconds}}.dump());
}

int EmulatorProcess::InFlight() const {
  return nlohmann::json::parse(Admin("GET", "/_emulator/inflight").body)["inFlight"].get<int>();
}

std::string EmulatorProcess::RegistryId(const std::string& name) const {
  const nlohmann::json state = StateJson();
  for (const auto& r : state["registries"]) {
    if (r["name"] == name) return r["id"].get<std::string>();
  }
  throw std::runtime_error("emulator has no registry named " + name);
}

nlohmann::json EmulatorProcess::Token(const std::string& name, const std::string& registry) const {
  const nlohmann::json state = StateJson();
  for (const auto& r : state["registries"]) {
    if (!registry.empty() && r["name"] != registry) continue;
    for (const auto& t : r["tokens"]) {
      if (t["name"] == name) return t;
    }
  }
  return nullptr;
}

}  // namespace crtoken::test
