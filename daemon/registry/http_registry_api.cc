// The one file that includes cpprest: every cpprest (and boost/asio) exception is caught here.
#include "daemon/registry/http_registry_api.h"

#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "daemon/common/cpprest_http.h"
#include "daemon/common/cpprest_pool.h"
#include "daemon/common/http_failure.h"
#include "daemon/common/json_text.h"
#include "daemon/registry/registry_json.h"
#include "daemon/registry/token_bucket.h"
#include "reconciler/token_id.h"

namespace crtoken {
namespace {

namespace http = web::http;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr int kPageLimit = 100;
// A list whose pages disagree is read again, whole, up to this many times in all.
constexpr int kListReadings = 3;
// More tokens than this in one registry is not believed (the API's limits are far lower).
constexpr int64_t kMaxListedTokens = 100000;
// Pages a token list may take beyond total / page size (the last, partial page and a spare).
constexpr int64_t kPageSlack = 2;
// A registry list that has not ended after this many pages is not believed.
constexpr int kMaxRegistryPages = 100;

struct Response {
  int status = 0;
  std::string body;
  std::optional<std::string> location;    // the Location header, for a 3xx
  std::optional<std::string> body_error;  // the body was not read: larger than the cap
};

// What one exchange yielded, on cpprest's side of the wait.
struct Answer {
  Response response;
  std::optional<std::string> retry_after;
};

http::method ToCpprest(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet:
      return http::methods::GET;
    case HttpMethod::kPost:
      return http::methods::POST;
    case HttpMethod::kPut:
      return http::methods::PUT;
    case HttpMethod::kPatch:
      return http::methods::PATCH;
    case HttpMethod::kDelete:
      return http::methods::DEL;
  }
  return http::methods::GET;
}

std::string Encode(const std::string& s) {
  return web::uri::encode_data_string(s);  // percent-encodes everything but unreserved characters
}

// Checks a PEM bundle before the first request, so a bad --ca-file is a startup error rather than
// a TLS failure on every call.
Status CheckCaFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return Error{ErrorKind::kInvalid,
                 "--ca-file " + path + ": cannot read: " + std::strerror(errno)};
  }
  int certs = 0;
  while (X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr)) {
    ++certs;
    X509_free(cert);
  }
  std::fclose(f);
  if (certs == 0) {
    return Error{ErrorKind::kInvalid, "--ca-file " + path + ": no PEM certificate in the file"};
  }
  return Status::Ok();
}

// --- paged lists: one loop (Impl::ReadList), two paging schemes --------------------------------
//
// A scheme tells the loop where each page is and judges each page; the loop sends, decodes,
// merges the items by id and reads the list again while its pages disagree. A scheme has:
//   Items, kNoun                 the list's value and what its items are called in messages;
//   Decode(body)                 the registry JSON codec's page decoder;
//   PagePath()                   the path of the next page;
//   Where(page)                  how messages name the page;
//   Open(page_value, page, path) before the page's items are merged: its own paging fields (an
//                                Error: the list cannot be believed at all);
//   Close(page_value, page, n)   after, with n distinct items listed so far: more, the end, or a
//                                disagreement; moves on to the next page.

// The judgement on one page.
struct PageVerdict {
  enum class Kind { kMore, kEnd, kDisagree };
  Kind kind = Kind::kMore;
  std::string why;  // kDisagree: how the pages disagree
  static PageVerdict More() { return {}; }
  static PageVerdict End() { return {Kind::kEnd, ""}; }
  static PageVerdict Disagree(std::string why) { return {Kind::kDisagree, std::move(why)}; }
};

// offset/limit with a total (a registry's tokens). The pages must agree: the same total on each,
// each echoing the offset asked for, in the end exactly `total` distinct items, and no more pages
// than the total takes at the server's page size (the first page's). The list ends at the page
// that reaches the total (or an empty page), so a list of exactly one full page costs one
// request.
class OffsetPaging {
 public:
  using Items = std::vector<ObservedToken>;
  static constexpr const char* kNoun = "tokens";
  static Result<TokenPage> Decode(const std::string& body) { return DecodeTokenPage(body); }

