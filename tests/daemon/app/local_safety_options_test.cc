// Options that keep secrets out of logs and core dumps: an API URL with credentials in it is
// refused without being echoed, and --allow-core-dumps is the only way to keep core dumps.
#include <gtest/gtest.h>

#include <map>

#include "daemon/app/options.h"

namespace crtoken {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(LocalSafetyOptionsTest, AnApiUrlWithUserinfoIsRefusedWithoutEchoingIt) {
  const std::string url = "https://ci-bot:hunter2-secret@api.example.com/containerregistries";
  struct Case {
    std::vector<std::string> args;
    std::map<std::string, std::string> env;
    std::string names;  // where the error says the value came from
  };
  const std::vector<Case> cases = {
      {{"--api-url", url}, {}, "--api-url"},
      {{"--api-url=" + url}, {}, "--api-url"},
      {{}, {{"CRTOKEN_API_URL", url}}, "$CRTOKEN_API_URL"},
      {{}, {{"IONOS_API_URL", url}}, "$IONOS_API_URL"},
      {{}, {{"IONOS_API_URL", "ci-bot:hunter2-secret@api.example.com"}}, "$IONOS_API_URL"},
  };
  for (const Case& tc : cases) {
    auto o = ParseOptions("apply", tc.args, Env(tc.env));
    ASSERT_FALSE(o.ok()) << tc.names;
    const std::string& m = o.error().message;
    EXPECT_EQ(o.error().kind, ErrorKind::kInvalid);
    EXPECT_NE(m.find(tc.names), std::string::npos) << m;
    EXPECT_NE(m.find("credentials in the URL"), std::string::npos) << m;
    EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
    EXPECT_EQ(m.find("ci-bot"), std::string::npos) << m;
  }
  auto o = ParseOptions("run", {"--api-url", url}, Env({}));
  ASSERT_FALSE(o.ok());
  EXPECT_NE(o.error().message.find("\"https://***@api.example.com/containerregistries\""),
            std::string::npos)
      << o.error().message;
}

TEST(LocalSafetyOptionsTest, AnAtSignOutsideTheAuthorityIsFine) {
  for (const std::string url :
       {"http://127.0.0.1:8080/containerregistries",
        "https://api.example.com/a@b/containerregistries", "https://api.example.com/x?owner=a@b"}) {
    auto o = ParseOptions("apply", {"--api-url", url}, Env({}));
    ASSERT_TRUE(o.ok()) << url << ": " << o.error().message;
    EXPECT_EQ(o.value().api_url, url);
  }
}

TEST(LocalSafetyOptionsTest, CoreDumpsStayOffUnlessAskedFor) {
  auto off = ParseOptions("run", {}, Env({}));
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off.value().allow_core_dumps);
  for (const std::string command : {"run", "plan", "apply", "validate"}) {
    auto flag = ParseOptions(command, {"--allow-core-dumps"}, Env({}));
    ASSERT_TRUE(flag.ok()) << command << ": " << flag.error().message;
    EXPECT_TRUE(flag.value().allow_core_dumps) << command;
  }
  auto env = ParseOptions("apply", {}, Env({{"CRTOKEN_ALLOW_CORE_DUMPS", "1"}}));
  ASSERT_TRUE(env.ok());
  EXPECT_TRUE(env.value().allow_core_dumps);
  auto no = ParseOptions("apply", {"--allow-core-dumps=false"},
                         Env({{"CRTOKEN_ALLOW_CORE_DUMPS", "true"}}));
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no.value().allow_core_dumps);
  EXPECT_NE(OptionsHelp("run").find("--allow-core-dumps"), std::string::npos);
}

}  // namespace
}  // namespace crtoken
