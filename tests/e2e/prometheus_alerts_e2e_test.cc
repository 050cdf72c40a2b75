// A real Prometheus (the Debian package's binary) with the shipped rules file, scraping a real
// `crtoken run` against crtoken-emulator every second: a token expiring in 2 days raises the
// expiry alert, tokens without expiry or with a renewal ahead raise none; every metric the rules
// and the dashboard query is one the running crtoken serves; every dashboard query is valid PromQL.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include "reconciler/time_util.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;

// Prometheus starts in about a second and evaluates the rules every second: the alert shows up a
// few seconds in. The bound only keeps a broken setup from stalling the suite.
constexpr milliseconds kDeadline(30000);

bool WaitUntil(const std::function<bool()>& pred, milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return true;
}

// application/x-www-form-urlencoded, for a PromQL query in a POST body.
std::string FormEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string Spec(const std::string& name, const std::string& extra) {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: acme-prod\n" + extra +
         "  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: [pull]\n"
         "  secret:\n    file: " +
         name + ".json\n";
}

// Every crtoken_* name in a file (the rules, the dashboard): in queries, and metrics named in
// texts.
std::set<std::string> MetricNamesIn(const std::string& text) {
  std::set<std::string> names;
  static const std::regex kName("crtoken_[a-z0-9_]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kName);
       it != std::sregex_iterator(); ++it) {
    names.insert(it->str());
  }
  return names;
}

