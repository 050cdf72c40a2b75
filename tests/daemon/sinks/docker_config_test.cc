#include "daemon/sinks/docker_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

namespace crtoken {
namespace {

TEST(Base64Test, MatchesRfc4648Vectors) {
  // RFC 4648 section 10.
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [raw, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(raw), encoded) << raw;
    ASSERT_TRUE(Base64Decode(encoded).has_value()) << encoded;
    EXPECT_EQ(*Base64Decode(encoded), raw) << encoded;
  }
}

TEST(Base64Test, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string raw = all.substr(0, n);
    EXPECT_EQ(Base64Decode(Base64Encode(raw)), raw) << n;
  }
}

TEST(Base64Test, RefusesWhatIsNotPaddedStandardBase64) {
  for (const char* bad :
       {"Zg", "Zg=", "Z===", "Zg=a", "Zm9v\n", "Zm-v", "Zm_v", "Z=g=", "Zg==Zg=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

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
