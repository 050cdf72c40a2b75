// The pure rules of http_failure.h (why a connection failed, what a redirect pointed to) and how
// RetryPolicy treats failures that waiting does not fix.
#include "daemon/common/http_failure.h"

#include <gtest/gtest.h>

#include <cerrno>

#include "daemon/registry/retry_policy.h"

namespace crtoken {
namespace {

using Cause = ConnectionFailure::Cause;

// OpenSSL 3 packs (library << 23) | reason: what cpprest passes on for a failed handshake.
constexpr int kSslVerifyFailed = (20 << 23) | 134;   // SSL, certificate verify failed
constexpr int kSslWrongVersion = (20 << 23) | 267;   // SSL, wrong version number
constexpr int kSslUnexpectedEof = (20 << 23) | 294;  // SSL, unexpected eof while reading

TEST(HttpFailureTest, ClassifiesWhatCpprestReports) {
  // A refused connect comes as EHOSTUNREACH with cpprest's own words.
  ConnectionFailure f = ClassifyConnectionFailure(
      EHOSTUNREACH, "Failed to connect to any resolved endpoint", "127.0.0.1:9");
  EXPECT_EQ(f.cause, Cause::kRefused);
  EXPECT_TRUE(f.permanent);
  EXPECT_EQ(f.reason, "connection refused by 127.0.0.1:9 (or host unreachable)");

  // Resolver failures keep their netdb code (1, HOST_NOT_FOUND); the message tells them apart.
  f = ClassifyConnectionFailure(1, "Error resolving address", "api.example.invalid:443");
  EXPECT_EQ(f.cause, Cause::kDns);
  EXPECT_TRUE(f.permanent);
  EXPECT_EQ(f.reason.rfind("cannot resolve host name api.example.invalid (", 0), 0u) << f.reason;

  f = ClassifyConnectionFailure(kSslVerifyFailed, "Error in SSL handshake", "api.example:443",
                                "self-signed certificate");
  EXPECT_EQ(f.cause, Cause::kTlsUntrusted);
  EXPECT_TRUE(f.permanent);
  EXPECT_EQ(
      f.reason.rfind("TLS certificate of api.example:443 not trusted: self-signed certificate", 0),
      0u)
      << f.reason;
  // Without the detail, OpenSSL's reason.
  f = ClassifyConnectionFailure(kSslVerifyFailed, "Error in SSL handshake", "api.example:443");
  EXPECT_NE(f.reason.find("not trusted: certificate verify failed"), std::string::npos) << f.reason;

  f = ClassifyConnectionFailure(kSslWrongVersion, "Error in SSL handshake", "api.example:443");
  EXPECT_EQ(f.cause, Cause::kTls);
  EXPECT_TRUE(f.permanent);
  EXPECT_NE(f.reason.find("the server does not speak TLS (is it an http:// server?)"),
            std::string::npos)
      << f.reason;

  // A handshake cut short may be a restart: worth another try.
  f = ClassifyConnectionFailure(kSslUnexpectedEof, "Error in SSL handshake", "api.example:443");
  EXPECT_EQ(f.cause, Cause::kTls);
  EXPECT_FALSE(f.permanent);

  f = ClassifyConnectionFailure(ETIMEDOUT, "Failed to read HTTP status line", "api.example:443");
  EXPECT_EQ(f.cause, Cause::kTimeout);
  EXPECT_FALSE(f.permanent);
  EXPECT_EQ(f.reason.rfind("timeout", 0), 0u);

  f = ClassifyConnectionFailure(ECONNRESET, "Failed to read HTTP status line", "api.example:443");
  EXPECT_EQ(f.cause, Cause::kOther);
  EXPECT_FALSE(f.permanent);
  EXPECT_EQ(f.reason, "connection error with api.example:443: Failed to read HTTP status line");
}

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

TEST(HttpFailureTest, PermanentFailuresAreFinalOnlyWhenAskedTo) {
  AttemptOutcome refused;
  refused.failure = AttemptOutcome::Failure::kConnection;
  refused.permanent = true;
  AttemptOutcome reset;
  reset.failure = AttemptOutcome::Failure::kConnection;
  const auto now = std::chrono::system_clock::now();

  RetryOptions one_shot;
  one_shot.retry_permanent_failures = false;
  RetryPolicy fail_fast(one_shot, 1);
  RetryDecision d =
      fail_fast.Decide(HttpMethod::kGet, refused, 1, std::chrono::milliseconds(0), now);
  EXPECT_FALSE(d.retry);
  EXPECT_NE(d.reason.find("not retried"), std::string::npos) << d.reason;
  // A transient failure is still retried by a one-shot command.
  EXPECT_TRUE(
      fail_fast.Decide(HttpMethod::kGet, reset, 1, std::chrono::milliseconds(0), now).retry);

  RetryPolicy patient(RetryOptions{}, 1);  // the daemon
  EXPECT_TRUE(
      patient.Decide(HttpMethod::kGet, refused, 1, std::chrono::milliseconds(0), now).retry);
}

}  // namespace
}  // namespace crtoken
