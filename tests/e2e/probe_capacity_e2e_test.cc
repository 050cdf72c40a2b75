// Slow clients cannot starve the probes: a running `crtoken run` with many slow-loris connections
// open on its health and metrics ports (each sends a partial request, then a header line every
// second) still answers /healthz and /metrics within a few seconds. With 2 threads and civetweb's
// 30 s request timeout, two such clients used to hold each server for 30 s.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

// Connections that send a request's first line and then one more header every second, never the
// blank line that ends it, until the object goes away.
class SlowLoris {
 public:
  SlowLoris(int port, int connections) {
    for (int i = 0; i < connections; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ADD_FAILURE() << "cannot connect to port " << port;
        if (fd >= 0) ::close(fd);
        continue;
      }
      Send(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      fds_.push_back(fd);
    }
    drip_ = std::thread([this] {
      while (!stop_) {
        for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(milliseconds(100));
        for (int fd : fds_) Send(fd, "X-Slow: 1\r\n");
      }
    });
  }
  ~SlowLoris() {
    stop_ = true;
    drip_.join();
    for (int fd : fds_) ::close(fd);
  }

 private:
  static void Send(int fd, const char* text) {
    // The server may have closed it already: that is the point.
    (void)!::send(fd, text, std::strlen(text), MSG_NOSIGNAL);
  }
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread drip_;
};

class ProbeCapacityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<EmulatorProcess>(std::vector<std::string>{"--registry", "acme"});
    fs::create_directories(dir_ / "specs");
    metrics_port_ = FreePort();
    health_port_ = FreePort();
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--specs", (dir_ / "specs").string(), "--api-url",
                                 emu_->base_url(), "--secret-dir", (dir_ / "secrets").string(),
                                 "--metrics-addr", "127.0.0.1:" + std::to_string(metrics_port_),
                                 "--health-addr", "127.0.0.1:" + std::to_string(health_port_)},
        std::map<std::string, std::string>{{"IONOS_TOKEN", "e2e-token"}}, dir_ / "crtoken.log");
    // Both servers up: each answers at once while nobody else is connected.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Get(health_port_, "/healthz", 1000) != 200 ||
           Get(metrics_port_, "/metrics", 1000) != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), end) << daemon_->Log();
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- crtoken log ----\n" << daemon_->Log();
  }

  static int Get(int port, const std::string& path, int timeout_ms) {
    return HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + path, {}, "", timeout_ms)
        .status;
  }

  TempDir dir_{"crtoken-probes"};
  std::unique_ptr<EmulatorProcess> emu_;
  std::unique_ptr<DaemonProcess> daemon_;
  int metrics_port_ = 0;
  int health_port_ = 0;
};

// Three times the old thread count: there are threads to spare, the probes answer at once (the
// bound is only there to fail rather than wait for the old 30 s).
TEST_F(ProbeCapacityE2eTest, SixSlowClientsPerPortLeaveThreadsForTheProbes) {
  SlowLoris on_health(health_port_, 6);
  SlowLoris on_metrics(metrics_port_, 6);
  EXPECT_EQ(Get(health_port_, "/healthz", 5000), 200);
  EXPECT_NE(Get(health_port_, "/readyz", 5000), 0);  // answered (200 or 503)
  EXPECT_EQ(Get(metrics_port_, "/metrics", 5000), 200);
  EXPECT_TRUE(daemon_->running());
}

// More slow clients than threads: each is cut off when its request is not complete within the
// request timeout, so a probe waiting behind them is still served within a few seconds.
TEST_F(ProbeCapacityE2eTest, MoreSlowClientsThanThreadsAreCutOffInTime) {
  SlowLoris on_health(health_port_, 12);
  SlowLoris on_metrics(metrics_port_, 12);
  int health = 0, metrics = 0;
  std::thread probe_metrics([&] { metrics = Get(metrics_port_, "/metrics", 10000); });
  health = Get(health_port_, "/healthz", 10000);
  probe_metrics.join();
  EXPECT_EQ(health, 200);
  EXPECT_EQ(metrics, 200);
}

}  // namespace
}  // namespace crtoken::test