  explicit OffsetPaging(std::string base_path) : base_path_(std::move(base_path)) {}
  std::string PagePath() const {
    return base_path_ + "?offset=" + std::to_string(offset_) +
           "&limit=" + std::to_string(kPageLimit);
  }
  std::string Where(int64_t) const { return "the page at offset " + std::to_string(offset_); }

  Result<PageVerdict> Open(const TokenPage& p, int64_t page, const std::string& path) {
    if (page == 1) {
      total_ = p.total;
      if (total_ > kMaxListedTokens) {
        return Error{ErrorKind::kUnavailable,
                     "GET " + path + ": the API reports " + std::to_string(total_) +
                         " tokens, more than crtoken believes a registry holds (" +
                         std::to_string(kMaxListedTokens) + ")"};
      }
      // The server's page size is the first page's (it may give fewer than asked for).
      const int64_t size = std::max<int64_t>(1, p.count);
      max_pages_ = (total_ + size - 1) / size + kPageSlack;
    } else if (p.total != total_) {
      return PageVerdict::Disagree(Where(page) + " says total " + std::to_string(p.total) +
                                   ", the first said " + std::to_string(total_) +
                                   " (the list changed while it was read)");
    }
    if (p.offset >= 0 && p.offset != offset_) {
      return PageVerdict::Disagree(Where(page) + " came back as offset " +
                                   std::to_string(p.offset));
    }
    return PageVerdict::More();
  }

  PageVerdict Close(const TokenPage& p, int64_t page, size_t distinct) {
    const auto listed = static_cast<int64_t>(distinct);
    if (listed > total_) {
      return PageVerdict::Disagree(std::to_string(listed) +
                                   " distinct tokens listed, more than the total " +
                                   std::to_string(total_));
    }
    if (p.count == 0 || offset_ + p.count >= total_) {
      if (listed < total_) {
        return PageVerdict::Disagree("only " + std::to_string(listed) +
                                     " distinct tokens listed, the total says " +
                                     std::to_string(total_));
      }
      return PageVerdict::End();
    }
    if (page >= max_pages_) {
      return PageVerdict::Disagree("paging goes on past " + std::to_string(page) +
                                   " pages for a total of " + std::to_string(total_));
    }
    offset_ += p.count;
    return PageVerdict::More();
  }

 private:
  std::string base_path_;  // without a query
  int64_t offset_ = 0;
  int64_t total_ = -1;
  int64_t max_pages_ = 1;
};

// An opaque cursor, pagination.token (the registries). The list ends at the page without a
// cursor (empty or absent), so a list of exactly one full page costs one request. The pages must
// agree: each cursor new, at most kMaxRegistryPages of them.
class CursorPaging {
 public:
  using Items = std::vector<RegistryInfo>;
  static constexpr const char* kNoun = "registries";
  static Result<RegistryPage> Decode(const std::string& body) { return DecodeRegistryPage(body); }

  // `first_path` carries a query (at least the limit); the cursor is appended to it.
  explicit CursorPaging(std::string first_path) : first_path_(std::move(first_path)) {}
  std::string PagePath() const {
    return cursor_.empty() ? first_path_ : first_path_ + "&pagination.token=" + Encode(cursor_);
  }
  std::string Where(int64_t page) const { return "page " + std::to_string(page); }

  Result<PageVerdict> Open(const RegistryPage&, int64_t, const std::string&) {
    return PageVerdict::More();
  }

  PageVerdict Close(const RegistryPage& p, int64_t page, size_t) {
    if (p.next_token.empty()) return PageVerdict::End();
    if (!cursors_.insert(p.next_token).second) {
      return PageVerdict::Disagree(Where(page) + " repeats a pagination token given before");
    }
    if (page >= kMaxRegistryPages) {
      return PageVerdict::Disagree("paging goes on past " + std::to_string(page) + " pages");
    }
    cursor_ = p.next_token;
    return PageVerdict::More();
  }

 private:
  std::string first_path_;
  std::string cursor_;
  std::set<std::string> cursors_;
};

}  // namespace

