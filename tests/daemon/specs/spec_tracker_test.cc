#include "daemon/specs/spec_tracker.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace crtoken {
namespace {

using test::TempDir;
using test::WriteFile;

std::string Token(const std::string& name, const std::string& registry,
                  const std::string& status = "enabled") {
  return "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + name +
         "\nspec:\n  registry: " + registry + "\n  status: " + status +
         "\n  scopes:\n    - name: \"app/*\"\n      type: repository\n      actions: [pull]\n"
         "  secret:\n    file: " +
         name + "-" + registry + ".json\n";
}

std::vector<std::string> Names(const DesiredState& d) {
  std::vector<std::string> out;
  for (const auto& s : d.specs) out.push_back(s.registry + "/" + s.name);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(SpecTrackerTest, BrokenFileKeepsLastGoodSpecsAndIsMarkedFailed) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("ci-push", "acme-prod"));
  WriteFile(dir / "b.yaml", Token("dev-pull", "acme-dev"));
  SpecTracker tracker({dir.path().string()});
  SpecSnapshot first = tracker.Load();
  EXPECT_TRUE(first.errors.empty());
  EXPECT_EQ(Names(first.desired),
            (std::vector<std::string>{"acme-dev/dev-pull", "acme-prod/ci-push"}));
  EXPECT_TRUE(first.desired.failed_files.empty());

  WriteFile(dir / "a.yaml", Token("ci-push", "acme-prod") + "  bogus: 1\n");
  SpecSnapshot broken = tracker.Load();
  ASSERT_FALSE(broken.errors.empty());
  EXPECT_NE(broken.errors[0].ToString().find("a.yaml:"), std::string::npos);
  EXPECT_EQ(Names(broken.desired), Names(first.desired)) << "the last good a.yaml stays";
  EXPECT_EQ(broken.stale_files.size(), 1u);
  EXPECT_EQ(broken.desired.failed_files.count((dir / "a.yaml").string()), 1u);

  WriteFile(dir / "a.yaml", Token("ci-push", "acme-prod", "disabled"));
  SpecSnapshot fixed = tracker.Load();
  EXPECT_TRUE(fixed.errors.empty());
  EXPECT_TRUE(fixed.desired.failed_files.empty());
  EXPECT_EQ(ChangedRegistryRefs(first.desired, fixed.desired),
            (std::set<std::string>{"acme-prod"}));
}

TEST(SpecTrackerTest, FileBrokenFromTheStartDeclaresNothingButIsProtected) {
  TempDir dir;
  WriteFile(dir / "a.yaml", "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\n: :\n");
  SpecTracker tracker({dir.path().string()});
  SpecSnapshot snap = tracker.Load();
  EXPECT_FALSE(snap.errors.empty());
  EXPECT_TRUE(snap.desired.specs.empty());
  EXPECT_EQ(snap.desired.failed_files.count((dir / "a.yaml").string()), 1u);
}

TEST(SpecTrackerTest, DeletedFileIsForgotten) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("ci-push", "acme-prod"));
  WriteFile(dir / "b.yaml", Token("dev-pull", "acme-dev"));
  SpecTracker tracker({dir.path().string()});
  SpecSnapshot first = tracker.Load();
  std::filesystem::remove(dir / "a.yaml");
  SpecSnapshot after = tracker.Load();
  EXPECT_EQ(Names(after.desired), (std::vector<std::string>{"acme-dev/dev-pull"}));
  EXPECT_EQ(ChangedRegistryRefs(first.desired, after.desired),
            (std::set<std::string>{"acme-prod"}));
}

TEST(SpecTrackerTest, ChangedRegistryRefsIgnoresOrderAndSeesMoves) {
  TempDir dir;
  WriteFile(dir / "a.yaml", Token("t1", "acme-prod") + "---\n" + Token("t2", "acme-prod"));
  SpecTracker tracker({dir.path().string()});
  SpecSnapshot first = tracker.Load();
  WriteFile(dir / "a.yaml", Token("t2", "acme-prod") + "---\n" + Token("t1", "acme-prod"));
  SpecSnapshot reordered = tracker.Load();
  EXPECT_TRUE(ChangedRegistryRefs(first.desired, reordered.desired).empty());
  WriteFile(dir / "a.yaml", Token("t2", "acme-prod") + "---\n" + Token("t1", "acme-dev"));
  SpecSnapshot moved = tracker.Load();
  EXPECT_EQ(ChangedRegistryRefs(reordered.desired, moved.desired),
            (std::set<std::string>{"acme-prod", "acme-dev"}));
}

}  // namespace
}  // namespace crtoken
