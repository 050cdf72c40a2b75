// Rotation without a gap, end to end: `crtoken run` under libfaketime (its wall clock moved
// forward step by step through a FAKETIME_TIMESTAMP_FILE, its monotonic clock real) and the
// emulator's admin clock moved by the same amounts, through two full rotations of a token with
// spec.overlap, while a prober thread reads the secret file and logs in with it (the emulator's
// GET /v2/, HTTP Basic) every few milliseconds. Every PUT is slowed down by a fault rule, so that
// the moment between a renewal's steps is long enough to be seen: without overlap the prober sees
// the credential fail during the renewal; with overlap it never does.
//
// The clocks are moved to a few seconds before each renewal and retirement, and a spec edit (that
// changes nothing for the token) makes the daemon read its clock again (its timers run on the real
// monotonic clock, which the jump does not move); the renewal and the retirement then happen when
// the daemon wakes by itself at their instant, which the test checks on the tokens' expiries.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "reconciler/time_util.h"
#include "tests/support/daemon_fixture.h"
#include "tests/support/fake_wall_clock.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;

// Logs in with whatever the secret file holds, every few milliseconds, until stopped.
class Prober {
 public:
  Prober(std::filesystem::path secret, std::string root_url)
      : secret_(std::move(secret)), root_url_(std::move(root_url)) {}
  ~Prober() { Stop(); }

  // Starts counting afresh, checking in a thread of its own.
  void Start() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ok_ = failed_ = 0;
      first_failure_.clear();
      users_.clear();
    }
    thread_ = std::thread([this] {
      while (!stop_) {
        CheckOnce();
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
  }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // One login with the secret's credential: true when the registry accepts it. Counted.
  bool CheckOnce() {
    std::string text;
    {
      std::ifstream in(secret_);
      text.assign(std::istreambuf_iterator<char>(in), {});
    }
    json doc = json::parse(text, nullptr, false);
    if (doc.is_discarded() || !doc.contains("auths") || doc["auths"].empty()) {
      Fail("secret unreadable or empty");
      return false;
    }
    const std::string host = doc["auths"].begin().key();
    const std::string user = doc["auths"].begin().value().value("username", "");
    const std::string password = doc["auths"].begin().value().value("password", "");
    HttpResult r = HttpCall("GET", root_url_ + "/v2/?host=" + host,
                            {{"Authorization", BasicAuth(user, password)}}, "", 5000);
    std::lock_guard<std::mutex> lock(mu_);
    users_.insert(user);
    if (r.status == 200) {
      ++ok_;
      return true;
    }
    ++failed_;
    if (first_failure_.empty()) first_failure_ = user + ": " + std::to_string(r.status);
    return false;
  }
  int ok() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ok_;
  }
  int failed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return failed_;
  }
  std::string first_failure() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_failure_;
  }
  std::set<std::string> users() const {
    std::lock_guard<std::mutex> lock(mu_);
    return users_;
  }

 private:
  void Fail(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu_);
    ++failed_;
    if (first_failure_.empty()) first_failure_ = why;
  }

  std::filesystem::path secret_;
  std::string root_url_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  int ok_ = 0;
  int failed_ = 0;
  std::string first_failure_;
  std::set<std::string> users_;
};

Instant Parse(const json& text) { return ParseRfc3339(text.get<std::string>()).value(); }

class RotationE2eTest : public DaemonFixture<> {
 protected:
  RotationE2eTest() : DaemonFixture({"acme"}, "rotation-e2e") {}

  void SetUp() override {
    if (!FakeWallClock::Available()) {
      GTEST_SKIP() << "libfaketime is not installed (Debian package faketime; make deps)";
    }
    DaemonFixture::SetUp();
  }

  // lifetime 2h, renewBefore 1h; overlap 5m when `overlap`. `adopt` changes nothing for a token
  // crtoken owns: flipping it is a spec change that runs a pass and nothing more.
  void WriteSpec(bool overlap, bool adopt = false) {
    std::ofstream(specs_ / "ci.yaml")
        << "apiVersion: crtoken.io/v1alpha1\n"
           "kind: RegistryToken\n"
           "metadata:\n  name: ci\n"
           "spec:\n  registry: acme\n"
           "  lifetime: 2h\n  renewBefore: 1h\n"
        << (overlap ? "  overlap: 5m\n" : "") << "  adopt: " << (adopt ? "true" : "false") << "\n"
        << "  scopes:\n"
           "    - {name: \"app/*\", type: repository, actions: "
           "[pull]}\n"
           "  secret:\n    file: ci.json\n";
  }

  // `crtoken run` with its wall clock moved by `clock_` (at first the real one).
  void Start() {
    clock_ = std::make_unique<FakeWallClock>(dir_ / "faketime");
    std::map<std::string, std::string> env = clock_->Env();
    env["IONOS_TOKEN"] = "e2e-token";
    daemon_ = StartDaemon({specs_, emu_->base_url(), dir_.path(), metrics_port_, health_port_},
                          {"--resync", "10m"}, env);
  }

