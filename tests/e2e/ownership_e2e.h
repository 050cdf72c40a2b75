// The fixture of the stateless-ownership end-to-end tests (owners_e2e_test.cc,
// fresh_checkout_e2e_test.cc, crash_points_e2e_test.cc, upgrade_e2e_test.cc,
// secret_dir_lock_e2e_test.cc, ownership_bad_input_e2e_test.cc): the real crtoken against the
// real emulator, spec files and secret directories in one temp dir, and the end states they
// assert: the emulator's tokens (with the passwords it issued) and the secret files (with the
// record of the token each names). Built on tests/support.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/file_capabilities.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {

namespace fs = std::filesystem;
using nlohmann::json;

// In the child, before exec: crtoken is bound by file permissions (a read-only directory) like
// any user; _exit(126) when that is not possible (the test skips).
inline void DropFileCapabilities() {
  if (!DropFileCapabilitiesForExec()) ::_exit(126);
}

// A RegistryToken document: `name` in `registry`, its secret at `file` (relative to the secret
// dir; "" = NAME.json), with `extra` spec lines (indented two spaces, e.g. "  adopt: true\n").
inline std::string TokenYaml(const std::string& name, const std::string& registry,
                             const std::string& file = "", const std::string& extra = "") {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: " + registry +
         "\n  status: enabled\n  scopes:\n    - {name: \"app/*\", type: repository, actions: "
         "[pull]}\n" +
         extra + "  secret:\n    file: " + (file.empty() ? name + ".json" : file) + "\n";
}

class OwnershipE2eTest : public ::testing::Test {
 protected:
  static constexpr char kApiToken[] = "e2e-token";

  explicit OwnershipE2eTest(std::vector<std::string> registries = {"acme"})
      : emu_(EmulatorArgs(registries)), dir_("crtoken-ownership") {
    fs::create_directories(dir_ / "out");
  }
  static std::vector<std::string> EmulatorArgs(const std::vector<std::string>& registries) {
    std::vector<std::string> args = {"--token", kApiToken, "--provision-seconds", "0"};
    for (const std::string& r : registries) {
      args.push_back("--registry");
      args.push_back(r);
    }
    return args;
  }

  std::string Path(const std::string& relative) const { return (dir_ / relative).string(); }

  // Writes <specs>/<name>.yaml (under the temp dir) declaring `name` (see TokenYaml).
  void Declare(const std::string& specs, const std::string& name,
               const std::string& registry = "acme", const std::string& file = "",
               const std::string& extra = "") {
    WriteFile(dir_ / specs / (name + ".yaml"), TokenYaml(name, registry, file, extra));
  }
  void Undeclare(const std::string& specs, const std::string& name) {
    fs::remove(dir_ / specs / (name + ".yaml"));
  }

  // crtoken COMMAND --specs DIR/SPECS --secret-dir DIR/SECRETS --api-url ... EXTRA, in DIR as
  // its working directory (a checkout: nothing else is given, no --state-dir), within 60 s.
  CommandResult Crtoken(const std::string& command, const std::string& specs,
                        const std::string& secrets, std::vector<std::string> extra = {},
                        std::map<std::string, std::string> env = {},
                        const std::function<void()>& in_child = {}) {
    std::vector<std::string> args = {command,       "--specs",     Path(specs),     "--secret-dir",
                                     Path(secrets), "--api-url",   emu_.base_url(), "--api-qps",
                                     "1000",        "--api-burst", "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    env["IONOS_TOKEN"] = kApiToken;
    const std::string cwd = dir_.path().string();
    CommandResult r = RunCrtoken(args, env, Path("out"), std::chrono::seconds(60), [cwd, in_child] {
      if (::chdir(cwd.c_str()) != 0) ::_exit(126);
      if (in_child) in_child();
    });
    EXPECT_FALSE(r.timed_out) << command << " ran past 60 s\n" << r.err;
    return r;
  }

  // crtoken run, like Crtoken above, on free loopback ports (health_port_, metrics_port_), with
  // a long resync (a pass comes from a start, a spec change or SIGHUP). With
  // `without_file_capabilities` it is started from a thread of its own that first dropped
  // CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from its bounding set, so that it is bound by file
  // permissions; that thread lives as long as the test (the daemon dies with the thread that
  // started it). False when the capabilities cannot be dropped (the test skips).
  bool StartRun(const std::string& specs, const std::string& secrets,
                std::vector<std::string> extra = {}, bool without_file_capabilities = false) {
    health_port_ = FreePort();
    metrics_port_ = FreePort();
    std::vector<std::string> args = {"--specs",        Path(specs),
                                     "--secret-dir",   Path(secrets),
                                     "--api-url",      emu_.base_url(),
                                     "--health-addr",  "127.0.0.1:" + std::to_string(health_port_),
                                     "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port_),
                                     "--resync",       "10m",
                                     "--debounce",     "20ms"};
    args.insert(args.end(), extra.begin(), extra.end());
    const std::map<std::string, std::string> env = {{"IONOS_TOKEN", kApiToken}};
    const fs::path log = dir_ / "out" / ("run" + std::to_string(++runs_) + ".log");
    if (!without_file_capabilities) {
      daemon_ = std::make_unique<DaemonProcess>(args, env, log);
      return true;
    }
    std::promise<bool> started;
    std::future<bool> ready = started.get_future();
    capless_ = std::thread([&, release = release_.get_future()] {
      if (!DropFileCapabilitiesForExec()) {
        started.set_value(false);
        return;
      }
      daemon_ = std::make_unique<DaemonProcess>(args, env, log);
      started.set_value(true);
      release.wait();
      daemon_.reset();
    });
    return ready.get();
  }
  ~OwnershipE2eTest() override {
    if (capless_.joinable()) {
      release_.set_value();
      capless_.join();
    }
  }
  bool Ready() { return GetLocal(health_port_, "/readyz") == 200; }
  double Metric(const std::string& series) { return ScrapeMetric(metrics_port_, series); }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "---- crtoken run log ----\n" << daemon_->Log();
  }

