// One writer per secret directory: an idle `crtoken run` holds the lock on its --secret-dir, so an
// `apply` on the same directory is refused at once, naming it, and changes nothing; `plan` takes
// no lock. Once the daemon is gone, the directory is free again.
#include <signal.h>

#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

class SecretDirLockE2eTest : public OwnershipE2eTest {};

TEST_F(SecretDirLockE2eTest, AnIdleRunRefusesAnApplyOnItsSecretDirAtOnce) {
  Declare("specs", "ci-push");
  ASSERT_TRUE(StartRun("specs", "secrets"));
  ASSERT_TRUE(WaitUntil([&] { return Ready(); })) << daemon_->Log();
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
  const auto tokens = Tokens();
  const std::string secret = ReadFile(dir_ / "secrets" / "ci-push.json");

  // Something for the apply to do, were it allowed: a new token.
  Declare("specs-ci", "ci-push");
  Declare("specs-ci", "other");
  emu_.ClearRequests();
  const auto start = std::chrono::steady_clock::now();
  CommandResult apply = Crtoken("apply", "specs-ci", "secrets");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(apply.exit_code, 1) << apply.out << apply.err;
  EXPECT_NE(apply.err.find(Path("secrets")), std::string::npos) << apply.err;
  EXPECT_NE(apply.err.find("another crtoken apply or run"), std::string::npos) << apply.err;
  EXPECT_EQ(apply.out, "");
  // Refused before anything was read: not one API request, nothing changed.
  EXPECT_TRUE(emu_.Requests().empty());
  EXPECT_EQ(Tokens(), tokens);
  EXPECT_EQ(ReadFile(dir_ / "secrets" / "ci-push.json"), secret);
  EXPECT_LT(took, std::chrono::seconds(10));  // a refusal, not a wait for the lock

  // plan takes no lock.
  CommandResult plan = Crtoken("plan", "specs-ci", "secrets");
  EXPECT_EQ(plan.exit_code, 2) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("create acme/other"), std::string::npos) << plan.out;

  // A second run on the same directory is refused the same way.
  CommandResult second = Crtoken("run", "specs-ci", "secrets");
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("another crtoken apply or run"), std::string::npos) << second.err;
  EXPECT_TRUE(daemon_->running());

  // Once the daemon has stopped, the directory is free.
  daemon_->Signal(SIGTERM);
  ASSERT_EQ(daemon_->Wait(std::chrono::seconds(30)), 0) << daemon_->Log();
  CommandResult after = Crtoken("apply", "specs-ci", "secrets");
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  ExpectDelivered("secrets", "other.json", "other");
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
}

TEST_F(SecretDirLockE2eTest, ASecretDirThatCannotBeCreatedFailsBeforeAnyRequest) {
  Declare("specs", "ci-push");
  WriteFile(dir_ / "a-file", "not a directory");
  emu_.ClearRequests();
  CommandResult apply = Crtoken("apply", "specs", "a-file/secrets");
  EXPECT_EQ(apply.exit_code, 1) << apply.out << apply.err;
  EXPECT_EQ(apply.err.substr(apply.err.rfind("crtoken apply: ")),
            "crtoken apply: cannot create the secret dir " + Path("a-file/secrets") +
                ": Not a directory\n");
  EXPECT_EQ(apply.out, "");
  EXPECT_TRUE(emu_.Requests().empty());
  EXPECT_TRUE(TokenNames().empty());  // no token whose password has nowhere to go

  // A missing one is created, private, with its parents; plan creates nothing.
  CommandResult created = Crtoken("apply", "specs", "deep/secrets");
  ASSERT_EQ(created.exit_code, 0) << created.out << created.err;
  EXPECT_EQ(FileMode(dir_ / "deep"), 0700u);
  EXPECT_EQ(FileMode(dir_ / "deep" / "secrets"), 0700u);
  ExpectDelivered("deep/secrets", "ci-push.json", "ci-push");
  CommandResult plan = Crtoken("plan", "specs", "nowhere");
  EXPECT_EQ(plan.exit_code, 2) << plan.out << plan.err;
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
}

}  // namespace
}  // namespace crtoken::test
