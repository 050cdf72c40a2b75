// The status document (status_view.h) and the daemon's GET /status that serves it.
#include "daemon/app/status_view.h"

#include <gtest/gtest.h>

#include "daemon/app/http_server.h"
#include "daemon/app/options.h"
#include "reconciler/metrics.h"
#include "tests/support/http_client.h"

namespace crtoken {
namespace {

StatusView DaemonView() {
  StatusView view;
  view.from_daemon = true;
  view.rows = {
      StatusRow{"acme", "id-1", "ci-push", "in_sync", "2031-01-01T00:00:00Z", "", "file:a.json",
                "/s/a.yaml:1:1", ""},
      StatusRow{"acme", "id-1", "puller", "error", "", "", "file:b.json", "/s/b.yaml:1:1",
                "PUT failed: 403 \"Forbidden\"\n"},
  };
  view.deletes = 2;
  view.errors = {"registry nowhere: not found"};
  return view;
}

TEST(StatusViewTest, TheDocumentReadsBackAsWritten) {
  const StatusView view = DaemonView();
  const std::string text = StatusJson(view);
  auto back = ParseStatusJson(text);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(StatusJson(back.value()), text);
  EXPECT_NE(text.find("\"inSync\":1,\"pending\":0,\"error\":1,\"deletes\":2,\"ready\":true"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"lastError\":\"PUT failed: 403 \\\"Forbidden\\\"\\n\""), std::string::npos)
      << text;
}

TEST(StatusViewTest, InSyncOnlyWithNothingLeftAndNoError) {
  StatusView view = DaemonView();
  EXPECT_FALSE(view.AllInSync());
  view.rows.pop_back();
  EXPECT_FALSE(view.AllInSync());  // deletes and errors left
  view.deletes = 0;
  EXPECT_FALSE(view.AllInSync());
  view.errors.clear();
  EXPECT_TRUE(view.AllInSync());
  view.ready = false;
  EXPECT_FALSE(view.AllInSync());
}

TEST(StatusViewTest, ADocumentThatIsNotOneIsRefusedSayingWhy) {
  for (const char* bad : {"", "<html>", "[]", "{\"tokens\":{}}", "{\"tokens\":[1]}",
                          "{\"tokens\":[{\"registry\":\"a\"}]}"}) {
    auto parsed = ParseStatusJson(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().kind, ErrorKind::kInvalid);
    EXPECT_FALSE(parsed.error().message.empty());
  }
}

TEST(StatusViewTest, TheHealthPortServesTheDocumentOnceItHasASource) {
  Metrics metrics;
  const std::string addr = "127.0.0.1:" + std::to_string(test::FreePort());
  auto server = HttpServer::Start(addr, addr, metrics.registry());
  ASSERT_TRUE(server.ok()) << server.error().message;
  const std::string url =
      "http://127.0.0.1:" + std::to_string(server.value()->health_port()) + "/status";
  EXPECT_EQ(test::HttpCall("GET", url).status, 503);
  server.value()->SetStatus([] { return StatusJson(DaemonView()); });
  test::HttpResult r = test::HttpCall("GET", url);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  EXPECT_EQ(r.body, StatusJson(DaemonView()) + "\n");
  server.value()->SetStatus(nullptr);
  EXPECT_EQ(test::HttpCall("GET", url).status, 503);
}

TEST(StatusViewTest, FromIsStatussOwnFlag) {
  auto env = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  auto o = ParseOptions("status", {"--from", "http://127.0.0.1:8081", "-o", "json"}, env);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o.value().status_from, "http://127.0.0.1:8081");
  auto plan = ParseOptions("plan", {"--from", "http://x"}, env);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().message, "unknown flag --from for crtoken plan");
}

}  // namespace
}  // namespace crtoken