struct HttpRegistryApi::Impl {
  HttpRegistryApiConfig config;
  std::string authorization;
  std::unique_ptr<http::client::http_client> client;
  // A POST goes over a client of its own, made for that one request, so it always travels on a
  // fresh connection: cpprest silently re-sends a request whose pooled keep-alive connection
  // turns out to be dead, which is right for the idempotent methods but would repeat a POST
  // blindly. (cpprest overrides a Connection: close request header, so that is no way out.)
  web::uri base_uri;
  std::string endpoint;  // "host:port" of base_uri, for messages
  // Why the last server certificate was rejected; filled by OpenSSL during handshakes.
  std::shared_ptr<TlsVerifyNotes> tls_notes = std::make_shared<TlsVerifyNotes>();
  http::client::http_client_config client_config;
  TokenBucket bucket;
  RetryPolicy retry;

  // Shutdown(): wakes the retry and rate-limit waits and stops further attempts.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;

  // Sleeps for `d` unless Shutdown() comes first; false when it did.
  bool SleepUnlessStopped(std::chrono::nanoseconds d) {
    std::unique_lock<std::mutex> lock(stop_mu);
    return !stop_cv.wait_for(lock, d, [this] { return stopping; });
  }
  bool Stopping() {
    std::lock_guard<std::mutex> lock(stop_mu);
    return stopping;
  }

  Impl(HttpRegistryApiConfig c)
      : config(std::move(c)),
        authorization(config.credentials.AuthorizationHeader()),
        bucket(config.qps, config.burst, nullptr,
               [this](std::chrono::nanoseconds d) { SleepUnlessStopped(d); }),
        retry(config.retry, config.jitter_seed != 0 ? config.jitter_seed : std::random_device{}()) {
  }

  // One attempt under the deadline. Returns the response, or fills `failure`.
  Response Attempt(HttpMethod method, const std::string& path, const std::string* body,
                   AttemptOutcome* outcome, std::string* error_text) {
    http::http_request req(ToCpprest(method));
    req.set_request_uri(path);
    req.headers().add("Authorization", authorization);
    req.headers().add("Accept", "application/json");
    req.headers().add("User-Agent", config.user_agent);
    if (body != nullptr) req.set_body(*body, "application/json");
    const bool post = method == HttpMethod::kPost;

    struct Done {
      std::mutex mu;
      std::condition_variable cv;
      bool done = false;
    };
    auto done = std::make_shared<Done>();
    pplx::cancellation_token_source cts;
    Response out;
    try {
      std::unique_ptr<http::client::http_client> one_shot;
      if (post) one_shot = std::make_unique<http::client::http_client>(base_uri, client_config);
      auto& http_client = post ? one_shot : client;
      const size_t max_body = config.max_body_bytes;
      // The body is read in capped chunks (cpprest_http.h); beyond the cap `cts` is cancelled,
      // which closes the connection. No continuation takes the token: the answer stays a value.
      auto task = http_client->request(req, cts.get_token())
                      .then(
                          [max_body, cts](http::http_response resp) {
                            Answer a;
                            a.response.status = resp.status_code();
                            a.retry_after = HeaderValue(resp, "Retry-After");
                            a.response.location = HeaderValue(resp, "Location");
                            return ReadBodyCapped(resp, max_body, cts)
                                .then(
                                    [a](CappedBody read) mutable {
                                      a.response.body = std::move(read.body);
                                      a.response.body_error = std::move(read.error);
                                      return a;
                                    },
                                    pplx::cancellation_token::none());
                          },
                          pplx::cancellation_token::none());
      task.then([done](pplx::task<Answer>) {
        std::lock_guard<std::mutex> lock(done->mu);
        done->done = true;
        done->cv.notify_all();
      });
      bool finished;
      {
        std::unique_lock<std::mutex> lock(done->mu);
        finished = done->cv.wait_for(lock, config.request_timeout, [&] { return done->done; });
      }
      if (!finished) cts.cancel();  // the deadline: abort the request (and its connection)
      try {
        Answer answer = task.get();
        if (!finished) {
          // Completed in the instant between the wait and the cancel: still over the deadline.
          outcome->failure = AttemptOutcome::Failure::kTimeout;
          *error_text = "timeout: no answer within the request timeout";
          return out;
        }
        out = std::move(answer.response);
        outcome->status = out.status;
        outcome->retry_after = std::move(answer.retry_after);
        return out;
      } catch (...) {
        if (!finished) {
          outcome->failure = AttemptOutcome::Failure::kTimeout;
          *error_text = "timeout: no answer from " + endpoint + " within the request timeout (" +
                        std::to_string(config.request_timeout.count()) + " ms)";
          return out;
        }
        throw;
      }
    } catch (const http::http_exception& e) {
      const ConnectionFailure f =
          ClassifyConnectionFailure(e.error_code().value(), e.what(), endpoint, tls_notes->Last());
      outcome->failure = f.cause == ConnectionFailure::Cause::kTimeout
                             ? AttemptOutcome::Failure::kTimeout
                             : AttemptOutcome::Failure::kConnection;
      outcome->permanent = f.permanent;
      *error_text = f.reason;
    } catch (const pplx::task_canceled&) {
      outcome->failure = AttemptOutcome::Failure::kTimeout;
      *error_text = "timeout: request cancelled";
    } catch (const std::exception& e) {
      outcome->failure = AttemptOutcome::Failure::kConnection;
      *error_text = "connection error with " + endpoint + ": " + PrintableText(e.what(), 200);
    }
    return out;
  }

