// Why an HTTP exchange with a server failed, in words a person can act on, and whether waiting
// could fix it. Pure (no cpprest, no I/O): the cpprest clients pass in what their exception
// carried, so the rules are unit-tested directly.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "reconciler/error.h"

namespace crtoken {

// The largest response body a client reads (cpprest_http.h). A page of 100 tokens is ~40 KB, a
// Secret a few KB: anything near this is not an answer but a flood.
inline constexpr size_t kMaxResponseBodyBytes = 4 * 1024 * 1024;

struct ConnectionFailure {
  enum class Cause {
    kRefused,       // nothing listens there (or the host is unreachable)
    kDns,           // the host name does not resolve
    kTlsUntrusted,  // the server's certificate failed verification
    kTls,           // another TLS handshake failure
    kTimeout,       // no answer in time
    kOther,         // reset, closed, garbled: a retry may well succeed
  };
  Cause cause = Cause::kOther;
  // True when no retry within seconds or minutes will fix it: the URL, the network setup or the
  // trust store has to change (refused, unreachable, unresolvable, certificate not trusted, not a
  // TLS server). A one-shot command gives up on these at once.
  bool permanent = false;
  // One line saying why, naming the server: "connection refused by 127.0.0.1:9 (or host
  // unreachable)", "TLS certificate of api.example.com:443 not trusted: self-signed certificate".
  std::string reason;
};

// Classifies a cpprest http_exception: `code` is its error_code().value() (cpprest passes on the
// asio, resolver and OpenSSL values), `what` its message; `endpoint` is the server as
// "host:port"; `tls_detail` is why the certificate was rejected when that is known ("" if not).
ConnectionFailure ClassifyConnectionFailure(int code, std::string_view what,
                                            const std::string& endpoint,
                                            const std::string& tls_detail = "");

// The error text for a redirect (3xx): it names where the server pointed to (the Location's
// scheme, host and port; never its path or query, which may carry tokens) and that it was not
// followed. crtoken follows no redirects: a credential must never reach another origin.
std::string DescribeRedirect(int status, const std::optional<std::string>& location);

// The one mapping of an HTTP status to an error, for every client of crtoken (the registry API and
// Kubernetes), used for any answer that is not the success the caller expected:
//   400, 422 and any other 4xx not below -> kInvalid (the request must change)
//   401, 403 -> kUnauthorized; 404 -> kNotFound; 409 -> kConflict; 429 -> kRateLimited
//   3xx -> kInvalid: redirects are never followed, so the URL must change; waiting will not help
//   5xx, and anything else (1xx, an unexpected 2xx: a server not behaving) -> kUnavailable
ErrorKind ErrorKindForStatus(int status);

// The Error for such an answer: "WHERE: HTTP 404: DETAIL" (": DETAIL" only when `detail` is not
// empty), or for a 3xx "WHERE: " + DescribeRedirect(status, location). `where` says what was asked
// ("GET /registries"); `detail` is what the server's body said, already made printable.
Error HttpStatusError(int status, const std::optional<std::string>& location,
                      const std::string& where, const std::string& detail);

// "scheme://host[:port]" of a URL; "" when `url` is not absolute. For messages.
std::string OriginOf(std::string_view url);

}  // namespace crtoken
