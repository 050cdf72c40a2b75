#include "daemon/common/cpprest_http.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <memory>

namespace crtoken {
namespace {

// The most read at once. A body that announces its length is read in chunks of that length
// (at most this), so the common small answer costs one small buffer, not 64 KiB to allocate and
// clear per request.
constexpr size_t kChunkBytes = 64 * 1024;

struct BodyState {
  Concurrency::streams::streambuf<uint8_t> source;
  std::unique_ptr<uint8_t[]> chunk;  // not cleared: every byte read is written first
  size_t chunk_bytes = kChunkBytes;
  size_t max_bytes = 0;
  pplx::cancellation_token_source abort;
  CappedBody out;
};

std::string TooLarge(const std::string& what, size_t max_bytes) {
  return "response body " + what + " exceeds the limit of " + std::to_string(max_bytes) +
         " bytes: not read";
}

// One chunk, then the next, as continuations: no pool thread ever waits for the network.
pplx::task<void> ReadChunks(std::shared_ptr<BodyState> s) {
  // Continuations take no cancellation token: cancelling `abort` must close the connection, not
  // turn the answer just read into a "cancelled" task.
  const auto none = pplx::cancellation_token::none();
  return s->source.getn(s->chunk.get(), s->chunk_bytes)
      .then(
          [s](size_t n) {
            if (n == 0) return pplx::task_from_result();
            if (s->out.body.size() + n > s->max_bytes) {
              s->out.error =
                  TooLarge("of more than " + std::to_string(s->out.body.size() + n) + " bytes",
                           s->max_bytes);
              s->out.body.clear();
              s->abort.cancel();  // closes the connection: the rest is never read
              return pplx::task_from_result();
            }
            s->out.body.append(reinterpret_cast<const char*>(s->chunk.get()), n);
            return ReadChunks(s);
          },
          none);
}

}  // namespace

void TlsVerifyNotes::Install(boost::asio::ssl::context& ctx) {
  SSL_CTX_set_cert_verify_callback(ctx.native_handle(), &TlsVerifyNotes::Verify, this);
}

std::string TlsVerifyNotes::Last() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_;
}

int TlsVerifyNotes::Verify(X509_STORE_CTX* store, void* self) {
  const int ok = X509_verify_cert(store);  // what OpenSSL does without this callback
  if (ok <= 0) {
    const int error = X509_STORE_CTX_get_error(store);
    std::string why = error == X509_V_OK || error == X509_V_ERR_UNSPECIFIED
                          ? "the certificate does not name this host"
                          : X509_verify_cert_error_string(error);
    auto* notes = static_cast<TlsVerifyNotes*>(self);
    std::lock_guard<std::mutex> lock(notes->mu_);
    notes->last_ = std::move(why);
  }
  return ok;
}

void ForbidRedirects(web::http::client::http_client_config& config) {
  config.set_max_redirects(0);
  config.set_https_to_http_redirects(false);
}

std::optional<std::string> HeaderValue(const web::http::http_response& response, const char* name) {
  auto it = response.headers().find(name);
  if (it == response.headers().end()) return std::nullopt;
  return it->second;
}

pplx::task<CappedBody> ReadBodyCapped(web::http::http_response response, size_t max_bytes,
                                      pplx::cancellation_token_source abort) {
  auto state = std::make_shared<BodyState>();
  if (auto length = HeaderValue(response, "Content-Length")) {
    // Digits only; anything else is left to the reading below, which is capped anyway.
    const std::string& v = *length;
    const bool digits =
        !v.empty() && v.find_first_not_of("0123456789") == std::string::npos && v.size() <= 19;
    if (digits && std::stoull(v) > max_bytes) {
      abort.cancel();
      CappedBody out;
      out.error = TooLarge("of " + v + " bytes (Content-Length)", max_bytes);
      return pplx::task_from_result(std::move(out));
    }
    if (digits) {
      const size_t announced = std::stoull(v);
      state->chunk_bytes = std::clamp<size_t>(announced, 1, kChunkBytes);
      state->out.body.reserve(announced);
    }
  }
  state->chunk.reset(new uint8_t[state->chunk_bytes]);
  state->source = response.body().streambuf();
  state->max_bytes = max_bytes;
  state->abort = abort;
  return ReadChunks(state).then([state] { return std::move(state->out); },
                                pplx::cancellation_token::none());
}

}  // namespace crtoken