  // Sends with rate limit, deadline and retries. An HTTP response of any status is returned as
  // such; only the lack of one (after retries) becomes an Error.
  Result<Response> Send(HttpMethod method, const std::string& path,
                        const std::string* body = nullptr) {
    const char* method_name = HttpMethodName(method);
    const auto first = steady_clock::now();
    for (int attempt = 1;; ++attempt) {
      bucket.Acquire([this](std::chrono::nanoseconds wait) {
        if (config.on_wait) {
          config.on_wait(ApiWait{ApiWait::Cause::kRateLimit, std::chrono::ceil<milliseconds>(wait),
                                 std::string()});
        }
      });
      if (Stopping()) {
        return Error{ErrorKind::kUnavailable,
                     std::string(method_name) + " " + path + ": not sent: shutting down"};
      }
      if (method != HttpMethod::kGet && config.before_write) {
        if (Status allowed = config.before_write(); !allowed.ok()) {
          return Error{ErrorKind::kUnavailable, std::string(method_name) + " " + path +
                                                    ": not sent: " + allowed.error().message};
        }
      }
      const auto start = steady_clock::now();
      AttemptOutcome outcome;
      std::string error_text;
      Response resp = Attempt(method, path, body, &outcome, &error_text);
      const double seconds = std::chrono::duration<double>(steady_clock::now() - start).count();
      if (config.metrics != nullptr)
        config.metrics->ObserveApiRequest(method_name, resp.status, seconds);
      if (outcome.failure == AttemptOutcome::Failure::kNone) {
        spdlog::debug("api {} {} -> {} in {:.1f} ms (attempt {})", method_name, path, resp.status,
                      seconds * 1000, attempt);
      } else {
        spdlog::debug("api {} {} -> no answer after {:.1f} ms (attempt {}): {}", method_name, path,
                      seconds * 1000, attempt, error_text);
      }
      if (resp.body_error) {
        // Nothing to retry: the same server would send the same flood again.
        return Error{ErrorKind::kUnavailable, std::string(method_name) + " " + path + ": HTTP " +
                                                  std::to_string(resp.status) + ": " +
                                                  *resp.body_error};
      }
      const auto elapsed = std::chrono::duration_cast<milliseconds>(steady_clock::now() - first);
      RetryDecision d =
          retry.Decide(method, outcome, attempt, elapsed, std::chrono::system_clock::now());
      if (d.retry) {
        spdlog::warn("api {} {}: {}; retry {} in {} ms", method_name, path, d.reason, attempt,
                     d.delay.count());
        if (config.on_wait) config.on_wait(ApiWait{ApiWait::Cause::kRetry, d.delay, d.reason});
        if (SleepUnlessStopped(d.delay)) continue;
        spdlog::info("api {} {}: shutting down, no retry", method_name, path);
        // Falls through: the last answer (or failure) is final.
      }
      if (outcome.failure != AttemptOutcome::Failure::kNone) {
        // The reason first, so that the first line a person reads says why.
        std::string msg = std::string(method_name) + " " + path + ": " + error_text + " (after " +
                          std::to_string(attempt) + " attempt" + (attempt == 1 ? "" : "s");
        if (outcome.permanent && !config.retry.retry_permanent_failures) {
          msg += "; not retried: waiting does not fix this";
        }
        return Error{ErrorKind::kUnavailable, msg + ")"};
      }
      if (attempt > 1 && d.reason.find(';') != std::string::npos) {
        spdlog::warn("api {} {}: giving up: {}", method_name, path, d.reason);
      }
      return resp;
    }
  }