  // The emulator's state, kept (never iterate into a temporary's member).
  const json& State() {
    state_ = emu_.StateJson();
    return state_;
  }
  // Every token of `registry` (by name): {name: token json with id and password}.
  std::map<std::string, json> Tokens(const std::string& registry = "acme") {
    std::map<std::string, json> out;
    for (const auto& r : State()["registries"]) {
      if (r["name"] != registry) continue;
      for (const auto& t : r["tokens"]) out[t["name"].get<std::string>()] = t;
    }
    return out;
  }
  std::vector<std::string> TokenNames(const std::string& registry = "acme") {
    std::vector<std::string> names;
    for (const auto& [name, _] : Tokens(registry)) names.push_back(name);
    return names;
  }

  // The secret file SECRETS/FILE parsed (null when missing or not JSON).
  json Secret(const std::string& secrets, const std::string& file) {
    const fs::path path = dir_ / secrets / file;
    if (!fs::exists(path)) return nullptr;
    return json::parse(ReadFile(path), nullptr, false);
  }

  // The secret at SECRETS/FILE holds the password the emulator issued for the token it records,
  // that token is `name`'s live token in `registry`, and the record names `owner`.
  void ExpectDelivered(const std::string& secrets, const std::string& file, const std::string& name,
                       const std::string& owner = "crtoken", const std::string& registry = "acme") {
    SCOPED_TRACE(secrets + "/" + file);
    const json doc = Secret(secrets, file);
    ASSERT_TRUE(doc.is_object()) << ReadFile(dir_ / secrets / file);
    auto tokens = Tokens(registry);
    ASSERT_TRUE(tokens.count(name)) << name << " is not in " << registry;
    const json& token = tokens.at(name);
    const std::string host = registry + ".cr.de-fra.ionos.com";
    ASSERT_TRUE(doc.contains("auths") && doc["auths"].contains(host)) << doc.dump();
    EXPECT_EQ(doc["auths"][host]["username"], name);
    EXPECT_EQ(doc["auths"][host]["password"], token["password"]) << doc.dump();
    ASSERT_TRUE(doc.contains("crtoken")) << doc.dump();
    EXPECT_EQ(doc["crtoken"]["tokenId"], token["id"]) << doc.dump();
    EXPECT_EQ(doc["crtoken"]["token"], name);
    EXPECT_EQ(doc["crtoken"]["owner"], owner);
    EXPECT_EQ(doc["crtoken"]["registryId"], emu_.RegistryId(registry));
    EXPECT_EQ(FileMode(dir_ / secrets / file), 0600u);
  }

  // An API call with this test's credential; `path` after the base URL.
  HttpResult Api(const std::string& method, const std::string& path, const json& body = nullptr) {
    return HttpCall(method, emu_.base_url() + path,
                    {{"Authorization", std::string("Bearer ") + kApiToken},
                     {"Content-Type", "application/json"}},
                    body.is_null() ? "" : body.dump());
  }

  EmulatorProcess emu_;
  TempDir dir_;
  json state_;
  std::unique_ptr<DaemonProcess> daemon_;
  std::thread capless_;  // started the daemon without file capabilities; ends with the test
  std::promise<void> release_;
  int health_port_ = 0;
  int metrics_port_ = 0;
  int runs_ = 0;
};

}  // namespace crtoken::test
