#include "daemon/sinks/docker_config.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "daemon/common/base64.h"

namespace crtoken {
namespace {

DockerCredential Cred(const std::string& password, SecretRecord record = {}) {
  return DockerCredential{"acme.cr.de-fra.ionos.com", "ci-push", Password(password),
                          std::move(record)};
}

const SecretRecord kRecord{"crtoken", "reg-1", "ci-push", "0c8d3c1a-0000-8c72-8000-000000000001"};

// A dockerconfigjson of one credential with `record_member` as its "crtoken" member.
std::string WithMember(const std::string& record_member) {
  return R"({"auths":{"h.example":{"username":"u","password":"p"}},"crtoken":)" + record_member +
         "}";
}

TEST(DockerConfigJsonTest, IsExactlyTheContractFormat) {
  // base64("ci-push:s3cret") = Y2ktcHVzaDpzM2NyZXQ=
  EXPECT_EQ(DockerConfigJson(Cred("s3cret")),
            R"({"auths":{"acme.cr.de-fra.ionos.com":{"username":"ci-push","password":"s3cret",)"
            R"("auth":"Y2ktcHVzaDpzM2NyZXQ="}}})");
}

TEST(DockerConfigJsonTest, WritesTheRecordAfterAuthsInTheDocumentedForm) {
  EXPECT_EQ(DockerConfigJson(Cred("s3cret", kRecord)),
            R"({"auths":{"acme.cr.de-fra.ionos.com":{"username":"ci-push","password":"s3cret",)"
            R"("auth":"Y2ktcHVzaDpzM2NyZXQ="}},)"
            R"("crtoken":{"owner":"crtoken","registryId":"reg-1","token":"ci-push",)"
            R"("tokenId":"0c8d3c1a-0000-8c72-8000-000000000001"}})");
}

TEST(DockerConfigJsonTest, ReadsBackTheRecordItWrote) {
  SecretState state = ParseDockerConfigJson(DockerConfigJson(Cred("s3cret", kRecord)));
  EXPECT_TRUE(state.has_password);
  EXPECT_EQ(state.username, "ci-push");
  EXPECT_EQ(state.record, kRecord);
  // Escaped like every other string: a quote or a newline cannot break out of the member.
  const SecretRecord tricky{"own\"er", "reg\n1", "tok\\en", "id\x01"};
  const std::string content = DockerConfigJson(Cred("s3cret", tricky));
  EXPECT_EQ(nlohmann::json::parse(content)["crtoken"]["owner"], "own\"er");
  EXPECT_EQ(ParseDockerConfigJson(content).record, tricky);
}

TEST(DockerConfigJsonTest, AMissingMalformedOrPartialRecordIsNoRecordAndNoError) {
  for (const std::string member :
       {"null", "\"crtoken\"", "[]", "{}", R"({"owner":"o","registryId":"r","token":"t"})",
        R"({"owner":"","registryId":"r","token":"t","tokenId":"i"})",
        R"({"owner":"o","registryId":7,"token":"t","tokenId":"i"})",
        R"({"owner":"o","registryId":"r","token":null,"tokenId":"i"})"}) {
    SecretState state = ParseDockerConfigJson(WithMember(member));
    EXPECT_TRUE(state.record.empty()) << member;
    EXPECT_EQ(state.record, SecretRecord{}) << member;
    EXPECT_TRUE(state.has_password) << member;  // the credential is read all the same
    EXPECT_EQ(state.username, "u") << member;
  }
  EXPECT_EQ(ParseDockerConfigJson(
                WithMember(R"({"owner":"o","registryId":"r","token":"t","tokenId":"i","later":1})"))
                .record,
            (SecretRecord{"o", "r", "t", "i"}));
  EXPECT_TRUE(ParseDockerConfigJson(DockerConfigJson(Cred("s3cret"))).record.empty());
  EXPECT_EQ(DockerConfigJson(Cred("s3cret")).find("crtoken"), std::string::npos);
  EXPECT_TRUE(ParseDockerConfigJson(R"({"crtoken":{"owner":"o")").record.empty());  // cut short
}

TEST(DockerConfigJsonTest, ReadDockerCredentialKeepsThePasswordAndTheRecord) {
  const std::string tricky = "a\"b\\c\n\x01/é";
  auto credential = ReadDockerCredential(DockerConfigJson(Cred(tricky, kRecord)));
  ASSERT_TRUE(credential.has_value());
  EXPECT_EQ(credential->hostname, "acme.cr.de-fra.ionos.com");
  EXPECT_EQ(credential->username, "ci-push");
  EXPECT_EQ(credential->password.Reveal(), tricky);
  EXPECT_EQ(credential->record, kRecord);
  // Rewritten, it is the same content.
  EXPECT_EQ(DockerConfigJson(*credential), DockerConfigJson(Cred(tricky, kRecord)));
  for (const char* content :
       {"", "not json", R"({"auths":{"a":{"username":"u"}}})", R"({"auths":{"a":{},"b":{}}})"}) {
    EXPECT_FALSE(ReadDockerCredential(content).has_value()) << content;
  }
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