  static Error StatusError(HttpMethod method, const std::string& path, const Response& r) {
    return HttpStatusError(r.status, r.location, std::string(HttpMethodName(method)) + " " + path,
                           DescribeErrorBody(r.body));
  }

  static Error Wrap(HttpMethod method, const std::string& path, const Error& e) {
    return Error{e.kind, std::string(HttpMethodName(method)) + " " + path + ": " + e.message};
  }

  // Reads a paged list whole, page by page as `paging` (a scheme above) directs, until its pages
  // agree: at most kListReadings readings, with a short backoff in between. A list read while
  // another client deletes or creates may shift under its offsets or cursors; reading it again,
  // whole, sees it as it is. Pages that keep disagreeing are kUnavailable, naming `what` and how
  // they disagreed; `where` starts messages. A failed page (no answer after the retries, a status
  // other than 200, a body that does not decode) fails the whole list at once: a list is never
  // partial.
  template <typename Paging>
  Result<typename Paging::Items> ReadList(const Paging& paging, const std::string& where,
                                          const std::string& what) {
    using Items = typename Paging::Items;
    for (int reading = 1;; ++reading) {
      std::string disagreement;
      Result<Items> result = ReadListOnce(paging, &disagreement);
      if (disagreement.empty()) return result;
      if (reading == kListReadings) {
        return Error{ErrorKind::kUnavailable,
                     where + ": the " + what + " is inconsistent, its pages disagree in " +
                         std::to_string(kListReadings) + " readings; the last: " + disagreement};
      }
      spdlog::warn("api {}: the pages of the {} disagree ({}); reading it again", where, what,
                   disagreement);
      if (!SleepUnlessStopped(retry.Backoff(reading))) {
        return Error{ErrorKind::kUnavailable, where + ": not read again: shutting down"};
      }
    }
  }

  // One reading of a paged list, from its first page (`paging` is copied: each reading starts
  // afresh). What every scheme shares is checked here: each page that holds items must add some
  // not listed yet (by id); the scheme judges the rest. When the pages disagree, `disagreement`
  // says how (and the value returned is empty).
  template <typename Paging>
  Result<typename Paging::Items> ReadListOnce(Paging paging, std::string* disagreement) {
    typename Paging::Items items;
    std::set<std::string> ids;
    for (int64_t page = 1;; ++page) {
      const std::string path = paging.PagePath();
      auto resp = Send(HttpMethod::kGet, path);
      if (!resp.ok()) return resp.error();
      if (resp.value().status != 200) return StatusError(HttpMethod::kGet, path, resp.value());
      auto decoded = Paging::Decode(resp.value().body);
      if (!decoded.ok()) return Wrap(HttpMethod::kGet, path, decoded.error());
      auto& p = decoded.value();
      Result<PageVerdict> opened = paging.Open(p, page, path);
      if (!opened.ok()) return opened.error();
      PageVerdict verdict = opened.value();
      if (verdict.kind == PageVerdict::Kind::kMore) {
        size_t added = 0;
        for (auto& item : p.items) {
          if (ids.insert(item.id).second) {
            items.push_back(std::move(item));
            ++added;
          }
        }
        if (!p.items.empty() && added == 0) {
          verdict = PageVerdict::Disagree(paging.Where(page) + " holds only " + Paging::kNoun +
                                          " listed already");
        } else {
          verdict = paging.Close(p, page, ids.size());
        }
      }
      switch (verdict.kind) {
        case PageVerdict::Kind::kMore:
          continue;
        case PageVerdict::Kind::kEnd:
          return items;
        case PageVerdict::Kind::kDisagree:
          *disagreement = std::move(verdict.why);
          return typename Paging::Items();
      }
    }
  }
};

