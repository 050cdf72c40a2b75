#include "reconciler/token_id.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace crtoken {
namespace {

const char kRegistry[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

TEST(TokenIdTest, MatchesRfc4122Version5) {
  // Reference values from Python's uuid.uuid5(UUID("c7a1d8e2-4b3f-4e6a-9f0d-2a5b7c3e1f90"),
  // "<registry>/<name>/<generation>"): an independent implementation of the same algorithm. A
  // change here changes the id of every token crtoken ever created.
  EXPECT_EQ(DeterministicTokenId(kRegistry, "ci-push", 1), "776d3918-3cd4-58ef-a2eb-58001cd2241b");
  EXPECT_EQ(DeterministicTokenId(kRegistry, "ci-push", 2), "c47a215b-1735-595a-963b-71cd0311c76a");
}

TEST(TokenIdTest, StableAndCanonical) {
  const std::regex canonical(
      "^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  for (int gen = 0; gen < 50; ++gen) {
    const std::string id = DeterministicTokenId(kRegistry, "t" + std::to_string(gen), gen);
    EXPECT_TRUE(std::regex_match(id, canonical)) << id;
    EXPECT_TRUE(IsUuid(id));
    EXPECT_EQ(id, DeterministicTokenId(kRegistry, "t" + std::to_string(gen), gen));
  }
}

TEST(TokenIdTest, DistinctPerInput) {
  std::set<std::string> ids;
  const std::vector<std::string> registries = {kRegistry, "0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11"};
  const std::vector<std::string> names = {"ci-push", "ci-pull", "a1", "ci-push-1"};
  for (const auto& r : registries) {
    for (const auto& n : names) {
      for (int gen = 0; gen < 5; ++gen) ids.insert(DeterministicTokenId(r, n, gen));
    }
  }
  EXPECT_EQ(ids.size(), registries.size() * names.size() * 5);
  // The separator keeps ("a/b", "c") and ("a", "b/c") apart only because names cannot hold '/';
  // generations 1 and 11 must differ from name suffixes that look alike.
  EXPECT_NE(DeterministicTokenId(kRegistry, "x", 11), DeterministicTokenId(kRegistry, "x/1", 1));
}

TEST(TokenIdTest, IsUuid) {
  EXPECT_TRUE(IsUuid("3FA85F64-5717-4562-B3FC-2C963F66AFA6"));
  EXPECT_FALSE(IsUuid(""));
  EXPECT_FALSE(IsUuid("3fa85f64-5717-4562-b3fc-2c963f66afa"));
  EXPECT_FALSE(IsUuid("3fa85f64-5717-4562-b3fc_2c963f66afa6"));
  EXPECT_FALSE(IsUuid("3fa85f64-5717-4562-b3fc-2c963f66afg6"));
  EXPECT_FALSE(IsUuid("../../registries/x/tokens/y-aaaaaaaaaa"));
}

}  // namespace
}  // namespace crtoken
