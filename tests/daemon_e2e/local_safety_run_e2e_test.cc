// `crtoken run` and what lives on the local machine: a FIFO at a secret path no longer wedges the
// registry's worker (the pass ends, /readyz turns 200, the password is held and written once the
// path is usable, without a re-issue).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/daemon_e2e/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::e2e {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using test_support::EmulatorProcess;
using test_support::FreePort;
using test_support::HttpCall;
using test_support::TempDir;

constexpr milliseconds kGenerous(30000);

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LocalSafetyRunE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<EmulatorProcess>(std::vector<std::string>{"--registry", "acme"});
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "secrets");
    health_port_ = FreePort();
    metrics_port_ = FreePort();
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "---- crtoken log ----\n" << daemon_->Log();
  }

  void Declare(const std::string& name) {
    std::ofstream(dir_ / ("specs/" + name + ".yaml"))
        << "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " << name
        << "\nspec:\n  registry: acme\n  status: enabled\n  scopes:\n"
        << "    - {name: \"app/*\", type: repository, actions: [pull]}\n"
        << "  secret:\n    file: " << name << ".json\n";
  }

  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--specs",        (dir_ / "specs").string(),
                                     "--api-url",      emu_->base_url(),
                                     "--secret-dir",   (dir_ / "secrets").string(),
                                     "--state-dir",    (dir_ / "state").string(),
                                     "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port_),
                                     "--health-addr",  "127.0.0.1:" + std::to_string(health_port_),
                                     "--resync",       "10m"};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_ = std::make_unique<DaemonProcess>(
        args, std::map<std::string, std::string>{{"IONOS_TOKEN", "e2e-token"}},
        dir_ / "crtoken.log");
  }

  int Get(int port, const std::string& path, std::string* body = nullptr) {
    auto r = HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + path, {}, "", 5000);
    if (body) *body = r.body;
    return r.status;
  }
  double Metric(const std::string& series) {
    std::string body;
    Get(metrics_port_, "/metrics", &body);
    return MetricValue(body, series).value_or(-1);
  }
  nlohmann::json Token(const std::string& name) {
    state_ = emu_->StateJson();
    for (const auto& r : state_["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t;
      }
    }
    return nullptr;
  }

  TempDir dir_{"crtoken-local-run"};
  std::unique_ptr<EmulatorProcess> emu_;
  std::unique_ptr<DaemonProcess> daemon_;
  int health_port_ = 0;
  int metrics_port_ = 0;
  nlohmann::json state_;
};

TEST_F(LocalSafetyRunE2eTest, AFifoAtASecretPathNeitherWedgesTheWorkerNorLosesThePassword) {
  Declare("ci-push");
  const fs::path fifo = dir_ / "secrets/ci-push.json";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Start();

  // The first pass ends (it used to block in open() for good, and /readyz stayed 503).
  ASSERT_TRUE(WaitUntil([&] { return Get(health_port_, "/readyz") == 200; }, kGenerous));
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_secrets_waiting") == 1; }, kGenerous));
  const nlohmann::json token = Token("ci-push");
  ASSERT_FALSE(token.is_null());
  EXPECT_TRUE(fs::is_fifo(fifo));
  EXPECT_NE(daemon_->Log().find(fifo.string() + ": it is a FIFO"), std::string::npos);

  // Once the path is usable, the held password is written: the same token, no re-issue.
  fs::remove(fifo);
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return fs::is_regular_file(fifo); }, kGenerous));
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_secrets_waiting") == 0; }, kGenerous));
  auto doc = nlohmann::json::parse(ReadFile(fifo));
  EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], token["password"]);
  EXPECT_EQ(Token("ci-push")["id"], token["id"]);
  EXPECT_TRUE(daemon_->running());
}

}  // namespace
}  // namespace crtoken::e2e
