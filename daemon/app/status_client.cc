#include "daemon/app/status_client.h"

#include <cpprest/http_client.h>

#include "daemon/common/cpprest_http.h"
#include "daemon/common/cpprest_pool.h"
#include "daemon/common/http_failure.h"
#include "daemon/common/json_text.h"

namespace crtoken {

namespace http = web::http;

Result<std::string> FetchDaemonStatus(const std::string& base_url,
                                      std::chrono::milliseconds timeout) {
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0) {
    return Error{ErrorKind::kInvalid,
                 "--from '" + PrintableText(base_url, 200) +
                     "': want the daemon's health address as http://HOST:PORT"};
  }
  const std::string url = base + "/status";
  const std::string where = "GET " + PrintableText(url, 200);
  SizeCpprestPool();
  try {
    http::client::http_client_config cfg;
    cfg.set_timeout(timeout);
    ForbidRedirects(cfg);
    http::client::http_client client(web::uri(base), cfg);
    pplx::cancellation_token_source cts;
    http::http_request req(http::methods::GET);
    req.set_request_uri("/status");
    http::http_response resp = client.request(req, cts.get_token()).get();
    CappedBody body = ReadBodyCapped(resp, kMaxStatusBytes, cts).get();
    if (body.error) return Error{ErrorKind::kUnavailable, where + ": " + *body.error};
    if (resp.status_code() != 200) {
      return HttpStatusError(resp.status_code(), HeaderValue(resp, "Location"), where,
                             PrintableText(body.body, 200));
    }
    return std::move(body.body);
  } catch (const http::http_exception& e) {
    const std::string endpoint =
        web::uri(base).host() + ":" + std::to_string(web::uri(base).port());
    return Error{ErrorKind::kUnavailable,
                 where + ": " +
                     ClassifyConnectionFailure(e.error_code().value(), e.what(), endpoint).reason};
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInvalid, where + ": " + PrintableText(e.what(), 200)};
  }
}

}  // namespace crtoken
