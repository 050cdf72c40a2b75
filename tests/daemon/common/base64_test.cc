// The one base64 codec of crtoken (daemon/base64.h): RFC 4648 vectors, every byte, and what is
// refused.
#include "daemon/common/base64.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace crtoken {
namespace {

TEST(Base64Test, MatchesRfc4648Vectors) {
  // RFC 4648 section 10.
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [raw, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(raw), encoded) << raw;
    ASSERT_TRUE(Base64Decode(encoded).has_value()) << encoded;
    EXPECT_EQ(*Base64Decode(encoded), raw) << encoded;
  }
  EXPECT_EQ(Base64Encode(std::string("\xff\xfe\x00", 3)), "//4A");  // the URL-unsafe letters
  EXPECT_EQ(Base64Decode("//4A"), std::string("\xff\xfe\x00", 3));
}

TEST(Base64Test, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
  for (size_t n = 0; n <= all.size(); n += 37) {
    const std::string raw = all.substr(0, n);
    EXPECT_EQ(Base64Decode(Base64Encode(raw)), raw) << n;
  }
}

TEST(Base64Test, RefusesWhatIsNotPaddedStandardBase64) {
  for (const char* bad :
       {"Zg", "Zg=", "Z===", "Zg=a", "Zm9v\n", "Zm-v", "Zm_v", "Z=g=", "Zg==Zg=="}) {
    EXPECT_FALSE(Base64Decode(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace crtoken
