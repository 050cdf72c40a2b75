// The pure rules of http_failure.h: what a redirect pointed to, said without its secrets.
#include "daemon/http_failure.h"

#include <gtest/gtest.h>

namespace crtoken {
namespace {

TEST(HttpFailureTest, RedirectsNameOnlyTheOrigin) {
  EXPECT_EQ(DescribeRedirect(302, "http://127.0.0.2:8080/containerregistries/x?token=SECRET"),
            "HTTP 302 redirect to http://127.0.0.2:8080: not followed (crtoken follows no "
            "redirects; check the API URL)");
  EXPECT_EQ(DescribeRedirect(301, "https://user:pw@evil.example/x").find("pw"), std::string::npos);
  EXPECT_NE(DescribeRedirect(301, "https://user:pw@evil.example/x").find("https://evil.example"),
            std::string::npos);
  EXPECT_NE(DescribeRedirect(307, std::nullopt).find("HTTP 307 redirect without a Location"),
            std::string::npos);
  EXPECT_NE(DescribeRedirect(308, "/elsewhere").find("relative location"), std::string::npos);
  // A Location of escapes is printed escaped.
  const std::string evil = DescribeRedirect(302, "http://\x1b[2Jevil\n/x");
  EXPECT_EQ(evil.find('\x1b'), std::string::npos) << evil;
  EXPECT_EQ(evil.find('\n'), std::string::npos) << evil;
  EXPECT_EQ(OriginOf("not a url"), "");
  EXPECT_EQ(OriginOf("https://h:1"), "https://h:1");
}

}  // namespace
}  // namespace crtoken
