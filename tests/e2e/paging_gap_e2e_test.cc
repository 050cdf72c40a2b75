// A token list read page by page can miss a live token; `crtoken apply` must not take such a token
// as gone and orphan it. The real binaries: crtoken against crtoken-emulator, in a temp dir.
//
// 1. The emulator's own paging gap: a fault rule delays the page at offset 100 while the test
//    deletes the first token, so the page starts one token later and the token at index 100 is
//    never listed.
// 2. A gap only a lookup by id can close: a small HTTP proxy in front of the emulator drops one
//    token from every token list, with count and total adjusted, so the list is consistent in
//    itself and nothing short of asking for the token shows that it is there.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/crtoken_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/http_client.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Forwards HTTP/1.1 requests (Content-Length bodies, keep-alive) to `upstream`, each on a fresh
// upstream connection, and removes the tokens whose id is in `hidden` from every token list page
// it passes back, with the page's count and total lowered to match.
class ListFilterProxy {
 public:
  ListFilterProxy(uint16_t upstream_port, std::set<std::string> hidden)
      : upstream_("http://127.0.0.1:" + std::to_string(upstream_port)), hidden_(std::move(hidden)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 16) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("proxy: cannot listen");
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~ListFilterProxy() {
    stopping_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    ::close(listen_fd_);
    std::vector<std::thread> workers;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
      workers.swap(workers_);
    }
    for (auto& t : workers) t.join();
  }
  ListFilterProxy(const ListFilterProxy&) = delete;
  ListFilterProxy& operator=(const ListFilterProxy&) = delete;

  std::string base_url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/containerregistries";
  }
  int hidden_count() const { return hidden_count_; }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.insert(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    for (;;) {
      size_t end;
      while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(fd, &buffer)) return Close(fd);
      }
      const std::string head = buffer.substr(0, end);
      buffer.erase(0, end + 4);
      std::istringstream lines(head);
      std::string method, target, line;
      lines >> method >> target;
      std::getline(lines, line);
      Headers headers;
      size_t length = 0;
      while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (name == "content-length") length = std::stoul(value);
        if (name == "authorization" || name == "content-type" || name == "accept") {
          headers.emplace_back(name, value);
        }
      }
      while (buffer.size() < length) {
        if (!ReadMore(fd, &buffer)) return Close(fd);
      }
      const std::string body = buffer.substr(0, length);
      buffer.erase(0, length);

      HttpResult r = HttpCall(method, upstream_ + target, headers, body);
      std::string out_body = r.body;
      if (method == "GET" && r.status == 200 && target.find("/tokens?") != std::string::npos) {
        out_body = Filter(r.body);
      }
      std::string response = "HTTP/1.1 " + std::to_string(r.status == 0 ? 502 : r.status) +
                             " Proxied\r\nContent-Length: " + std::to_string(out_body.size()) +
                             "\r\n";
      for (const char* name : {"content-type", "location"}) {
        if (!r.Header(name).empty()) response += std::string(name) + ": " + r.Header(name) + "\r\n";
      }
      response += "\r\n" + out_body;
      if (!WriteAll(fd, response)) return Close(fd);
    }
  }

  std::string Filter(const std::string& text) {
    json page = json::parse(text);
    json kept = json::array();
    int removed = 0;
    for (const auto& item : page["items"]) {
      if (hidden_.count(item["id"].get<std::string>())) {
        ++removed;
      } else {
        kept.push_back(item);
      }
    }
    page["items"] = kept;
    page["count"] = page["count"].get<int>() - removed;
    page["total"] = page["total"].get<int>() - removed;
    hidden_count_ += removed;
    return page.dump();
  }

  static bool ReadMore(int fd, std::string* buffer) {
    char chunk[16384];
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }
  static bool WriteAll(int fd, const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }
  void Close(int fd) {
    std::lock_guard<std::mutex> lock(mu_);
    open_fds_.erase(fd);
    ::close(fd);
  }

  std::string upstream_;
  std::set<std::string> hidden_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> hidden_count_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::set<int> open_fds_;
  std::vector<std::thread> workers_;
};

class PagingGapE2eTest : public ::testing::Test {
 protected:
  PagingGapE2eTest() : emu_({"--registry", "acme", "--token", "t"}), dir_("crtoken-paging-gap") {
    fs::create_directories(dir_ / "specs");
    fs::create_directories(dir_ / "out");
    registry_id_ = emu_.RegistryId("acme");
  }

  // One file declaring `names`, each writing <name>.json.
  void Declare(const std::vector<std::string>& names) {
    std::ofstream out(dir_ / "specs/tokens.yaml", std::ios::trunc);
    for (const auto& name : names) {
      out << "---\napiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: "
          << name
          << "\nspec:\n  registry: acme\n  scopes:\n    - {name: \"app/*\", type: repository, "
             "actions: [pull]}\n  secret:\n    file: "
          << name << ".json\n";
    }
  }

  CommandResult Apply(const std::string& api_url) {
    return RunCrtoken(
        {"apply", "--specs", (dir_ / "specs").string(), "--api-url", api_url, "--secret-dir",
         (dir_ / "secrets").string(), "--api-qps", "1000", "--api-burst", "1000"},
        {{"IONOS_TOKEN", "t"}}, (dir_ / "out").string());
  }

