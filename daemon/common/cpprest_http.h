// What the two cpprest clients (the registry API in http_registry_api.cc, Kubernetes in
// daemon/kube/kube_client.cc) share about not trusting a server blindly. Only those two files
// include this header: it exposes cpprest types.
//
// - No redirect is ever followed (cpprest follows up to 10 by default, to any host, with every
//   header, Authorization included): a 3xx comes back as the answer, and the caller reports it
//   (DescribeRedirect in http_failure.h).
// - A response body is read in chunks up to a cap, never whole: a Content-Length above the cap is
//   refused before a byte of the body is read, and a body that grows past it (an endless chunked
//   answer) is abandoned there; both close the connection, so the rest is never read.
// - Why a server certificate was rejected is recorded for the error message (cpprest itself says
//   only "certificate verify failed").
#pragma once

#include <cpprest/http_client.h>
#include <openssl/x509.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "daemon/common/http_failure.h"  // kMaxResponseBodyBytes

namespace crtoken {

// Why the last server certificate was rejected, as OpenSSL put it ("self-signed certificate",
// "certificate has expired"). Thread-safe.
class TlsVerifyNotes {
 public:
  // Makes `ctx` verify through this object (the checks themselves are OpenSSL's, unchanged). The
  // object must outlive every connection made with `ctx`: keep it in a shared_ptr captured by the
  // client config's ssl_context_callback.
  void Install(boost::asio::ssl::context& ctx);
  std::string Last() const;

 private:
  static int Verify(X509_STORE_CTX* store, void* self);
  mutable std::mutex mu_;
  std::string last_;
};

// `config` made to follow no redirects. Every client of crtoken is configured through this.
void ForbidRedirects(web::http::client::http_client_config& config);

struct CappedBody {
  std::string body;
  // Set when the body was not read: it is larger than the cap (Content-Length or bytes read).
  std::optional<std::string> error;
};

// Reads `response`'s body, at most `max_bytes` of it. Beyond the cap (by Content-Length up front,
// or while reading), cancels `abort` (which must be the request's: cancelling closes its
// connection) and returns the error instead of the body. Never blocks a cpprest pool thread.
pplx::task<CappedBody> ReadBodyCapped(web::http::http_response response, size_t max_bytes,
                                      pplx::cancellation_token_source abort);

// The value of a response header, if present.
std::optional<std::string> HeaderValue(const web::http::http_response& response, const char* name);

}  // namespace crtoken