HttpRegistryApi::HttpRegistryApi(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpRegistryApi::~HttpRegistryApi() = default;

Result<std::unique_ptr<HttpRegistryApi>> HttpRegistryApi::Create(HttpRegistryApiConfig config) {
  std::string base = config.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.rfind("http://", 0) != 0 && base.rfind("https://", 0) != 0) {
    return Error{ErrorKind::kInvalid,
                 "API URL '" + config.base_url + "': want http:// or https://"};
  }
  if (!config.ca_file.empty()) {
    Status s = CheckCaFile(config.ca_file);
    if (!s.ok()) return s.error();
  }
  config.base_url = base;
  SizeCpprestPool();
  auto impl = std::make_unique<Impl>(config);
  try {
    http::client::http_client_config cfg;
    // An inactivity timeout as a backstop; the deadline proper is the cancellation in Attempt().
    cfg.set_timeout(impl->config.request_timeout + std::chrono::seconds(1));
    cfg.set_validate_certificates(!impl->config.insecure_skip_tls_verify);
    // The credentials go to --api-url's origin and nowhere else: a 3xx is an error, not followed.
    ForbidRedirects(cfg);
    const std::string ca = impl->config.ca_file;
    cfg.set_ssl_context_callback([ca, notes = impl->tls_notes](boost::asio::ssl::context& ctx) {
      notes->Install(ctx);
      if (ca.empty()) return;
      boost::system::error_code ec;
      ctx.load_verify_file(ca, ec);
      if (ec) spdlog::error("--ca-file {}: {}", ca, ec.message());
    });
    impl->base_uri = web::uri(base);
    const bool https = impl->base_uri.scheme() == "https";
    impl->endpoint = impl->base_uri.host() + ":" +
                     std::to_string(impl->base_uri.is_port_default() ? (https ? 443 : 80)
                                                                     : impl->base_uri.port());
    impl->client_config = cfg;
    impl->client = std::make_unique<http::client::http_client>(impl->base_uri, cfg);
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInvalid, "API URL '" + base + "': " + e.what()};
  }
  return std::unique_ptr<HttpRegistryApi>(new HttpRegistryApi(std::move(impl)));
}

Result<HttpRegistryApi::Reply> HttpRegistryApi::Call(HttpMethod method, const std::string& path,
                                                     const std::string* body) {
  auto resp = impl_->Send(method, path, body);
  if (!resp.ok()) return resp.error();
  return Reply{resp.value().status, std::move(resp.value().body)};
}

void HttpRegistryApi::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(impl_->stop_mu);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
}

namespace {

Status CheckId(const char* what, const std::string& id) {
  if (IsUuid(id)) return Status::Ok();
  return Error{ErrorKind::kInvalid, std::string(what) + " '" + id + "' is not a UUID"};
}

}  // namespace

Result<std::vector<RegistryInfo>> HttpRegistryApi::ListRegistries() {
  return impl_->ReadList(CursorPaging("/registries?limit=" + std::to_string(kPageLimit)),
                         "GET /registries", "registry list");
}

Result<RegistryInfo> HttpRegistryApi::GetRegistry(const std::string& registry_id) {
  if (Status s = CheckId("registry id", registry_id); !s.ok()) return s.error();
  const std::string path = "/registries/" + registry_id;
  auto resp = impl_->Send(HttpMethod::kGet, path);
  if (!resp.ok()) return resp.error();
  if (resp.value().status != 200) return Impl::StatusError(HttpMethod::kGet, path, resp.value());
  auto info = DecodeRegistry(resp.value().body);
  if (!info.ok()) return Impl::Wrap(HttpMethod::kGet, path, info.error());
  return info;
}

