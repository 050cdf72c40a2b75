// `crtoken run` with a spec file whose name is not valid UTF-8, end to end (the real binary against
// crtoken-emulator): the file's token is created, the errors of a broken file with such a name are
// logged, and every log line stays valid, in JSON and in text.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using test::EmulatorProcess;
using test::FreePort;
using test::TempDir;

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout = milliseconds(30000)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

std::string TokenYaml(const std::string& name) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme-prod\n  scopes:\n    - {name: \"app/*\", type: repository, "
         "actions: [pull]}\n  secret:\n    file: " +
         name + ".json\n";
}

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::trunc | std::ios::binary);
  out << content;
}

// True when every byte of `line` is printable ASCII or part of valid UTF-8 text without control
// characters (what PrintableText leaves as it is).
bool PrintableLine(const std::string& line) {
  for (std::size_t i = 0; i < line.size();) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c == 0x7f) return false;
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xe  ? 3
                    : (c >> 3) == 0x1e ? 4
                                       : 0;
    if (n == 0 || i + n > line.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(line[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

class SpecUtf8NameRunE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<EmulatorProcess>(std::vector<std::string>{"--registry", "acme-prod"});
    WriteFile(dir_.path() / "specs" / "caf\xe9.yaml", TokenYaml("ci-push"));
    WriteFile(dir_.path() / "specs" / "bad\xff.yaml", TokenYaml("puller") + "  bogus: 1\n");
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{
            "--specs", (dir_.path() / "specs").string(), "--api-url", emu_->base_url(),
            "--secret-dir", (dir_.path() / "secrets").string(), "--state-dir",
            (dir_.path() / "state").string(), "--metrics-addr",
            "127.0.0.1:" + std::to_string(FreePort()), "--health-addr",
            "127.0.0.1:" + std::to_string(FreePort()), "--log-format", GetParam()},
        std::map<std::string, std::string>{{"IONOS_TOKEN", "e2e-token"}},
        dir_.path() / "crtoken.log");
  }
  void TearDown() override {
    if (HasFailure() && daemon_) std::cerr << "---- crtoken log ----\n" << daemon_->Log();
  }
  bool HasToken(const std::string& name) {
    const json state = emu_->StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return true;
      }
    }
    return false;
  }

  TempDir dir_{"crtoken-utf8-run"};
  std::unique_ptr<EmulatorProcess> emu_;
  std::unique_ptr<DaemonProcess> daemon_;
};

TEST_P(SpecUtf8NameRunE2ETest, TheFileIsLoadedAndEveryLogLineStaysValid) {
  ASSERT_TRUE(WaitUntil([&] { return HasToken("ci-push"); })) << "caf\\xe9.yaml was not applied";
  ASSERT_TRUE(WaitUntil([&] {
    return daemon_->Log().find("bad\\ufffd.yaml:") != std::string::npos ||
           daemon_->Log().find("bad\\\\ufffd.yaml:") != std::string::npos;
  })) << "the broken file's error was not logged printably";
  EXPECT_FALSE(HasToken("puller"));
  daemon_->Signal(SIGTERM);
  EXPECT_EQ(daemon_->Wait(milliseconds(30000)), std::optional<int>(0));
  std::istringstream in(daemon_->Log());
  int lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    EXPECT_TRUE(PrintableLine(line)) << line;
    if (GetParam() == "json") {
      EXPECT_FALSE(json::parse(line, nullptr, false).is_discarded()) << line;
    }
  }
  EXPECT_GT(lines, 0);
}

INSTANTIATE_TEST_SUITE_P(LogFormats, SpecUtf8NameRunE2ETest, ::testing::Values("json", "text"));

}  // namespace
}  // namespace crtoken::test
