// Prints the request rates HttpRegistryApi reaches against crtoken-emulator on loopback: PUT
// creates, sequential GETs over one keep-alive client, list pages of 100, and concurrent GETs.
// The client-side rate limit is lifted (--api-qps would otherwise set the pace).
//
// Usage: api_client_bench [TOKENS=1000] [GETS=3000] [THREADS=8]
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "daemon/registry/http_registry_api.h"
#include "reconciler/token_id.h"
#include "tests/support/emulator_process.h"

using namespace crtoken;
using Clock = std::chrono::steady_clock;

static double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int main(int argc, char** argv) {
  const int tokens = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int gets = argc > 2 ? std::atoi(argv[2]) : 3000;
  const int threads = argc > 3 ? std::atoi(argv[3]) : 8;
  spdlog::set_level(spdlog::level::warn);

  test::EmulatorProcess emu({"--registry", "bench", "--token", "t"});
  const std::string rid = emu.RegistryId("bench");
  HttpRegistryApiConfig config;
  config.base_url = emu.base_url();
  config.credentials = Credentials::Bearer("t");
  config.qps = 1e9;
  config.burst = 1000000;
  auto created = HttpRegistryApi::Create(config);
  if (!created.ok()) {
    std::fprintf(stderr, "%s\n", created.error().ToString().c_str());
    return 1;
  }
  HttpRegistryApi& api = *created.value();

  std::vector<std::string> ids;
  auto start = Clock::now();
  for (int i = 0; i < tokens; ++i) {
    const std::string name = "bench-" + std::to_string(i);
    ids.push_back(OwnedTokenId("crtoken", rid, name, 1));
    TokenFields f;
    f.name = name;
    f.scopes = {{"app/*", "repository", {"pull", "push"}}};
    if (!api.CreateToken(rid, ids.back(), f).ok()) return 1;
  }
  double t = Seconds(start);
  std::printf("PUT create, sequential:      %6d requests in %6.3f s = %7.0f req/s\n", tokens, t,
              tokens / t);

  start = Clock::now();
  for (int i = 0; i < gets; ++i) {
    if (!api.GetToken(rid, ids[i % ids.size()]).ok()) return 1;
  }
  t = Seconds(start);
  std::printf("GET token, sequential:       %6d requests in %6.3f s = %7.0f req/s (%.3f ms each)\n",
              gets, t, gets / t, t * 1000 / gets);

  const int lists = 20;
  const int pages_per_list = (tokens + 99) / 100;
  start = Clock::now();
  for (int i = 0; i < lists; ++i) {
    auto l = api.ListTokens(rid);
    if (!l.ok() || static_cast<int>(l.value().size()) != tokens) return 1;
  }
  t = Seconds(start);
  std::printf(
      "list of %d tokens:         %6d pages in %6.3f s    = %7.0f pages/s (%.1f ms per list)\n",
      tokens, lists * pages_per_list, t, lists * pages_per_list / t, t * 1000 / lists);

  std::atomic<int> failures{0};
  start = Clock::now();
  std::vector<std::thread> pool;
  for (int th = 0; th < threads; ++th) {
    pool.emplace_back([&, th] {
      for (int i = th; i < gets; i += threads) {
        if (!api.GetToken(rid, ids[i % ids.size()]).ok()) ++failures;
      }
    });
  }
  for (auto& p : pool) p.join();
  t = Seconds(start);
  std::printf("GET token, %d threads:        %6d requests in %6.3f s = %7.0f req/s (%d failed)\n",
              threads, gets, t, gets / t, failures.load());
  return failures.load() == 0 ? 0 : 1;
}
