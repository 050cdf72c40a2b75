#include "daemon/app/http_server.h"

#include <gtest/gtest.h>

#include "reconciler/metrics.h"
#include "tests/support/http_client.h"

namespace crtoken {
namespace {

using test::FreePort;
using test::HttpResult;

// GET http://127.0.0.1:PORT/PATH through the tests' one HTTP client.
HttpResult HttpGet(int port, const std::string& path) {
  return test::HttpCall("GET", "http://127.0.0.1:" + std::to_string(port) + path);
}

std::string Addr(int port) { return "127.0.0.1:" + std::to_string(port); }

TEST(HttpServerTest, HealthReadinessAndMetrics) {
  Metrics metrics;
  metrics.SetSpecErrors(3);
  metrics.ObserveReconcile(true, 0.25);
  auto server = HttpServer::Start(Addr(FreePort()), Addr(FreePort()), metrics.registry());
  ASSERT_TRUE(server.ok()) << server.error().message;
  auto& s = *server.value();
  ASSERT_NE(s.metrics_port(), s.health_port());

  EXPECT_EQ(HttpGet(s.health_port(), "/healthz").status, 200);
  auto not_ready = HttpGet(s.health_port(), "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_NE(not_ready.body.find("not ready"), std::string::npos);
  s.SetReady(true);
  EXPECT_EQ(HttpGet(s.health_port(), "/readyz").status, 200);
  EXPECT_EQ(HttpGet(s.health_port(), "/nothing").status, 404);

  auto m = HttpGet(s.metrics_port(), "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("crtoken_spec_errors 3"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("crtoken_reconcile_total{result=\"success\"} 1"), std::string::npos);
}

TEST(HttpServerTest, OneAddressServesAllPaths) {
  Metrics metrics;
  metrics.SetSpecErrors(1);
  const std::string addr = Addr(FreePort());
  auto server = HttpServer::Start(addr, addr, metrics.registry());
  ASSERT_TRUE(server.ok()) << server.error().message;
  const int port = server.value()->health_port();
  EXPECT_EQ(server.value()->metrics_port(), port);
  EXPECT_EQ(HttpGet(port, "/healthz").status, 200);
  auto m = HttpGet(port, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("crtoken_spec_errors 1"), std::string::npos);
}

TEST(HttpServerTest, BusyPortIsAClearError) {
  Metrics metrics;
  auto first = HttpServer::Start(Addr(FreePort()), Addr(FreePort()), metrics.registry());
  ASSERT_TRUE(first.ok());
  const std::string busy = Addr(first.value()->health_port());
  auto second = HttpServer::Start(Addr(FreePort()), busy, metrics.registry());
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("--health-addr " + busy), std::string::npos)
      << second.error().message;
  auto third = HttpServer::Start(busy, Addr(FreePort()), metrics.registry());
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.error().message.find("--metrics-addr"), std::string::npos);
}

TEST(HttpServerTest, CivetAddressForm) {
  EXPECT_EQ(HttpServer::CivetAddress(":9464"), "9464");
  EXPECT_EQ(HttpServer::CivetAddress("127.0.0.1:8081"), "127.0.0.1:8081");
}

}  // namespace
}  // namespace crtoken