Result<std::vector<ObservedToken>> HttpRegistryApi::ListTokens(const std::string& registry_id) {
  if (Status s = CheckId("registry id", registry_id); !s.ok()) return s.error();
  const std::string path = "/registries/" + registry_id + "/tokens";
  return impl_->ReadList(OffsetPaging(path), "GET " + path, "token list");
}

Result<ObservedToken> HttpRegistryApi::GetToken(const std::string& registry_id,
                                                const std::string& token_id) {
  if (Status s = CheckId("registry id", registry_id); !s.ok()) return s.error();
  if (Status s = CheckId("token id", token_id); !s.ok()) return s.error();
  const std::string path = "/registries/" + registry_id + "/tokens/" + token_id;
  auto resp = impl_->Send(HttpMethod::kGet, path);
  if (!resp.ok()) return resp.error();
  if (resp.value().status != 200) return Impl::StatusError(HttpMethod::kGet, path, resp.value());
  auto token = DecodeToken(resp.value().body, nullptr);
  if (!token.ok()) return Impl::Wrap(HttpMethod::kGet, path, token.error());
  return token;
}

Result<CreatedToken> HttpRegistryApi::CreateToken(const std::string& registry_id,
                                                  const std::string& token_id,
                                                  const TokenFields& fields) {
  if (Status s = CheckId("registry id", registry_id); !s.ok()) return s.error();
  if (Status s = CheckId("token id", token_id); !s.ok()) return s.error();
  const std::string path = "/registries/" + registry_id + "/tokens/" + token_id;
  const std::string body = EncodeTokenCreate(fields);
  auto resp = impl_->Send(HttpMethod::kPut, path, &body);
  if (!resp.ok()) return resp.error();
  const int status = resp.value().status;
  if (status != 200 && status != 201) {
    return Impl::StatusError(HttpMethod::kPut, path, resp.value());
  }
  CreatedToken created;
  auto token = DecodeToken(resp.value().body, &created.password);
  if (!token.ok()) return Impl::Wrap(HttpMethod::kPut, path, token.error());
  created.token = std::move(token.value());
  if (created.password.empty()) {
    // A PUT onto an existing token (e.g. the repeat of a create whose answer was lost) answers
    // without a password. Publishing an empty password would break every consumer.
    return Error{ErrorKind::kUnavailable, "PUT " + path + ": HTTP " + std::to_string(status) +
                                              " without a password (the token existed already?)"};
  }
  return created;
}

Result<ObservedToken> HttpRegistryApi::PatchToken(const std::string& registry_id,
                                                  const std::string& token_id,
                                                  const TokenPatch& patch) {
  if (Status s = CheckId("registry id", registry_id); !s.ok()) return s.error();
  if (Status s = CheckId("token id", token_id); !s.ok()) return s.error();
  const std::string path = "/registries/" + registry_id + "/tokens/" + token_id;
  const std::string body = EncodeTokenPatch(patch);
  auto resp = impl_->Send(HttpMethod::kPatch, path, &body);
  if (!resp.ok()) return resp.error();
  if (resp.value().status != 200) return Impl::StatusError(HttpMethod::kPatch, path, resp.value());
  auto token = DecodeToken(resp.value().body, nullptr);
  if (!token.ok()) return Impl::Wrap(HttpMethod::kPatch, path, token.error());
  return token;
}

Status HttpRegistryApi::DeleteToken(const std::string& registry_id, const std::string& token_id) {
  if (Status s = CheckId("registry id", registry_id); !s.ok()) return s;
  if (Status s = CheckId("token id", token_id); !s.ok()) return s;
  const std::string path = "/registries/" + registry_id + "/tokens/" + token_id;
  auto resp = impl_->Send(HttpMethod::kDelete, path);
  if (!resp.ok()) return resp.error();
  const int status = resp.value().status;
  if (status == 200 || status == 202 || status == 204 || status == 404) return Status::Ok();
  return Impl::StatusError(HttpMethod::kDelete, path, resp.value());
}

}  // namespace crtoken
