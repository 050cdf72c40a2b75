// HttpRegistryApi: the RegistryApi over HTTP (cpprestsdk), the only code that speaks to the
// Container Registry API. Nothing here exposes a cpprest type: the client lives behind a pimpl in
// http_registry_api.cc, the one file that includes cpprest.
//
// Behaviour:
// - Base URL used as given (e.g. https://api.ionos.com/containerregistries); paths are appended.
// - Every attempt passes the shared token bucket (qps, burst), carries a per-request deadline
//   (request_timeout, enforced by cancelling the request), and is counted in Metrics.
// - Retries per RetryPolicy (retry_policy.h): 429 for every method honouring Retry-After; 502/503/
//   504, timeouts and connection errors only for GET, PUT, PATCH, DELETE; all within retry_budget.
// - Status mapping: 400/422 kInvalid, 401/403 kUnauthorized, 404 kNotFound, 409 kConflict,
//   429 kRateLimited, 5xx/timeouts/connection errors/malformed bodies kUnavailable. Messages name
//   the method and path and carry the API's messages[].message text (made printable and capped:
//   DescribeErrorBody); a connection failure says why (refused, name not resolved, certificate
//   not trusted, timeout: http_failure.h).
// - No redirect is followed: the credentials go to base_url's origin and nowhere else. A 3xx is
//   kInvalid naming where it pointed (the API URL needs fixing).
// - A response body is read up to max_body_bytes, in chunks; beyond that (announced or while
//   reading) the call fails with kUnavailable, the connection is closed, nothing is retried.
// - Lists are read whole, by one paging loop: ListTokens by offset/limit against the total,
//   ListRegistries by the pagination.token cursor, 100 asked for a page.
//   A list ends at the page that reaches the total or carries no cursor, so one full page costs
//   one request. A failed page fails the whole list. The pages must be consistent: pages that
//   disagree (totals that change between pages, pages of items listed already, fewer or more
//   distinct tokens than the total, paging beyond what the total takes, cursors given twice,
//   more than 100 registry pages) make the list be read again, up to 3 times, then kUnavailable
//   saying how they disagreed. A list is never partial.
// - Registry reads are not cached: each asks the API.
// - Every wait (rate limit, Retry-After, backoff) is told to config.on_wait before it is slept.
// - Logs (spdlog): debug per attempt (method, path, status, duration, attempt), warn per retry.
//   Never a password, token, Authorization header, or response body of a token create.
//
// Thread-safe: one keep-alive http_client serves concurrent calls from any number of threads.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "daemon/common/http_failure.h"
#include "daemon/registry/credentials.h"
#include "daemon/registry/retry_policy.h"
#include "reconciler/metrics.h"
#include "reconciler/registry_api.h"

namespace crtoken {

// The production API, the default base URL.
inline constexpr char kDefaultApiUrl[] = "https://api.ionos.com/containerregistries";

// A wait of the client before it sends a request (HttpRegistryApiConfig::on_wait).
struct ApiWait {
  enum class Cause {
    kRateLimit,  // the client's own rate limit (qps, burst)
    kRetry,      // before repeating a request: a Retry-After, or the backoff after a failure
  };
  Cause cause = Cause::kRateLimit;
  std::chrono::milliseconds delay{0};
  std::string reason;  // kRetry: why, as RetryDecision::reason says it ("429 (Retry-After 2s)")
};

struct HttpRegistryApiConfig {
  std::string base_url = kDefaultApiUrl;
  Credentials credentials = Credentials::Bearer("");
  double qps = 20;
  int burst = 40;
  std::chrono::milliseconds request_timeout = std::chrono::seconds(30);
  RetryOptions retry;        // retry_budget, retry_after_cap, backoff, attempts
  uint64_t jitter_seed = 0;  // 0: random
  std::string ca_file;       // PEM bundle added to the trust store
  bool insecure_skip_tls_verify = false;
  // The largest response body read; a larger one is an error and its connection is closed.
  size_t max_body_bytes = kMaxResponseBodyBytes;
  std::string user_agent = std::string("crtoken/") + CRTOKEN_VERSION;
  Metrics* metrics = nullptr;  // may be null
  // Told of every wait before the client sleeps it (e.g. to show progress); may be null. Called
  // from the calling threads, concurrently; must not block. Never given a secret.
  std::function<void(const ApiWait&)> on_wait;
  // Asked right before each attempt of a write (POST, PUT, PATCH, DELETE), after any rate-limit
  // or retry wait; a refusal ends the call with kUnavailable ("not sent: WHY"), that attempt and
  // any later one unsent. `crtoken run --leader-elect` passes the Lease's fence here, so that a
  // retry never goes out after the fence closed. Empty: every attempt is sent.
  std::function<Status()> before_write;
};

class HttpRegistryApi : public RegistryApi {
 public:
  // kInvalid for a bad base URL or an unreadable CA file.
  static Result<std::unique_ptr<HttpRegistryApi>> Create(HttpRegistryApiConfig config);
  ~HttpRegistryApi() override;

  Result<RegistryInfo> GetRegistry(const std::string& registry_id) override;
  Result<std::vector<RegistryInfo>> ListRegistries() override;
  Result<std::vector<ObservedToken>> ListTokens(const std::string& registry_id) override;
  Result<ObservedToken> GetToken(const std::string& registry_id,
                                 const std::string& token_id) override;
  Result<CreatedToken> CreateToken(const std::string& registry_id, const std::string& token_id,
                                   const TokenFields& fields) override;
  Result<ObservedToken> PatchToken(const std::string& registry_id, const std::string& token_id,
                                   const TokenPatch& patch) override;
  Status DeleteToken(const std::string& registry_id, const std::string& token_id) override;
  void Shutdown() override;

  // A raw call through the same machinery (rate limit, deadline, retries, metrics, logging), for
  // tools and tests that need an operation the interface does not offer (e.g. a POST). `path` is
  // relative to the base URL and starts with '/'. Any HTTP status is a value (a 3xx too: it is
  // not followed); only the lack of an answer, or a body over max_body_bytes, is an Error.
  struct Reply {
    int status = 0;
    std::string body;
  };
  Result<Reply> Call(HttpMethod method, const std::string& path, const std::string* body = nullptr);

  struct Impl;

 private:
  explicit HttpRegistryApi(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace crtoken
