// `crtoken run` and spec files in motion, end to end (the real binary against crtoken-emulator):
// a token that a change un-declares is pruned only once the files have settled, so a file caught
// half-written, an edit storm or a spec directory moved away never deletes (and re-creates with a
// new password) a token that is still declared; a real un-declaration is still pruned, by itself.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;

// write(2) all of `text` to `fd`.
void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

class SpecSettleE2ETest : public DaemonFixture<> {
 protected:
  SpecSettleE2ETest() : DaemonFixture({"acme-prod"}, "crtoken-settle") {}

  // crtoken run with JSON logs, no resync to speak of (only the watcher and its own timers act).
  void Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--resync", "10m", "--log-format", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    StartOn(specs_, args);
  }

  // The daemon's log lines, parsed.
  std::vector<json> LogLines() {
    std::vector<json> out;
    std::istringstream in(daemon_->Log());
    for (std::string line; std::getline(in, line);) {
      json j = json::parse(line, nullptr, false);
      if (!j.is_discarded()) out.push_back(std::move(j));
    }
    return out;
  }
  // How many lines carry `message` (and, when given, reason == `reason`).
  int CountLog(const std::string& message, const std::string& reason = "") {
    int n = 0;
    for (const json& j : LogLines()) {
      if (j.value("message", "") == message &&
          (reason.empty() || j.value("reason", "") == reason)) {
        ++n;
      }
    }
    return n;
  }
  // True once the spec files settled after the `after`-th settle line, and the passes it queued
  // (if any) have run or been dropped.
  bool SettledAndActed(int after) {
    const std::vector<json> lines = LogLines();
    int settles = 0;
    bool settled = false;
    bool waiting = false;
    for (const json& j : lines) {
      const std::string message = j.value("message", "");
      if (message == "spec files settled; pruning is allowed" && ++settles > after) {
        settled = true;
        waiting = j.value("registries_waiting", "0") != "0";
      } else if (settled && waiting &&
                 (message == "reconcile pass done" ||
                  message == "registry no longer needs a pass of its own")) {
        waiting = false;
      }
    }
    return settled && !waiting;
  }

  // "ID PASSWORD" of the token, as the emulator holds it ("" when absent).
  std::string Token(const std::string& name) {
    const json t = emu_->Token(name);
    if (t.is_null()) return "";
    return t["id"].get<std::string>() + " " + t["password"].get<std::string>();
  }
  std::string Secret(const std::string& name) {
    return ReadFile(dir_ / "secrets" / (name + ".json"));
  }
  int Requests(const std::string& method) {
    int n = 0;
    for (const auto& r : emu_->Requests()) n += r.method == method;
    return n;
  }

  // ci-push and puller declared in one file, created, their secrets written.
  void StartWithTwoTokens(std::vector<std::string> extra = {}) {
    WriteFile(specs_ / "tokens.yaml", TokenSpecYaml("ci-push") + "---\n" + TokenSpecYaml("puller"));
    Start(std::move(extra));
    ASSERT_TRUE(WaitReady());
    ASSERT_TRUE(WaitUntil([&] { return !Secret("puller").empty() && !Secret("ci-push").empty(); }));
    // The start settles too; begin each test from a quiet, settled daemon.
    ASSERT_TRUE(WaitUntil([&] { return SettledAndActed(0); }));
    puller_ = Token("puller");
    puller_secret_ = Secret("puller");
    ASSERT_FALSE(puller_.empty());
    emu_->ClearRequests();
  }
  void ExpectPullerUntouched() {
    EXPECT_EQ(Requests("DELETE"), 0);
    EXPECT_EQ(Requests("PUT"), 0);
    EXPECT_EQ(Token("puller"), puller_) << "puller was re-created";
    EXPECT_EQ(Secret("puller"), puller_secret_);
  }

  std::string puller_;
  std::string puller_secret_;
};

