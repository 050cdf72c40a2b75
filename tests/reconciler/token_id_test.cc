#include "reconciler/token_id.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>
#include <string>
#include <vector>

namespace crtoken {
namespace {

const char kRegistry[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const char kOther[] = "0b7f1a4e-9f59-4c3c-8d8e-55aa44aa0c11";

// The API's path pattern for ids (docs/api: components.schemas.Uuid).
const std::regex kApiUuid("^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$");
// Lowercase canonical, version 8, tag c72, variant 10.
const std::regex kCrtokenId("^[0-9a-f]{8}-[0-9a-f]{4}-8c72-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

TEST(TokenIdTest, MatchesTheLayoutFieldByField) {
  // Reference values from an independent implementation (Python's hashlib and uuid):
  //   fingerprint = sha256(b"crtoken-owner\0crtoken")[:4]                  -> 69ae24dc
  //   key hash    = int(sha256(b"crtoken-key\0crtoken\0<registry>\0ci-push")[:8]) >> 2
  //                                                                        -> 0x334cd24a7271b0aa
  // A change here changes the id of every token crtoken ever creates.
  EXPECT_EQ(OwnerFingerprint("crtoken"), 0x69ae24dcu);
  EXPECT_EQ(FingerprintText(OwnerFingerprint("crtoken")), "69ae24dc");
  EXPECT_EQ(FingerprintText(0x0000ab01u), "0000ab01");
  const std::string id = OwnedTokenId("crtoken", kRegistry, "ci-push", 1);
  EXPECT_EQ(id, "69ae24dc-0001-8c72-b34c-d24a7271b0aa");
  EXPECT_EQ(id.substr(0, 8), "69ae24dc");  // owner fingerprint
  EXPECT_EQ(id.substr(9, 4), "0001");      // generation
  EXPECT_EQ(id[14], '8');                  // version 8
  EXPECT_EQ(id.substr(15, 3), "c72");      // tag
  // Variant bits 10, then the 62-bit key hash 0x334cd24a7271b0aa: 0x8000... | hash.
  EXPECT_EQ(id.substr(19, 4) + id.substr(24), "b34cd24a7271b0aa");
  EXPECT_EQ(OwnedTokenId("team-b", kRegistry, "ci-push", 1),
            "55f6ce41-0001-8c72-bbd9-74c7be9ae2c9");
}

TEST(TokenIdTest, GenerationsZeroOneAndTheLastFitTheirSixteenBits) {
  EXPECT_EQ(OwnedTokenId("crtoken", kRegistry, "ci-push", 0),
            "69ae24dc-0000-8c72-b34c-d24a7271b0aa");
  EXPECT_EQ(OwnedTokenId("crtoken", kRegistry, "ci-push", 65535),
            "69ae24dc-ffff-8c72-b34c-d24a7271b0aa");
  for (int generation : {0, 1, 2, 255, 256, 65534, 65535}) {
    const std::string id =
        OwnedTokenId("crtoken", kRegistry, "ci-push", static_cast<uint16_t>(generation));
    const TokenIdInfo info = ClassifyTokenId("crtoken", kRegistry, "ci-push", id);
    EXPECT_EQ(info.cls, TokenIdClass::kMine) << id;
    EXPECT_EQ(info.generation, generation) << id;
  }
  // The generation after 65535 is 0 again: the same id as generation 0.
  const uint16_t last = 65535;
  EXPECT_EQ(OwnedTokenId("crtoken", kRegistry, "ci-push", static_cast<uint16_t>(last + 1)),
            OwnedTokenId("crtoken", kRegistry, "ci-push", 0));
}

TEST(TokenIdTest, RoundTripsAndIsCanonicalForEveryInput) {
  std::set<std::string> ids;
  const std::vector<std::string> owners = {"crtoken", "team-b", "a", std::string(63, 'z')};
  const std::vector<std::string> registries = {kRegistry, kOther};
  const std::vector<std::string> names = {"ci-push", "ci-pull", "a1", "ci-push-1", "X"};
  for (const std::string& owner : owners) {
    for (const std::string& registry : registries) {
      for (const std::string& name : names) {
        for (uint16_t generation : {0, 7, 65535}) {
          const std::string id = OwnedTokenId(owner, registry, name, generation);
          SCOPED_TRACE(owner + " " + registry + " " + name + " " + id);
          EXPECT_TRUE(std::regex_match(id, kApiUuid));
          EXPECT_TRUE(std::regex_match(id, kCrtokenId));
          EXPECT_TRUE(IsUuid(id));
          EXPECT_EQ(id, OwnedTokenId(owner, registry, name, generation));
          const TokenIdInfo info = ClassifyTokenId(owner, registry, name, id);
          EXPECT_EQ(info.cls, TokenIdClass::kMine);
          EXPECT_EQ(info.generation, generation);
          EXPECT_EQ(info.fingerprint, OwnerFingerprint(owner));
          ids.insert(id);
        }
      }
    }
  }
  EXPECT_EQ(ids.size(), 4u * 2 * 5 * 3);  // no two inputs share an id
}

TEST(TokenIdTest, AnIdReadBackInUppercaseIsStillRecognised) {
  std::string id = OwnedTokenId("crtoken", kRegistry, "ci-push", 3);
  for (char& c : id) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const TokenIdInfo info = ClassifyTokenId("crtoken", kRegistry, "ci-push", id);
  EXPECT_EQ(info.cls, TokenIdClass::kMine);
  EXPECT_EQ(info.generation, 3);
}

TEST(TokenIdTest, OwnersAreKeptApart) {
  const std::string theirs = OwnedTokenId("team-b", kRegistry, "ci-push", 4);
  const TokenIdInfo info = ClassifyTokenId("crtoken", kRegistry, "ci-push", theirs);
  EXPECT_EQ(info.cls, TokenIdClass::kOtherOwner);
  EXPECT_EQ(info.fingerprint, OwnerFingerprint("team-b"));
  EXPECT_EQ(FingerprintText(info.fingerprint), theirs.substr(0, 8));
  // And the other way round.
  EXPECT_EQ(ClassifyTokenId("team-b", kRegistry, "ci-push",
                            OwnedTokenId("crtoken", kRegistry, "ci-push", 4))
                .cls,
            TokenIdClass::kOtherOwner);
  EXPECT_NE(OwnerFingerprint("crtoken"), OwnerFingerprint("crtoken-2"));
}

TEST(TokenIdTest, ThisOwnersIdOfAnotherKeyIsForgedOrCollided) {
  // This owner's id of another name, or of the same name in another registry, found under a name:
  // what a forged id or a hash collision looks like.
  for (const auto& [registry, name] :
       {std::pair<std::string, std::string>{kRegistry, "ci-pull"}, {kOther, "ci-push"}}) {
    const std::string id = OwnedTokenId("crtoken", registry, name, 2);
    const TokenIdInfo info = ClassifyTokenId("crtoken", kRegistry, "ci-push", id);
    EXPECT_EQ(info.cls, TokenIdClass::kCollided) << registry << " " << name;
    EXPECT_EQ(info.fingerprint, OwnerFingerprint("crtoken"));
  }
  // Hand-made: this owner's fingerprint, the tag, a key hash of nothing.
  const std::string forged = "69ae24dc-0000-8c72-8000-000000000000";
  EXPECT_EQ(ClassifyTokenId("crtoken", kRegistry, "ci-push", forged).cls, TokenIdClass::kCollided);
}

TEST(TokenIdTest, IdsThatAreNotCrtokensAreRejected) {
  for (const std::string id : {
           // Random (version 4) UUIDs, as the API and other tools make them.
           "3fa85f64-5717-4562-b3fc-2c963f66afa6",
           "f47ac10b-58cc-4372-a567-0e02b2c3d479",
           // Ids of earlier versions of crtoken (version 5, name-based).
           "776d3918-3cd4-58ef-a2eb-58001cd2241b",
           "c47a215b-1735-595a-963b-71cd0311c76a",
           // Version 8 with another tag; the tag with another version; another variant.
           "69ae24dc-0001-8c73-b34c-d24a7271b0aa",
           "69ae24dc-0001-4c72-b34c-d24a7271b0aa",
           "69ae24dc-0001-8c72-734c-d24a7271b0aa",
           "69ae24dc-0001-8c72-f34c-d24a7271b0aa",
           // Not UUIDs at all.
           "",
           "id-ci-push",
           "69ae24dc00018c72b34cd24a7271b0aa",
           "69ae24dc-0001-8c72-b34c-d24a7271b0ag",
       }) {
    const TokenIdInfo info = ClassifyTokenId("crtoken", kRegistry, "ci-push", id);
    EXPECT_EQ(info.cls, TokenIdClass::kNotCrtoken) << id;
  }
  // An id that differs from a real one in the variant bits only is not crtoken's either.
  std::string id = OwnedTokenId("crtoken", kRegistry, "ci-push", 1);
  id[19] = '3';
  EXPECT_EQ(ClassifyTokenId("crtoken", kRegistry, "ci-push", id).cls, TokenIdClass::kNotCrtoken);
}

TEST(TokenIdTest, ClassNamesForMessages) {
  EXPECT_STREQ(TokenIdClassName(TokenIdClass::kMine), "mine");
  EXPECT_STREQ(TokenIdClassName(TokenIdClass::kOtherOwner), "another owner's");
  EXPECT_STREQ(TokenIdClassName(TokenIdClass::kCollided), "forged or collided");
  EXPECT_STREQ(TokenIdClassName(TokenIdClass::kNotCrtoken), "not crtoken's");
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
