// HttpRegistryApiConfig::before_write against the real crtoken-emulator: a write attempt the guard
// refuses never leaves, including the retry of a write whose first attempt did; reads never ask.
// End states from the emulator's request log and state.
#include <gtest/gtest.h>

#include <atomic>

#include "daemon/registry/http_registry_api.h"
#include "reconciler/token_id.h"
#include "tests/support/emulator_process.h"

namespace crtoken {
namespace {

using test::EmulatorProcess;

constexpr char kTokenId[] = "0a1b2c3d-0000-8c72-8000-00000000000a";

struct Guarded {
  explicit Guarded(const EmulatorProcess& emu) {
    HttpRegistryApiConfig c;
    c.base_url = emu.base_url();
    c.credentials = Credentials::Bearer("t");
    c.qps = 10000;
    c.burst = 10000;
    c.request_timeout = std::chrono::seconds(10);
    c.retry.initial_backoff = std::chrono::milliseconds(5);
    c.retry.max_backoff = std::chrono::milliseconds(20);
    c.jitter_seed = 7;
    c.before_write = [this]() -> Status {
      ++asked;
      if (asked > allowed) {
        return Error{ErrorKind::kUnavailable, "not the leader (standby: Lease x/y is held by z)"};
      }
      return Status::Ok();
    };
    auto made = HttpRegistryApi::Create(c);
    if (!made.ok()) ADD_FAILURE() << made.error().ToString();
    api = std::move(made.value());
  }
  std::atomic<int> asked{0};
  std::atomic<int> allowed{0};
  std::unique_ptr<HttpRegistryApi> api;
};

int Count(const EmulatorProcess& emu, const std::string& method) {
  int n = 0;
  for (const auto& r : emu.Requests()) n += r.method == method;
  return n;
}

TEST(RegistryWriteGuardTest, ARefusedWriteIsNotSentAndReadsAreNotAsked) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  Guarded g(emu);
  ASSERT_TRUE(g.api->ListTokens(rid).ok());
  ASSERT_TRUE(g.api->ListRegistries().ok());
  ASSERT_TRUE(g.api->GetRegistry(rid).ok());
  EXPECT_EQ(g.asked, 0);

  TokenFields fields;
  fields.name = "ci-push";
  auto created = g.api->CreateToken(rid, kTokenId, fields);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(created.error().message, "PUT /registries/" + rid + "/tokens/" + kTokenId +
                                         ": not sent: not the leader (standby: Lease x/y is held "
                                         "by z)");
  Status deleted = g.api->DeleteToken(rid, kTokenId);
  ASSERT_FALSE(deleted.ok());
  EXPECT_NE(deleted.error().message.find("DELETE /registries/" + rid + "/tokens/" + kTokenId +
                                         ": not sent:"),
            std::string::npos);
  EXPECT_EQ(Count(emu, "PUT"), 0);
  EXPECT_EQ(Count(emu, "DELETE"), 0);
  const auto state = emu.StateJson();
  EXPECT_TRUE(state["registries"][0]["tokens"].empty());
}

TEST(RegistryWriteGuardTest, TheRetryOfAWriteAsksAgainAndIsNotSentOnceRefused) {
  EmulatorProcess emu({"--registry", "acme", "--token", "t"});
  const std::string rid = emu.RegistryId("acme");
  emu.AddFault({{"method", "PUT"}, {"path", "/tokens/"}, {"status", 503}, {"times", 1}});
  Guarded g(emu);
  g.allowed = 1;  // the first attempt may go; the fence closes before the retry
  TokenFields fields;
  fields.name = "ci-push";
  auto created = g.api->CreateToken(rid, kTokenId, fields);
  ASSERT_FALSE(created.ok());
  EXPECT_NE(created.error().message.find(": not sent: not the leader"), std::string::npos)
      << created.error().message;
  EXPECT_EQ(g.asked, 2);
  ASSERT_EQ(Count(emu, "PUT"), 1);  // the first attempt, answered 503; no retry left
  const auto state = emu.StateJson();
  EXPECT_TRUE(state["registries"][0]["tokens"].empty());
}

}  // namespace
}  // namespace crtoken