TEST_F(SpecSettleE2ETest, AFileWrittenInTwoStepsNeverLosesItsSecondToken) {
  StartWithTwoTokens();  // the default --prune-settle
  const int settles = CountLog("spec files settled; pruning is allowed");
  // One document, a pause, then the second: the daemon reads the file in between.
  const int fd = ::open((specs_ / "tokens.yaml").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  WriteAll(fd, TokenSpecYaml("ci-push"));
  std::this_thread::sleep_for(milliseconds(300));
  WriteAll(fd, "---\n" + TokenSpecYaml("puller"));
  ::close(fd);
  ASSERT_TRUE(WaitUntil([&] { return SettledAndActed(settles); }));
  // The half-written file was read and held puller's delete back; the whole one declares it.
  EXPECT_GE(CountLog("deletes wait for the spec files to settle"), 1);
  ExpectPullerUntouched();
}

TEST_F(SpecSettleE2ETest, AFileEmptiedAndRestoredBeforeItSettlesDeletesNothing) {
  StartWithTwoTokens({"--prune-settle", "1s"});
  const int settles = CountLog("spec files settled; pruning is allowed");
  const int loads = CountLog("specs loaded", "files changed");
  // Both tokens un-declared (the registry is then queued by its id, as one that holds owned
  // tokens no spec names), then declared again before the settle time is up.
  WriteFile(specs_ / "tokens.yaml", "# rewriting\n");
  ASSERT_TRUE(
      WaitUntil([&] { return CountLog("deletes wait for the spec files to settle") >= 1; }));
  WriteFile(specs_ / "tokens.yaml", TokenSpecYaml("ci-push") + "---\n" + TokenSpecYaml("puller"));
  ASSERT_TRUE(WaitUntil([&] { return CountLog("specs loaded", "files changed") >= loads + 2; }));
  ASSERT_TRUE(WaitUntil([&] { return SettledAndActed(settles); }));
  ExpectPullerUntouched();
  EXPECT_FALSE(Token("ci-push").empty());
}

TEST_F(SpecSettleE2ETest, AnEditStormIsReadFarLessOftenThanItIsSavedAndDeletesNothing) {
  StartWithTwoTokens();
  const int settles = CountLog("spec files settled; pruning is allowed");
  const int loads = CountLog("specs loaded", "files changed");
  // An editor saving 100 times a second for 3 s: truncate, write, close, each time a new comment.
  constexpr int kSaves = 300;
  for (int i = 0; i < kSaves; ++i) {
    WriteFile(specs_ / "tokens.yaml", "# save " + std::to_string(i) + "\n" +
                                          TokenSpecYaml("ci-push") + "---\n" +
                                          TokenSpecYaml("puller"));
    std::this_thread::sleep_for(milliseconds(10));
  }
  ASSERT_TRUE(WaitUntil([&] { return SettledAndActed(settles); }));
  const int reads = CountLog("specs loaded", "files changed") - loads;
  std::cout << kSaves << " saves -> " << reads << " reloads\n";
  EXPECT_GE(reads, 1);
  EXPECT_LE(reads, kSaves / 10);
  ExpectPullerUntouched();
}

TEST_F(SpecSettleE2ETest, AnUndeclaredTokenIsPrunedByItselfOnceTheFilesSettle) {
  StartWithTwoTokens({"--prune-settle", "1s"});
  const auto t0 = std::chrono::steady_clock::now();
  WriteFile(specs_ / "tokens.yaml", TokenSpecYaml("ci-push"));
  // No resync for 10 minutes: the daemon wakes for the settle on its own.
  ASSERT_TRUE(WaitUntil([&] { return Requests("DELETE") == 1; }));
  const auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, milliseconds(1000)) << "pruned before the files had settled";
  EXPECT_TRUE(Token("puller").empty());
  ASSERT_TRUE(WaitUntil([&] { return !fs::exists(dir_ / "secrets/puller.json"); }));
  EXPECT_FALSE(Token("ci-push").empty());
}

TEST_F(SpecSettleE2ETest, AFileLeftOpenForWritingHoldsPruningUntilItIsClosed) {
  StartWithTwoTokens({"--prune-settle", "300ms"});
  const int settles = CountLog("spec files settled; pruning is allowed");
  const int fd = ::open((specs_ / "tokens.yaml").c_str(), O_WRONLY | O_TRUNC);
  ASSERT_GE(fd, 0);
  WriteAll(fd, TokenSpecYaml("ci-push"));
  // The writer pauses far longer than the settle time, the file still open.
  std::this_thread::sleep_for(milliseconds(1500));
  WriteAll(fd, "---\n" + TokenSpecYaml("puller"));
  ::close(fd);
  ASSERT_TRUE(WaitUntil([&] { return SettledAndActed(settles); }));
  ExpectPullerUntouched();
}

TEST_F(SpecSettleE2ETest, ASpecDirectoryMovedAwayOrEmptiedDeletesNothing) {
  StartWithTwoTokens({"--prune-settle", "500ms"});
  const std::string ci_push = Token("ci-push");
  const double failed = Metric("crtoken_reconcile_total{result=\"error\"}");
  fs::rename(specs_, dir_ / "specs.away");
  const int settles = CountLog("spec files settled; pruning is allowed");
  // The error is reported, the passes fail (they would have deleted), the files settle as they
  // are, and the daemon keeps serving.
  ASSERT_TRUE(WaitUntil([&] {
    return Metric("crtoken_spec_errors") >= 1 &&
           Metric("crtoken_reconcile_total{result=\"error\"}") > failed &&
           CountLog("spec files settled; pruning is allowed") > settles;
  }));
  EXPECT_NE(daemon_->Log().find(specs_.string() + ": no such file or directory"),
            std::string::npos);
  EXPECT_NE(daemon_->Log().find("nothing pruned, 2 deletes held back"), std::string::npos);
  EXPECT_EQ(GetLocal(health_port_, "/healthz"), 200);
  EXPECT_EQ(Requests("DELETE"), 0);

  // An empty directory in its place: once it is read and has settled, a full re-check (SIGHUP)
  // still deletes nothing.
  fs::create_directory(specs_);
  const int settles_empty = CountLog("spec files settled; pruning is allowed");
  ASSERT_TRUE(WaitUntil([&] {
    return Metric("crtoken_spec_errors") == 0 &&
           CountLog("spec files settled; pruning is allowed") > settles_empty;
  }));
  const double failed_again = Metric("crtoken_reconcile_total{result=\"error\"}");
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil(
      [&] { return Metric("crtoken_reconcile_total{result=\"error\"}") > failed_again; }));
  EXPECT_NE(daemon_->Log().find(specs_.string() + ": holds no spec file"), std::string::npos);
  EXPECT_EQ(Requests("DELETE"), 0);

  // Back: everything is as it was, no token re-created.
  fs::remove(specs_);
  fs::rename(dir_ / "specs.away", specs_);
  const int back = CountLog("spec files settled; pruning is allowed");
  ASSERT_TRUE(WaitUntil([&] { return SettledAndActed(back); }));
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_spec_errors") == 0; }));
  ExpectPullerUntouched();
  EXPECT_EQ(Token("ci-push"), ci_push);
}

}  // namespace
}  // namespace crtoken::test
