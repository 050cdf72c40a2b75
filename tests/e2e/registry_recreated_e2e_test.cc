// A registry deleted and created again under the same name gets a new id. The secrets still record
// the old one; the next apply creates the tokens in the new registry, rewrites the secrets, and
// converges, with no error about the registry that is gone, then and on every later pass.
#include "tests/e2e/ownership_e2e.h"

namespace crtoken::test {
namespace {

class RegistryRecreatedE2eTest : public OwnershipE2eTest {};

TEST_F(RegistryRecreatedE2eTest, TheNextApplyConvergesOnTheNewRegistry) {
  Declare("specs", "ci-push");
  Declare("specs", "puller", "acme", "teams/puller.json");
  ASSERT_EQ(Crtoken("apply", "specs", "secrets").exit_code, 0);
  const std::string old_id = emu_.RegistryId("acme");
  ASSERT_EQ(Secret("secrets", "ci-push.json")["crtoken"]["registryId"], old_id);

  ASSERT_EQ(Api("DELETE", "/registries/" + old_id).status, 204);
  HttpResult created =
      Api("POST", "/registries", json{{"properties", {{"name", "acme"}, {"location", "de/fra"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string new_id = emu_.RegistryId("acme");
  ASSERT_NE(new_id, old_id);

  CommandResult plan = Crtoken("plan", "specs", "secrets");
  EXPECT_EQ(plan.exit_code, 2) << plan.out << plan.err;
  EXPECT_NE(plan.out.find("create acme/ci-push"), std::string::npos) << plan.out;

  CommandResult apply = Crtoken("apply", "specs", "secrets");
  ASSERT_EQ(apply.exit_code, 0) << apply.out << apply.err;
  EXPECT_NE(apply.out.find("converged in"), std::string::npos) << apply.out;
  EXPECT_NE(apply.out.find("(1 pass)"), std::string::npos) << apply.out;
  ExpectDelivered("secrets", "ci-push.json", "ci-push");
  ExpectDelivered("secrets", "teams/puller.json", "puller");
  EXPECT_EQ(Secret("secrets", "ci-push.json")["crtoken"]["registryId"], new_id);
  EXPECT_EQ(TokenNames(), (std::vector<std::string>{"ci-push", "puller"}));

  // Nothing left to do, and no error about the old registry: no 404 on every pass.
  emu_.ClearRequests();
  CommandResult after = Crtoken("plan", "specs", "secrets");
  EXPECT_EQ(after.exit_code, 0) << after.out << after.err;
  EXPECT_EQ(after.err.find(old_id), std::string::npos) << after.err;
  for (const RequestEntry& r : emu_.Requests()) {
    EXPECT_EQ(r.path.find(old_id), std::string::npos) << r.method << " " << r.path;
  }
}

}  // namespace
}  // namespace crtoken::test
