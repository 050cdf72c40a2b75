// Bad input on the ownership side, end to end: a secret that records another token's id, a secret
// file that is not JSON (both: the password is not provably there, so the token is re-issued),
// and a secret directory that cannot be written (a clear error naming the file; the token is not
// lost: `run` holds its password until the directory can take it, `apply` reports it).
#include <signal.h>
#include <sys/stat.h>

#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

class OwnershipBadInputE2eTest : public OwnershipE2eTest {
 protected:
  void SetUp() override {
    Declare("specs", "ci-push");
    Declare("specs", "puller");
    CommandResult apply = Crtoken("apply", "specs", "secrets");
    ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
    before_ = Tokens();
  }
  std::string Id(const std::string& name) { return Tokens().at(name)["id"]; }

  // The secret's content is not what its record says, or not readable: plan shows the re-issue
  // (and no error), apply does it, and the token's password is in the secret again.
  void ExpectReissued(const std::string& name) {
    CommandResult plan = Crtoken("plan", "specs", "secrets");
    EXPECT_EQ(plan.exit_code, 2) << plan.out << plan.err;
    EXPECT_NE(plan.out.find("reissue acme/" + name), std::string::npos) << plan.out;
    EXPECT_NE(plan.out.find("Plan: 0 to create, 1 to reissue, 0 to update, 0 to delete; 1 in sync"),
              std::string::npos)
        << plan.out;
    CommandResult apply = Crtoken("apply", "specs", "secrets");
    ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
    EXPECT_NE(Id(name), before_.at(name)["id"]);
    ExpectDelivered("secrets", name + ".json", name);
    EXPECT_EQ(Id(name == "ci-push" ? "puller" : "ci-push"),
              before_.at(name == "ci-push" ? "puller" : "ci-push")["id"]);
    EXPECT_EQ(TokenNames(), (std::vector<std::string>{"ci-push", "puller"}));
  }

  std::map<std::string, json> before_;
};

TEST_F(OwnershipBadInputE2eTest, ASecretRecordingAnotherTokensIdIsReissued) {
  // ci-push's secret now claims to hold puller's token (copied over, or edited by hand).
  json doc = Secret("secrets", "ci-push.json");
  doc["crtoken"]["tokenId"] = before_.at("puller")["id"];
  WriteFile(dir_ / "secrets" / "ci-push.json", doc.dump());
  ExpectReissued("ci-push");
  // puller's own secret was never taken for ci-push's, nor the other way round.
  ExpectDelivered("secrets", "puller.json", "puller");
}

TEST_F(OwnershipBadInputE2eTest, ASecretFileThatIsNotJsonIsReissued) {
  WriteFile(dir_ / "secrets" / "puller.json", "{\"auths\": {\"acme.cr.de-fra.ionos.com\": ");
  ExpectReissued("puller");
}

TEST_F(OwnershipBadInputE2eTest, AReadOnlySecretDirIsAClearErrorOfApplyAndTheTokenIsReported) {
  Declare("specs", "fresh");
  ASSERT_EQ(::chmod(Path("secrets").c_str(), 0500), 0);
  CommandResult apply = Crtoken("apply", "specs", "secrets", {}, {}, DropFileCapabilities);
  ASSERT_EQ(::chmod(Path("secrets").c_str(), 0700), 0);
  if (apply.exit_code == 126) GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
  EXPECT_EQ(apply.exit_code, 1) << apply.out << apply.err;
  EXPECT_NE(apply.err.find(Path("secrets") + "/fresh.json"), std::string::npos) << apply.err;
  EXPECT_NE(apply.err.find("Permission denied"), std::string::npos) << apply.err;
  EXPECT_NE(apply.err.find("1 passwords could not be delivered"), std::string::npos) << apply.err;
  EXPECT_TRUE(Secret("secrets", "fresh.json").is_null());
  ASSERT_TRUE(Tokens().count("fresh"));  // created: its password died with the process
  const std::string lost = Id("fresh");

  // The next apply, on a writable directory, re-issues it; nothing else is touched.
  CommandResult again = Crtoken("apply", "specs", "secrets");
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(Id("fresh"), lost);
  ExpectDelivered("secrets", "fresh.json", "fresh");
  EXPECT_EQ(Id("ci-push"), before_.at("ci-push")["id"]);
  EXPECT_EQ(TokenNames(), (std::vector<std::string>{"ci-push", "fresh", "puller"}));
}

TEST_F(OwnershipBadInputE2eTest, AReadOnlySecretDirMakesRunHoldThePasswordUntilItCanWrite) {
  Declare("specs", "fresh");
  ASSERT_EQ(::chmod(Path("secrets").c_str(), 0500), 0);
  if (!StartRun("specs", "secrets", {}, /*without_file_capabilities=*/true)) {
    GTEST_SKIP() << "cannot drop CAP_DAC_OVERRIDE here";
  }
  ASSERT_TRUE(WaitUntil([&] { return Ready(); })) << daemon_->Log();
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_secrets_waiting") == 1; })) << daemon_->Log();
  EXPECT_NE(daemon_->Log().find(Path("secrets") + "/fresh.json"), std::string::npos)
      << daemon_->Log();
  ASSERT_TRUE(Tokens().count("fresh"));
  const std::string held = Id("fresh");
  EXPECT_TRUE(Secret("secrets", "fresh.json").is_null());

  // Another pass while the directory is still read-only: held, not re-issued.
  const double passes = Metric("crtoken_reconcile_total{result=\"error\"}") +
                        Metric("crtoken_reconcile_total{result=\"success\"}");
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] {
    return Metric("crtoken_reconcile_total{result=\"error\"}") +
               Metric("crtoken_reconcile_total{result=\"success\"}") >
           passes;
  }));
  EXPECT_EQ(Id("fresh"), held);
  EXPECT_EQ(Metric("crtoken_secrets_waiting"), 1);

  // Writable again: the held password is written, for the same token.
  ASSERT_EQ(::chmod(Path("secrets").c_str(), 0700), 0);
  daemon_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return Metric("crtoken_secrets_waiting") == 0; })) << daemon_->Log();
  EXPECT_EQ(Id("fresh"), held);
  ExpectDelivered("secrets", "fresh.json", "fresh");
  EXPECT_EQ(TokenNames(), (std::vector<std::string>{"ci-push", "fresh", "puller"}));
}

}  // namespace
}  // namespace crtoken::test