class PrometheusAlertsE2ETest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (!HasFailure()) return;
    if (crtoken_) std::cerr << "---- crtoken log ----\n" << crtoken_->Log();
    if (prometheus_) std::cerr << "---- prometheus log ----\n" << prometheus_->Log();
  }

  void StartCrtoken() {
    const fs::path specs = dir_ / "specs";
    const auto in_two_days = std::chrono::time_point_cast<std::chrono::seconds>(
        std::chrono::system_clock::now() + std::chrono::hours(48));
    WriteFile(specs / "expiring.yaml",
              Spec("expiring", "  expiryDate: " + FormatRfc3339(in_two_days) + "\n"));
    WriteFile(specs / "forever.yaml", Spec("forever", ""));
    // Expires in 90 days, renewed 30 days before: its renewal lies ahead.
    WriteFile(specs / "rotating.yaml", Spec("rotating", "  lifetime: 90d\n  renewBefore: 30d\n"));
    WriteFile(specs / "overlapping.yaml",
              Spec("overlapping", "  lifetime: 90d\n  renewBefore: 30d\n  overlap: 1h\n"));
    metrics_port_ = FreePort();
    health_port_ = FreePort();
    crtoken_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"--specs", specs.string(), "--api-url", emu_.base_url(),
                                 "--secret-dir", (dir_ / "secrets").string(), "--metrics-addr",
                                 "127.0.0.1:" + std::to_string(metrics_port_), "--health-addr",
                                 "127.0.0.1:" + std::to_string(health_port_)},
        std::map<std::string, std::string>{{"IONOS_TOKEN", "e2e-token"}}, dir_ / "crtoken.log");
    ASSERT_TRUE(WaitUntil(
        [&] {
          return HttpCall("GET", "http://127.0.0.1:" + std::to_string(health_port_) + "/readyz", {},
                          "", 2000)
                     .status == 200;
        },
        kDeadline))
        << "crtoken never became ready";
  }

  void StartPrometheus() {
    prometheus_port_ = FreePort();
    const fs::path config = dir_ / "prometheus.yml";
    WriteFile(config,
              "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
              "rule_files:\n  - " +
                  std::string(CRTOKEN_SOURCE_DIR) +
                  "/deploy/prometheus/crtoken-rules.yaml\n"
                  "scrape_configs:\n  - job_name: crtoken\n    static_configs:\n"
                  "      - targets: ['127.0.0.1:" +
                  std::to_string(metrics_port_) + "']\n");
    prometheus_ = std::make_unique<DaemonProcess>(
        DaemonProcess::Program{
            CRTOKEN_PROMETHEUS,
            {"--config.file=" + config.string(), "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
             "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_)}},
        std::map<std::string, std::string>{}, dir_ / "prometheus.log");
    ASSERT_TRUE(WaitUntil([&] { return Prometheus("GET", "/-/ready").status == 200; }, kDeadline))
        << "prometheus never became ready";
  }

  HttpResult Prometheus(const std::string& method, const std::string& path,
                        const std::string& form = "") {
    Headers headers;
    if (!form.empty()) headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    return HttpCall(method, "http://127.0.0.1:" + std::to_string(prometheus_port_) + path, headers,
                    form, 5000);
  }
  // The data of a successful API answer; null otherwise.
  json Api(const std::string& method, const std::string& path, const std::string& form = "") {
    HttpResult r = Prometheus(method, path, form);
    if (r.status != 200) return nullptr;
    json body = json::parse(r.body, nullptr, false);
    if (body.is_discarded() || body.value("status", "") != "success") return nullptr;
    return body["data"];
  }
  // (alertname, token, state) of every active alert: pending or firing.
  std::set<std::tuple<std::string, std::string, std::string>> Alerts() {
    std::set<std::tuple<std::string, std::string, std::string>> out;
    json data = Api("GET", "/api/v1/alerts");
    if (data.is_null()) return out;
    for (const json& a : data["alerts"]) {
      out.emplace(a["labels"].value("alertname", ""), a["labels"].value("token", ""),
                  a.value("state", ""));
    }
    return out;
  }

  TempDir dir_{"prometheus-alerts"};
  EmulatorProcess emu_{{"--registry", "acme-prod"}};
  std::unique_ptr<DaemonProcess> crtoken_;
  std::unique_ptr<DaemonProcess> prometheus_;
  int metrics_port_ = 0, health_port_ = 0, prometheus_port_ = 0;
};

TEST_F(PrometheusAlertsE2ETest, ATokenExpiringInTwoDaysRaisesTheExpiryAlertAndNoOtherDoes) {
  StartCrtoken();
  StartPrometheus();
  std::set<std::tuple<std::string, std::string, std::string>> alerts;
  auto only_expiry = [&] {
    alerts = Alerts();
    if (alerts.size() != 1) return false;
    const auto& [name, token, state] = *alerts.begin();
    return name == "CrtokenTokenExpiresSoon" && token == "expiring" &&
           (state == "pending" || state == "firing");
  };
  // Before the first scrape, CrtokenNotScraped is pending: wait for the scraped state.
  EXPECT_TRUE(WaitUntil(only_expiry, kDeadline)) << ::testing::PrintToString(alerts);
  // The alert names the registry and the token, and links the runbook.
  json data = Api("GET", "/api/v1/alerts");
  ASSERT_FALSE(data.is_null());
  for (const json& a : data["alerts"]) {
    EXPECT_EQ(a["labels"].value("registry", ""), "acme-prod") << a.dump();
    EXPECT_EQ(a["labels"].value("severity", ""), "warning") << a.dump();
    EXPECT_NE(
        a["annotations"].value("description", "").find("token expiring of registry acme-prod"),
        std::string::npos)
        << a.dump();
    EXPECT_EQ(a["annotations"].value("runbook_url", ""), "docs/runbook.md#crtokentokenexpiressoon");
  }
}

TEST_F(PrometheusAlertsE2ETest, RulesAndDashboardQueryOnlyWhatCrtokenServesAndParse) {
  StartCrtoken();
  StartPrometheus();
  // The names crtoken serves, as Prometheus scraped them. The four tokens populate every family:
  // API requests, creates, secret writes, a lifetime token's renewal, an overlap token's slot.
  std::set<std::string> served;
  auto scraped = [&] {
    json names = Api("GET", "/api/v1/label/__name__/values");
    served.clear();
    if (names.is_null()) return false;
    for (const json& n : names) served.insert(n.get<std::string>());
    return served.count("crtoken_token_renewal_timestamp_seconds") > 0;
  };
  ASSERT_TRUE(WaitUntil(scraped, kDeadline)) << ::testing::PrintToString(served);
  const std::string rules =
      ReadFile(fs::path(CRTOKEN_SOURCE_DIR) / "deploy/prometheus/crtoken-rules.yaml");
  const std::string dashboard =
      ReadFile(fs::path(CRTOKEN_SOURCE_DIR) / "deploy/grafana/crtoken.json");
  std::set<std::string> wanted = MetricNamesIn(rules);
  for (const auto& n : MetricNamesIn(dashboard)) wanted.insert(n);
  ASSERT_GE(wanted.size(), 10u);
  for (const std::string& name : wanted) {
    // A text may name a histogram by its family name; its series are NAME_bucket, _sum, _count.
    EXPECT_TRUE(served.count(name) || served.count(name + "_bucket"))
        << name << " is queried or named but crtoken does not serve it";
  }

  // Every dashboard query, with Grafana's variables filled in, is valid PromQL with data: two
  // scrapes at least, so that the rates have two samples in their window.
  std::this_thread::sleep_for(milliseconds(2500));
  json dash = json::parse(dashboard);
  int queries = 0;
  std::function<void(const json&)> visit = [&](const json& panels) {
    for (const json& p : panels) {
      if (p.contains("panels")) visit(p["panels"]);
      for (const json& t : p.value("targets", json::array())) {
        std::string expr = t.value("expr", "");
        expr = std::regex_replace(expr, std::regex(R"(\$__rate_interval)"), "1m");
        expr = std::regex_replace(expr, std::regex(R"(\$instance)"), ".*");
        ++queries;
        json data = Api("POST", "/api/v1/query", "query=" + FormEncode(expr));
        ASSERT_FALSE(data.is_null()) << p.value("title", "") << ": " << expr;
        EXPECT_FALSE(data["result"].empty()) << p.value("title", "") << ": " << expr;
      }
    }
  };
  visit(dash["panels"]);
  EXPECT_GE(queries, 15);
}

}  // namespace
}  // namespace crtoken::test
