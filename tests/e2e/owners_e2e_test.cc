// Two installations of crtoken on one registry, each with its own --owner and --prune owned: each
// creates and prunes only its own tokens, and a name both declare is an error in the second one,
// naming the holder. And --owner itself: a bad name is refused before anything is read or written.
#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

class OwnersE2eTest : public OwnershipE2eTest {};

TEST_F(OwnersE2eTest, EachOwnerPrunesOnlyItsOwnAndASharedNameNamesTheHolder) {
  // Team A declares a-only and shared; team B declares b-only and shared.
  Declare("specs-a", "a-only");
  Declare("specs-a", "shared");
  Declare("specs-b", "b-only");
  Declare("specs-b", "shared");
  const std::vector<std::string> a = {"--owner", "team-a", "--prune", "owned"};
  const std::vector<std::string> b = {"--owner", "team-b", "--prune", "owned"};

  CommandResult first = Crtoken("apply", "specs-a", "secrets-a", a);
  ASSERT_EQ(first.exit_code, 0) << first.out << first.err;
  ExpectDelivered("secrets-a", "a-only.json", "a-only", "team-a");
  ExpectDelivered("secrets-a", "shared.json", "shared", "team-a");
  const json shared = Tokens()["shared"];

  // B creates its own token; the shared name is A's: an error naming the holder, nothing touched.
  CommandResult second = Crtoken("apply", "specs-b", "secrets-b", b);
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("a token named shared exists in registry acme and belongs to another "
                            "crtoken installation"),
            std::string::npos)
      << second.err;
  EXPECT_NE(second.err.find("this one is owner \"team-b\""), std::string::npos) << second.err;
  ExpectDelivered("secrets-b", "b-only.json", "b-only", "team-b");
  EXPECT_TRUE(Secret("secrets-b", "shared.json").is_null());
  EXPECT_EQ(Tokens()["shared"]["id"], shared["id"]);
  EXPECT_EQ(Tokens()["shared"]["password"], shared["password"]);
  // A's plan still has nothing to do: B changed nothing of A's.
  EXPECT_EQ(Crtoken("plan", "specs-a", "secrets-a", a).exit_code, 0);

  // A stops declaring a-only: A prunes it and only it (B's tokens are another owner's).
  Undeclare("specs-a", "a-only");
  CommandResult prune_a = Crtoken("apply", "specs-a", "secrets-a", a);
  ASSERT_EQ(prune_a.exit_code, 0) << prune_a.out << prune_a.err;
  EXPECT_NE(prune_a.out.find("delete acme/a-only"), std::string::npos) << prune_a.out;
  EXPECT_EQ(TokenNames(), (std::vector<std::string>{"b-only", "shared"}));
  EXPECT_TRUE(Secret("secrets-a", "a-only.json").is_null());
  ExpectDelivered("secrets-b", "b-only.json", "b-only", "team-b");

  // B declares nothing any more (a spec file that declares none keeps the tree readable): B prunes
  // b-only, and leaves A's shared token alone although B once declared that name too.
  Undeclare("specs-b", "b-only");
  Undeclare("specs-b", "shared");
  WriteFile(dir_ / "specs-b" / "none.yaml", "# no tokens declared\n");
  CommandResult prune_b = Crtoken("apply", "specs-b", "secrets-b", b);
  ASSERT_EQ(prune_b.exit_code, 0) << prune_b.out << prune_b.err;
  EXPECT_EQ(TokenNames(), (std::vector<std::string>{"shared"}));
  EXPECT_EQ(Tokens()["shared"]["id"], shared["id"]);
  ExpectDelivered("secrets-a", "shared.json", "shared", "team-a");
  EXPECT_TRUE(Secret("secrets-b", "b-only.json").is_null());
}

TEST_F(OwnersE2eTest, TheDefaultOwnerIsCrtokenAndAnotherOwnerSeesItsTokensAsHeld) {
  Declare("specs", "ci-push");
  CommandResult apply = Crtoken("apply", "specs", "secrets");
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  ExpectDelivered("secrets", "ci-push.json", "ci-push", "crtoken");
  // The same checkout under another owner (its owner was changed): the token is held, not taken,
  // and with --prune owned it is not deleted either.
  CommandResult other = Crtoken("plan", "specs", "secrets", {"--owner", "renamed"});
  EXPECT_EQ(other.exit_code, 1) << other.out << other.err;
  EXPECT_NE(other.err.find("belongs to another crtoken installation"), std::string::npos)
      << other.err;
  CommandResult env_owner = Crtoken("plan", "specs", "secrets", {}, {{"CRTOKEN_OWNER", "crtoken"}});
  EXPECT_EQ(env_owner.exit_code, 0) << env_owner.out << env_owner.err;
}

TEST_F(OwnersE2eTest, AnInvalidOwnerIsRefusedBeforeAnythingIsReadOrWritten) {
  Declare("specs", "ci-push");
  emu_.ClearRequests();
  for (const std::string command : {"plan", "apply", "run"}) {
    CommandResult flag = Crtoken(command, "specs", "secrets", {"--owner", "Team_A"});
    EXPECT_EQ(flag.exit_code, 1) << command;
    EXPECT_EQ(flag.err, "crtoken " + command +
                            ": bad value for --owner \"Team_A\": want 1 to 63 characters of a-z, "
                            "0-9 and '-' (character 1 is not one of them)\n");
    EXPECT_EQ(flag.out, "");
    CommandResult env =
        Crtoken(command, "specs", "secrets", {}, {{"CRTOKEN_OWNER", std::string(64, 'x')}});
    EXPECT_EQ(env.exit_code, 1) << command;
    EXPECT_NE(env.err.find("bad value in $CRTOKEN_OWNER="), std::string::npos) << env.err;
    EXPECT_NE(env.err.find("want 1 to 63 characters of a-z, 0-9 and '-' (it has 64)"),
              std::string::npos)
        << env.err;
  }
  EXPECT_TRUE(emu_.Requests().empty());
  EXPECT_FALSE(fs::exists(dir_ / "secrets"));
  EXPECT_TRUE(TokenNames().empty());
}

}  // namespace
}  // namespace crtoken::test
