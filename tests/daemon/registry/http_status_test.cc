// The one HTTP-status-to-error mapping (ErrorKindForStatus in daemon/http_failure.h): its table,
// and both cpprest clients (the registry API and the Kubernetes sink) giving the table's kind for
// the same answer from a scripted server.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "daemon/common/http_failure.h"
#include "daemon/registry/http_registry_api.h"
#include "daemon/sinks/kubernetes_secret_sink.h"
#include "tests/support/raw_http_server.h"
#include "tests/support/scripted_clients.h"

namespace crtoken {
namespace {

using crtoken::test::RawHttpServer;
using crtoken::test::RawReply;

// Every status class, with the statuses the clients tell apart.
const std::vector<std::pair<int, ErrorKind>> kTable = {
    {100, ErrorKind::kUnavailable},  {101, ErrorKind::kUnavailable},
    {201, ErrorKind::kUnavailable},  {202, ErrorKind::kUnavailable},
    {204, ErrorKind::kUnavailable},  {301, ErrorKind::kInvalid},
    {302, ErrorKind::kInvalid},      {304, ErrorKind::kInvalid},
    {307, ErrorKind::kInvalid},      {308, ErrorKind::kInvalid},
    {400, ErrorKind::kInvalid},      {401, ErrorKind::kUnauthorized},
    {403, ErrorKind::kUnauthorized}, {404, ErrorKind::kNotFound},
    {405, ErrorKind::kInvalid},      {409, ErrorKind::kConflict},
    {410, ErrorKind::kInvalid},      {418, ErrorKind::kInvalid},
    {422, ErrorKind::kInvalid},      {429, ErrorKind::kRateLimited},
    {499, ErrorKind::kInvalid},      {500, ErrorKind::kUnavailable},
    {502, ErrorKind::kUnavailable},  {503, ErrorKind::kUnavailable},
    {504, ErrorKind::kUnavailable},  {599, ErrorKind::kUnavailable},
};

TEST(HttpStatusTest, EveryStatusClassMapsToOneKind) {
  for (const auto& [status, kind] : kTable) {
    EXPECT_EQ(ErrorKindName(ErrorKindForStatus(status)), std::string(ErrorKindName(kind)))
        << status;
  }
}

TEST(HttpStatusTest, MessageNamesWhereTheStatusAndTheDetail) {
  Error e = HttpStatusError(404, std::nullopt, "GET /registries/x", "no such registry");
  EXPECT_EQ(e.kind, ErrorKind::kNotFound);
  EXPECT_EQ(e.message, "GET /registries/x: HTTP 404: no such registry");
  e = HttpStatusError(503, std::nullopt, "GET /x", "");
  EXPECT_EQ(e.kind, ErrorKind::kUnavailable);
  EXPECT_EQ(e.message, "GET /x: HTTP 503");
  // A redirect names where it pointed (only the origin) and that it was not followed.
  e = HttpStatusError(302, "https://elsewhere.example:8443/p?key=SECRET", "GET /x", "ignored");
  EXPECT_EQ(e.kind, ErrorKind::kInvalid);
  EXPECT_NE(e.message.find("https://elsewhere.example:8443"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("not followed"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("SECRET"), std::string::npos) << e.message;
}

RawReply Answer(int status) {
  RawReply r = RawHttpServer::Json(status, R"({"message":"scripted"})");
  if (status >= 300 && status < 400) r.headers.push_back({"Location", "http://127.0.0.1:1/x"});
  return r;
}

// The statuses a scripted server can send as a final answer (no 1xx), but for 404, which each
// client reads as "absent" on the calls used here where that is a valid answer.
std::vector<std::pair<int, ErrorKind>> WireTable() {
  std::vector<std::pair<int, ErrorKind>> out;
  for (const auto& row : kTable) {
    if (row.first >= 200) out.push_back(row);
  }
  return out;
}

TEST(HttpStatusTest, RegistryClientGivesTheTablesKind) {
  RawHttpServer server;
  auto api = HttpRegistryApi::Create(test::ScriptedRegistryConfig(server.url(), 2));
  ASSERT_TRUE(api.ok()) << api.error().ToString();
  for (const auto& [status, kind] : WireTable()) {
    if (status == 304) continue;  // a 304 carries no body: not a reply this server scripts
    SCOPED_TRACE(status);
    server.SetDefault(Answer(status));
    auto t = api.value()->GetToken(test::kScriptedRegistryId, test::kScriptedTokenId);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(ErrorKindName(t.error().kind), std::string(ErrorKindName(kind))) << t.error().message;
  }
}

TEST(HttpStatusTest, KubernetesClientGivesTheTablesKind) {
  RawHttpServer server;
  auto sink = test::ScriptedKubernetesSink(server.url(), 1);
  ASSERT_TRUE(sink.ok()) << sink.error().ToString();
  const SecretRef ref = test::ScriptedSecretRef();
  for (const auto& [status, kind] : WireTable()) {
    if (status == 304 || status == 404) continue;  // 404: the Secret is absent, not an error
    SCOPED_TRACE(status);
    server.SetDefault(Answer(status));
    auto state = sink.value()->Inspect(ref);
    ASSERT_FALSE(state.ok());
    EXPECT_EQ(ErrorKindName(state.error().kind), std::string(ErrorKindName(kind)))
        << state.error().message;
  }
}

}  // namespace
}  // namespace crtoken
