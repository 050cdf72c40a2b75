// CI-style runs: every job starts from a fresh checkout of the specs, with no state of crtoken's
// anywhere; what crtoken owns and what was delivered is read back from the registry and the
// secrets alone.
#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

class FreshCheckoutE2eTest : public OwnershipE2eTest {
 protected:
  FreshCheckoutE2eTest() : OwnershipE2eTest({"acme", "beta"}) {}

  // A fresh copy of the specs, as a new CI job checks them out.
  void CheckOut(const std::string& checkout) {
    WriteFile(dir_ / checkout / "specs" / "ci-push.yaml", TokenYaml("ci-push", "acme"));
    WriteFile(dir_ / checkout / "specs" / "teams" / "puller.yaml",
              TokenYaml("puller", "acme", "teams/puller.json") + "---\n" +
                  TokenYaml("puller", "beta", "teams/puller-beta.json"));
  }
};

TEST_F(FreshCheckoutE2eTest, APlanFromAFreshCheckoutSeesWhatAnEarlierJobApplied) {
  CheckOut("job-1");
  CommandResult apply = Crtoken("apply", "job-1/specs", "secrets");
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
  ExpectDelivered("secrets", "teams/puller.json", "puller");
  ExpectDelivered("secrets", "teams/puller-beta.json", "puller", "crtoken", "beta");
  const auto acme = Tokens("acme");
  const auto beta = Tokens("beta");

  // Job 2: another checkout (other spec paths), the same secrets, no state dir.
  CheckOut("job-2");
  CommandResult plan = Crtoken("plan", "job-2/specs", "secrets");
  EXPECT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_EQ(plan.out,
            "Plan: 0 to create, 0 to reissue, 0 to update, 0 to delete; 3 in sync, 0 "
            "unmanaged.\n");
  // Nothing was written, and crtoken kept nothing of its own anywhere.
  EXPECT_EQ(Tokens("acme"), acme);
  EXPECT_EQ(Tokens("beta"), beta);
  EXPECT_FALSE(fs::exists(dir_ / ".crtoken"));
  EXPECT_FALSE(fs::exists(dir_ / "job-1" / ".crtoken"));
}

TEST_F(FreshCheckoutE2eTest, LostSecretsAreReissuedWithoutAnOwnershipError) {
  CheckOut("job-1");
  ASSERT_EQ(Crtoken("apply", "job-1/specs", "secrets").exit_code, 0);
  const auto before = Tokens("acme");

  // Job 2 runs on a runner without the secrets (a fresh workspace).
  fs::remove_all(dir_ / "secrets");
  CheckOut("job-2");
  CommandResult plan = Crtoken("plan", "job-2/specs", "secrets");
  EXPECT_EQ(plan.exit_code, 2) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("reissue acme/ci-push"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("reissue acme/puller"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("reissue beta/puller"), std::string::npos) << plan.out;
  EXPECT_NE(plan.out.find("Plan: 0 to create, 3 to reissue, 0 to update, 0 to delete"),
            std::string::npos)
      << plan.out;
  for (const std::string bad :
       {"does not own", "another crtoken installation", "adopt", " error ", "crtoken plan: "}) {
    EXPECT_EQ(plan.err.find(bad), std::string::npos) << bad << " in:\n" << plan.err;
  }
  EXPECT_EQ(Tokens("acme"), before);  // plan wrote nothing
  EXPECT_FALSE(fs::exists(dir_ / "secrets"));

  CommandResult apply = Crtoken("apply", "job-2/specs", "secrets");
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
  ExpectDelivered("secrets", "teams/puller.json", "puller");
  ExpectDelivered("secrets", "teams/puller-beta.json", "puller", "crtoken", "beta");
  EXPECT_NE(Tokens("acme")["ci-push"]["id"], before.at("ci-push")["id"]);  // a new generation
  EXPECT_EQ(TokenNames("acme"), (std::vector<std::string>{"ci-push", "puller"}));
  CheckOut("job-3");
  EXPECT_EQ(Crtoken("plan", "job-3/specs", "secrets").exit_code, 0);
}

}  // namespace
}  // namespace crtoken::test
