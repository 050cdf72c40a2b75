// `crtoken run` with a spec file whose name is not valid UTF-8, end to end (the real binary against
// crtoken-emulator): the file's token is created, the errors of a broken file with such a name are
// logged, and every log line stays valid, in JSON and in text.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

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

class SpecUtf8NameRunE2ETest : public DaemonFixture<::testing::TestWithParam<std::string>> {
 protected:
  SpecUtf8NameRunE2ETest() : DaemonFixture({"acme-prod"}, "crtoken-utf8-run") {}
  void SetUp() override {
    DaemonFixture::SetUp();
    WriteFile(specs_ / "caf\xe9.yaml", TokenSpecYaml("ci-push"));
    WriteFile(specs_ / "bad\xff.yaml", TokenSpecYaml("puller") + "  bogus: 1\n");
    StartOn(specs_, {"--log-format", GetParam()});
  }
  bool HasToken(const std::string& name) { return !emu_->Token(name).is_null(); }
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
