#include "daemon/sinks/docker_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "daemon/common/base64.h"

namespace crtoken {
namespace {

DockerCredential Cred(const std::string& password) {
  return DockerCredential{"acme.cr.de-fra.ionos.com", "ci-push", Password(password), ""};
}

TEST(DockerConfigJsonTest, IsExactlyTheContractFormat) {
  // base64("ci-push:s3cret") = Y2ktcHVzaDpzM2NyZXQ=
  EXPECT_EQ(DockerConfigJson(Cred("s3cret")),
            R"({"auths":{"acme.cr.de-fra.ionos.com":{"username":"ci-push","password":"s3cret",)"
            R"("auth":"Y2ktcHVzaDpzM2NyZXQ="}}})");
}

TEST(DockerConfigJsonTest, ParsesBackWhatItWrites) {
  const std::string tricky = "a\"b\\c\n\x01/é";
  auto doc = nlohmann::json::parse(DockerConfigJson(Cred(tricky)));
  EXPECT_EQ(doc["auths"]["acme.cr.de-fra.ionos.com"]["password"], tricky);
  SecretState state = ParseDockerConfigJson(DockerConfigJson(Cred(tricky)));
  EXPECT_TRUE(state.exists);
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.hostname, "acme.cr.de-fra.ionos.com");
  EXPECT_EQ(state.username, "ci-push");
}

TEST(DockerConfigJsonTest, TakesAMissingUsernameOrPasswordFromAuth) {
  SecretState state = ParseDockerConfigJson(R"({"auths":{"r.example":{"auth":")" +
                                            Base64Encode("robot:pw") + R"("}}})");
  EXPECT_EQ(state.username, "robot");
  EXPECT_TRUE(state.has_password);
}

TEST(DockerConfigJsonTest, AnythingElseExistsWithoutAPassword) {
  for (const char* content :
       {"", "not json", "[]", R"({"auths":{}})", R"({"auths":{"a":{},"b":{}}})",
        R"({"auths":{"a":"x"}})", R"({"auths":{"a":{"username":"u","password":""}}})",
        R"({"auths":{"a":{"username":"u","auth":"%%%"}}})"}) {
    SecretState state = ParseDockerConfigJson(content);
    EXPECT_TRUE(state.exists) << content;
    EXPECT_FALSE(state.has_password) << content;
  }
}

}  // namespace
}  // namespace crtoken