  // Moves both clocks (the daemon's and the emulator's) to `seconds` before `instant`, then
  // makes the daemon read its clock again with a spec edit.
  void MoveToBefore(Instant instant, int seconds) {
    const auto real =
        std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
    const int64_t want = (instant - std::chrono::seconds(seconds) - real).count();
    ASSERT_GE(want, clock_->offset());
    clock_->AdvanceWith(*emu_, want - clock_->offset());
    adopt_ = !adopt_;
    WriteSpec(overlap_, adopt_);
  }

  std::map<std::string, json> Tokens() {
    std::map<std::string, json> out;
    json state = emu_->StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) out[t["name"].get<std::string>()] = t;
    }
    return out;
  }
  std::set<std::string> TokenNames() {
    std::set<std::string> out;
    for (const auto& [name, _] : Tokens()) out.insert(name);
    return out;
  }
  bool WaitTokens(const std::set<std::string>& names) {
    return WaitUntil([&] { return TokenNames() == names; }, std::chrono::seconds(60));
  }

  std::unique_ptr<FakeWallClock> clock_;
  bool adopt_ = false;
  bool overlap_ = true;
};

TEST_F(RotationE2eTest, TwoRotationsWithOverlapNeverLeaveTheSecretWithoutAWorkingCredential) {
  emu_->AddFault({{"method", "PUT"}, {"path", "/tokens/"}, {"delayMs", 300}});
  WriteSpec(true);
  Start();
  ASSERT_TRUE(WaitReady());
  ASSERT_TRUE(WaitTokens({"ci-a"}));
  Prober prober(dir_ / "secrets" / "ci.json", emu_->root_url());
  ASSERT_TRUE(WaitUntil([&] { return prober.CheckOnce(); }));
  prober.Start();

  std::string from = "ci-a", to = "ci-b";
  for (int rotation = 1; rotation <= 2; ++rotation) {
    SCOPED_TRACE("rotation " + std::to_string(rotation) + ": " + from + " -> " + to);
    const Instant from_expiry = Parse(Tokens()[from]["expiryDate"]);
    const Instant renewal = from_expiry - std::chrono::hours(1);
    MoveToBefore(renewal, 5);
    ASSERT_TRUE(WaitTokens({from, to}));
    const Instant to_expiry = Parse(Tokens()[to]["expiryDate"]);
    const Instant rotated = to_expiry - std::chrono::hours(2);
    EXPECT_GE(rotated, renewal) << "rotated before its renewal was due";
    EXPECT_LE(rotated, renewal + std::chrono::seconds(30));
    EXPECT_TRUE(WaitUntil([&] { return prober.users().count(to) > 0; }));

    MoveToBefore(rotated + std::chrono::minutes(5), 5);
    ASSERT_TRUE(WaitTokens({to}));
    std::swap(from, to);
  }
  prober.Stop();
  std::cout << "prober: " << prober.ok() << " logins through two rotations, " << prober.failed()
            << " failed\n";
  EXPECT_EQ(prober.failed(), 0) << "first failure: " << prober.first_failure();
  EXPECT_GT(prober.ok(), 100);
  EXPECT_EQ(prober.users(), (std::set<std::string>{"ci-a", "ci-b"}));
  EXPECT_EQ(Metric("crtoken_token_rotations_total{result=\"success\"}"), 2);
  EXPECT_EQ(Metric("crtoken_token_operations_total{operation=\"delete\",result=\"success\"}"), 2);
}

// The prober catches a gap: the same renewal without overlap deletes the token the secret holds
// before the new one exists (the PUT is slowed down to 300 ms), and the logins fail meanwhile.
TEST_F(RotationE2eTest, WithoutOverlapTheRenewalLeavesAGapTheProberSees) {
  overlap_ = false;
  emu_->AddFault({{"method", "PUT"}, {"path", "/tokens/"}, {"delayMs", 300}});
  WriteSpec(false);
  Start();
  ASSERT_TRUE(WaitReady());
  ASSERT_TRUE(WaitTokens({"ci"}));
  Prober prober(dir_ / "secrets" / "ci.json", emu_->root_url());
  ASSERT_TRUE(WaitUntil([&] { return prober.CheckOnce(); }));
  const std::string first_id = Tokens()["ci"]["id"];
  prober.Start();
  MoveToBefore(Parse(Tokens()["ci"]["expiryDate"]) - std::chrono::hours(1), 5);
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto tokens = Tokens();
        return tokens.count("ci") > 0 && tokens["ci"]["id"] != first_id && prober.ok() > 0 &&
               prober.CheckOnce();
      },
      std::chrono::seconds(60)));
  prober.Stop();
  std::cout << "prober without overlap: " << prober.ok() << " logins, " << prober.failed()
            << " failed during the renewal\n";
  EXPECT_GT(prober.failed(), 0) << "the renewal's gap went unseen";
}

}  // namespace
}  // namespace crtoken::test