  // The registry's tokens as the API lists them in one page: creation order.
  std::vector<json> ListedTokens() {
    HttpResult r = HttpCall(
        "GET", emu_.base_url() + "/registries/" + registry_id_ + "/tokens?offset=0&limit=1000",
        {{"Authorization", "Bearer t"}});
    EXPECT_EQ(r.status, 200) << r.body;
    const json page = json::parse(r.body);
    return page["items"].get<std::vector<json>>();
  }

  // The token named `name` in the emulator's state, with its issued password.
  std::optional<json> Token(const std::string& name) {
    const json state = emu_.StateJson();
    for (const auto& r : state["registries"]) {
      for (const auto& t : r["tokens"]) {
        if (t["name"] == name) return t;
      }
    }
    return std::nullopt;
  }

  void ExpectSecretWorks(const std::string& name) {
    auto token = Token(name);
    ASSERT_TRUE(token.has_value()) << name;
    const fs::path path = dir_ / ("secrets/" + name + ".json");
    ASSERT_TRUE(fs::exists(path)) << path;
    json doc = json::parse(ReadFile(path.string()));
    EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], (*token)["password"]) << name;
  }

  EmulatorProcess emu_;
  TempDir dir_;
  std::string registry_id_;
};

#define ASSERT_EXIT_CODE(result, code) \
  ASSERT_EQ((result).exit_code, code) << "stdout:\n" << (result).out << "stderr:\n" << (result).err

std::string Name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "tok-%03d", i);
  return buf;
}

TEST_F(PagingGapE2eTest, ATokenDeletedOnAnEarlierPageDoesNotOrphanTheTokenAtThePageBoundary) {
  std::vector<std::string> names;
  for (int i = 0; i < 250; ++i) names.push_back(Name(i));
  Declare(names);
  ASSERT_EXIT_CODE(Apply(emu_.base_url()), 0);
  const std::vector<json> listed = ListedTokens();
  ASSERT_EQ(listed.size(), 250u);
  // Creation order is the list order: index 100 opens the second page of 100.
  const std::string first_id = listed[0]["id"];
  const std::string first_name = listed[0]["properties"]["name"];
  const std::string boundary_name = listed[100]["properties"]["name"];
  names.erase(std::find(names.begin(), names.end(), boundary_name));
  Declare(names);

  emu_.AddFault({{"method", "GET"}, {"path", "offset=100"}, {"delayMs", 1500}, {"times", 1}});
  // While the page at offset 100 is held back, another client deletes the first token.
  std::atomic<int> deleted_status{0};
  std::thread other_client([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      HttpResult faults = HttpCall("GET", emu_.root_url() + "/_emulator/faults");
      if (faults.status == 200 && json::parse(faults.body).at(0)["hits"] == 1) {
        deleted_status =
            HttpCall("DELETE",
                     emu_.base_url() + "/registries/" + registry_id_ + "/tokens/" + first_id,
                     {{"Authorization", "Bearer t"}})
                .status;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  });
  CommandResult apply = Apply(emu_.base_url());
  other_client.join();
  ASSERT_EQ(deleted_status, 204) << "the delete did not happen during the delayed page";

  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_FALSE(Token(boundary_name).has_value())
      << "the undeclared token stayed in the registry, unowned\n"
      << apply.err;
  EXPECT_FALSE(fs::exists(dir_ / ("secrets/" + boundary_name + ".json")));

  // The next pass sees the first token gone and creates it again; nothing else is left over.
  CommandResult again = Apply(emu_.base_url());
  ASSERT_EXIT_CODE(again, 0);
  EXPECT_EQ(ListedTokens().size(), 249u);
  ExpectSecretWorks(first_name);
  EXPECT_FALSE(Token(boundary_name).has_value());
}

TEST_F(PagingGapE2eTest, AnOwnedTokenAListOmitsIsLookedUpAndDeletedNotForgotten) {
  Declare({"keep", "drop", "also"});
  ASSERT_EXIT_CODE(Apply(emu_.base_url()), 0);
  const std::string drop_id = (*Token("drop"))["id"];
  Declare({"keep", "also"});

  ListFilterProxy proxy(emu_.port(), {drop_id});
  CommandResult apply = Apply(proxy.base_url());
  ASSERT_EXIT_CODE(apply, 0);
  EXPECT_GT(proxy.hidden_count(), 0);  // the list crtoken read did omit it
  EXPECT_NE(apply.err.find("missing from the token list but exists"), std::string::npos)
      << apply.err;
  EXPECT_FALSE(Token("drop").has_value()) << "the undeclared token stayed, unowned\n" << apply.err;
  EXPECT_FALSE(fs::exists(dir_ / "secrets/drop.json"));
  ExpectSecretWorks("keep");
  ExpectSecretWorks("also");

  // Nothing is left to do, straight against the emulator.
  emu_.ClearRequests();
  ASSERT_EXIT_CODE(Apply(emu_.base_url()), 0);
  for (const auto& r : emu_.Requests()) EXPECT_EQ(r.method, "GET") << r.path;
}

}  // namespace
}  // namespace crtoken::test
