// The fixture the e2e tests of `crtoken run` share: a crtoken-emulator with the registries given,
// a temp dir holding specs/ (and the daemon's secrets/ and log), two free ports for
// metrics and health, and the daemon once started; when a test fails, the daemon's log goes to
// stderr. Header-only, for gtest fixtures: `class MyTest : public test::DaemonFixture<>` (or
// `DaemonFixture<::testing::TestWithParam<T>>`), constructed with the registries and the temp
// dir's prefix.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {

template <typename Base = ::testing::Test>
class DaemonFixture : public Base {
 protected:
  DaemonFixture(std::vector<std::string> registries, const std::string& prefix)
      : dir_(prefix), specs_(dir_ / "specs"), registries_(std::move(registries)) {}

  // Starts the emulator; specs/ exists, empty.
  void SetUp() override {
    std::vector<std::string> args;
    for (const std::string& r : registries_) {
      args.push_back("--registry");
      args.push_back(r);
    }
    emu_ = std::make_unique<EmulatorProcess>(args);
    std::filesystem::create_directories(specs_);
  }
  void TearDown() override {
    if (::testing::Test::HasFailure() && daemon_) {
      std::cerr << "---- crtoken log ----\n" << daemon_->Log();
    }
  }

  // `crtoken run` on `specs` (specs/ when empty) against the emulator, with `flags` after the
  // usual ones (StartDaemon).
  void StartOn(const std::filesystem::path& specs, const std::vector<std::string>& flags) {
    daemon_ = StartDaemon({specs.empty() ? specs_ : specs, emu_->base_url(), dir_.path(),
                           metrics_port_, health_port_},
                          flags);
  }
  // /readyz answers 200 within `timeout`.
  bool WaitReady(std::chrono::milliseconds timeout = kGenerous) {
    return WaitUntil([&] { return GetLocal(health_port_, "/readyz") == 200; }, timeout);
  }
  double Metric(const std::string& series) { return ScrapeMetric(metrics_port_, series); }

  TempDir dir_;
  std::filesystem::path specs_;
  std::unique_ptr<EmulatorProcess> emu_;
  std::unique_ptr<DaemonProcess> daemon_;
  int metrics_port_ = FreePort();
  int health_port_ = FreePort();

 private:
  std::vector<std::string> registries_;
};

}  // namespace crtoken::test
