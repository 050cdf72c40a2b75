// Throughput of crtoken-emulator: 8 concurrent keep-alive clients against the real binary.
// Usage: emulator_bench [SECONDS_PER_CASE] [CLIENTS]   (defaults 3 and 8)
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/emulator_process.h"

using crtoken::test::EmulatorProcess;
using crtoken::test::Headers;
using crtoken::test::HttpConnection;
using nlohmann::json;

namespace {

const Headers kAuth = {{"Authorization", "Bearer bench"}};

struct Case {
  std::string name;
  int expected_status;
  // Issues request number i on conn; returns the status.
  std::function<int(HttpConnection&, int client, long i)> request;
};

void Run(const EmulatorProcess& emu, const Case& c, double seconds, int clients) {
  std::atomic<bool> stop{false};
  std::atomic<long> done{0}, errors{0};
  std::vector<std::thread> threads;
  auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      HttpConnection conn("127.0.0.1", emu.port());
      for (long i = 0; !stop; ++i) {
        int s = c.request(conn, t, i);
        (s == c.expected_status ? done : errors)++;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("emulator %-22s %d clients  %6.1f s  %8ld requests  %8.0f req/s  errors %ld\n",
              c.name.c_str(), clients, elapsed, done.load(), done / elapsed, errors.load());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  int clients = argc > 2 ? std::atoi(argv[2]) : 8;
  EmulatorProcess emu({"--registry", "bench", "--token", "bench"});
  const std::string target =
      "/containerregistries/registries/" + emu.RegistryId("bench") + "/tokens";

  // 1000 tokens with a scope each: ten list pages of 100.
  std::vector<std::string> ids;
  {
    HttpConnection conn("127.0.0.1", emu.port());
    for (int i = 0; i < 1000; ++i) {
      json body{{"properties",
                 {{"name", "bench-" + std::to_string(i)},
                  {"scopes",
                   {{{"name", "app/*"}, {"type", "repository"}, {"actions", {"pull", "push"}}}}}}}};
      auto r = conn.Call("POST", target, kAuth, body.dump());
      if (r.status != 201) {
        std::fprintf(stderr, "emulator_bench: seeding failed: %d %s\n", r.status, r.body.c_str());
        return 1;
      }
      ids.push_back(json::parse(r.body)["id"]);
    }
  }
  std::vector<Case> cases = {
      {"token get", 200,
       [&](HttpConnection& conn, int client, long i) {
         return conn.Call("GET", target + "/" + ids[(client * 7919 + i) % ids.size()], kAuth)
             .status;
       }},
      {"token put (replace)", 201,
       [&](HttpConnection& conn, int client, long i) {
         size_t k = (client * 7919 + i) % ids.size();
         json body{
             {"properties",
              {{"name", "bench-" + std::to_string(k)},
               {"status", i % 2 ? "enabled" : "disabled"},
               {"scopes", {{{"name", "app/*"}, {"type", "repository"}, {"actions", {"pull"}}}}}}}};
         return conn.Call("PUT", target + "/" + ids[k], kAuth, body.dump()).status;
       }},
      {"token list (100/page)", 200,
       [&](HttpConnection& conn, int client, long i) {
         long offset = ((client + i) % 10) * 100;
         return conn.Call("GET", target + "?offset=" + std::to_string(offset) + "&limit=100", kAuth)
             .status;
       }},
  };
  for (const Case& c : cases) {
    emu.ClearRequests();
    Run(emu, c, seconds, clients);
  }
  emu.ClearRequests();
  return 0;
}
