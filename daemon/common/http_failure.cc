#include "daemon/common/http_failure.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>

#include "daemon/common/json_text.h"

namespace crtoken {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

ConnectionFailure ClassifyConnectionFailure(int code, std::string_view what,
                                            const std::string& endpoint,
                                            const std::string& tls_detail) {
  using Cause = ConnectionFailure::Cause;
  ConnectionFailure f;
  const std::string text = PrintableText(what, 200);
  // cpprest's asio client: resolver failures keep their (netdb) code and say so in the message.
  if (StartsWith(what, "Error resolving address") ||
      StartsWith(what, "Failed to resolve address")) {
    f.cause = Cause::kDns;
    f.permanent = true;
    const size_t colon = endpoint.rfind(':');
    f.reason = "cannot resolve host name " + endpoint.substr(0, colon) + " (" + text + ")";
    return f;
  }
  // A refused connect is reported as EHOSTUNREACH ("Failed to connect to any resolved
  // endpoint"), so the two cannot be told apart; neither is fixed by trying again at once.
  if (code == ECONNREFUSED || code == EHOSTUNREACH || code == ENETUNREACH) {
    f.cause = Cause::kRefused;
    f.permanent = true;
    f.reason = code == ENETUNREACH ? "network unreachable for " + endpoint
                                   : "connection refused by " + endpoint + " (or host unreachable)";
    return f;
  }
  if (code == ETIMEDOUT) {
    f.cause = Cause::kTimeout;
    f.reason = "timeout: no answer from " + endpoint;
    return f;
  }
  // A TLS handshake failure carries OpenSSL's packed error code.
  const unsigned long ssl_code = static_cast<unsigned int>(code);
  if (StartsWith(what, "Error in SSL handshake") || ERR_GET_LIB(ssl_code) == ERR_LIB_SSL) {
    const int reason = ERR_GET_LIB(ssl_code) == ERR_LIB_SSL ? ERR_GET_REASON(ssl_code) : 0;
    const char* openssl_text = reason != 0 ? ERR_reason_error_string(ssl_code) : nullptr;
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      f.cause = Cause::kTlsUntrusted;
      f.permanent = true;
      f.reason = "TLS certificate of " + endpoint + " not trusted: " +
                 (tls_detail.empty() ? std::string("certificate verify failed")
                                     : PrintableText(tls_detail, 200)) +
                 " (--ca-file adds a private CA)";
      return f;
    }
    f.cause = Cause::kTls;
    if (reason == SSL_R_WRONG_VERSION_NUMBER) {
      f.permanent = true;  // the other end does not speak TLS
      f.reason = "TLS handshake with " + endpoint +
                 " failed: the server does not speak TLS (is it an http:// server?)";
      return f;
    }
    f.reason = "TLS handshake with " + endpoint + " failed: " +
               (openssl_text != nullptr ? std::string(openssl_text)
                : reason != 0           ? "OpenSSL reason " + std::to_string(reason)
                                        : text);
    return f;
  }
  f.cause = Cause::kOther;
  f.reason = "connection error with " + endpoint + ": " + text;
  return f;
}

std::string OriginOf(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0) return "";
  const size_t authority = scheme_end + 3;
  size_t end = url.find_first_of("/?#", authority);
  if (end == std::string_view::npos) end = url.size();
  std::string_view host = url.substr(authority, end - authority);
  const size_t at = host.rfind('@');  // userinfo is never repeated
  if (at != std::string_view::npos) host = host.substr(at + 1);
  if (host.empty()) return "";
  return std::string(url.substr(0, scheme_end)) + "://" + std::string(host);
}

ErrorKind ErrorKindForStatus(int status) {
  switch (status) {
    case 400:
    case 422:
      return ErrorKind::kInvalid;
    case 401:
    case 403:
      return ErrorKind::kUnauthorized;
    case 404:
      return ErrorKind::kNotFound;
    case 409:
      return ErrorKind::kConflict;
    case 429:
      return ErrorKind::kRateLimited;
    default:
      break;
  }
  if (status >= 300 && status < 500) return ErrorKind::kInvalid;
  return ErrorKind::kUnavailable;
}

Error HttpStatusError(int status, const std::optional<std::string>& location,
                      const std::string& where, const std::string& detail) {
  std::string what;
  if (status >= 300 && status < 400) {
    what = DescribeRedirect(status, location);
  } else {
    what = "HTTP " + std::to_string(status);
    if (!detail.empty()) what += ": " + detail;
  }
  return Error{ErrorKindForStatus(status), where + ": " + what};
}

std::string DescribeRedirect(int status, const std::optional<std::string>& location) {
  std::string out = "HTTP " + std::to_string(status) + " redirect";
  if (!location || location->empty()) {
    out += " without a Location";
  } else {
    const std::string origin = OriginOf(*location);
    out += origin.empty() ? " to a relative location on the same host"
                          : " to " + PrintableText(origin, 200);
  }
  return out + ": not followed (crtoken follows no redirects; check the API URL)";
}

}  // namespace crtoken
