// A change of a spec's lifetime, renewBefore or overlap is a change of its registry: the daemon
// runs a pass for it at once (adding overlap, for one, changes which tokens the spec owns).
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>

#include "daemon/specs/spec_tracker.h"

namespace crtoken {
namespace {

DesiredState With(std::optional<std::chrono::seconds> lifetime, std::chrono::seconds renew_before,
                  std::optional<std::chrono::seconds> overlap) {
  TokenSpec spec;
  spec.name = "ci";
  spec.registry = "acme";
  spec.lifetime = lifetime;
  spec.renew_before = renew_before;
  spec.overlap = overlap;
  spec.scopes = {Scope{"app/*", "repository", {"pull"}}};
  spec.secret.file = "ci.json";
  spec.source = SourceLocation{"specs/ci.yaml", 4, 9};
  DesiredState d;
  d.specs = {spec};
  return d;
}

TEST(SpecTrackerOverlapTest, LifetimeRenewBeforeAndOverlapChangeTheRegistry) {
  using std::chrono::hours;
  using std::chrono::seconds;
  const DesiredState base = With(hours(48), hours(16), std::nullopt);
  const std::set<std::string> acme = {"acme"};
  EXPECT_TRUE(ChangedRegistryRefs(base, With(hours(48), hours(16), std::nullopt)).empty());
  EXPECT_EQ(ChangedRegistryRefs(base, With(hours(48), hours(16), seconds(3600))), acme);
  EXPECT_EQ(ChangedRegistryRefs(With(hours(48), hours(16), seconds(3600)),
                                With(hours(48), hours(16), seconds(600))),
            acme);
  EXPECT_EQ(ChangedRegistryRefs(base, With(hours(48), hours(8), std::nullopt)), acme);
  EXPECT_EQ(ChangedRegistryRefs(base, With(hours(72), hours(16), std::nullopt)), acme);
  EXPECT_EQ(ChangedRegistryRefs(base, With(std::nullopt, seconds(0), std::nullopt)), acme);
}

}  // namespace
}  // namespace crtoken
