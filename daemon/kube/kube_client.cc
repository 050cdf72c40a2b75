// The HTTP exchange with a Kubernetes API server. The only file of the wing that includes cpprest
// (slow to compile) and the only one that sees its exceptions.
#include "daemon/kube/kube_client.h"

#include <cpprest/http_client.h>
#include <spdlog/spdlog.h>

#include <boost/asio/ssl.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>

#include "daemon/common/cpprest_http.h"
#include "daemon/common/cpprest_pool.h"
#include "daemon/common/json_text.h"

namespace crtoken {
namespace {

namespace http = web::http;
using Clock = std::chrono::steady_clock;

Error Invalid(std::string message) { return Error{ErrorKind::kInvalid, std::move(message)}; }

}  // namespace

bool IsDnsLabel(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  return !s.empty() && s.size() <= 63 && std::regex_match(s, re);
}

bool IsDnsSubdomain(const std::string& s) {
  static const std::regex re("[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*");
  return !s.empty() && s.size() <= 253 && std::regex_match(s, re);
}

std::string RedactSecrets(std::string text, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.size() < 4) continue;
    for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
      text.replace(pos, secret.size(), "<redacted>");
    }
  }
  return text;
}

std::string KubeStatusMessage(const std::string& body) {
  try {
    nlohmann::json j = nlohmann::json::parse(body);
    if (j.is_object() && j.contains("message") && j["message"].is_string()) {
      return PrintableText(j["message"].get<std::string>(), 1024);
    }
  } catch (const nlohmann::json::exception&) {
  }
  return PrintableText(body, 200);
}

class KubeClient::Impl {
 public:
  Impl(KubernetesConfig config, KubeClientOptions options)
      : config_(std::move(config)), options_(options) {}

  Status Init() {
    if (config_.token.empty() && config_.token_file.empty() && config_.client_cert_pem.empty()) {
      return Invalid(config_.source + ": no credentials (token, tokenFile or client certificate)");
    }
    if (!config_.token_file.empty()) {
      auto token = ReadToken();
      if (!token.ok()) return token.error();
    }
    http::client::http_client_config cfg;
    cfg.set_timeout(
        std::chrono::duration_cast<std::chrono::microseconds>(options_.request_timeout));
    // The bearer token goes to the configured server only: a 3xx is an error, never followed.
    ForbidRedirects(cfg);
    if (config_.insecure_skip_tls_verify) {
      cfg.set_validate_certificates(false);
      spdlog::warn("kubernetes: TLS verification of {} is OFF (insecure-skip-tls-verify)",
                   config_.server);
    }
    const std::string ca = config_.ca_pem;
    const std::string cert = config_.client_cert_pem;
    const std::string key = config_.client_key_pem;
    cfg.set_ssl_context_callback([ca, cert, key](boost::asio::ssl::context& ctx) {
      // Contents were checked at load time; a failure here leaves the context without them and
      // the handshake then fails with a TLS error, reported as kUnavailable.
      boost::system::error_code ec;
      if (!ca.empty()) ctx.add_certificate_authority(boost::asio::buffer(ca), ec);
      if (!cert.empty()) {
        ctx.use_certificate_chain(boost::asio::buffer(cert), ec);
        ctx.use_private_key(boost::asio::buffer(key), boost::asio::ssl::context::pem, ec);
      }
    });
    try {
      web::uri uri(config_.server);
      if (uri.scheme() != "https" && uri.scheme() != "http") {
        return Invalid(config_.source + ": server \"" + config_.server +
                       "\" is not an http(s) URL");
      }
      if (uri.scheme() == "http") {
        spdlog::warn(
            "kubernetes: {} is plain http: the bearer token and passwords travel "
            "unencrypted",
            config_.server);
      }
      client_ = std::make_unique<http::client::http_client>(uri, cfg);
    } catch (const std::exception& e) {
      return Invalid(config_.source + ": server \"" + config_.server + "\": " + e.what());
    }
    return Status::Ok();
  }

  const KubernetesConfig& config() const { return config_; }

  Error HttpError(const std::string& method, const std::string& path, const KubeResponse& r,
                  std::vector<std::string> secrets) {
    for (auto& t : KnownTokens()) secrets.push_back(std::move(t));
    Error error = HttpStatusError(r.status, r.location, "kubernetes " + method + " " + path,
                                  KubeStatusMessage(r.body));
    error.message = RedactSecrets(error.message, secrets);
    return error;
  }

  // One HTTP exchange. A 401 re-reads the token file and tries once more (the kubelet may have
  // rotated it). Every cpprest exception stops here.
  Result<KubeResponse> Call(const std::string& method, const std::string& path,
                            const std::string& body, const std::string& content_type,
                            std::vector<std::string> secrets) {
    if (method != "GET" && options_.before_write) {
      if (Status allowed = options_.before_write(); !allowed.ok()) {
        return Error{ErrorKind::kUnavailable, "kubernetes " + method + " " + path +
                                                  ": not sent: " + allowed.error().message};
      }
    }
    for (int round = 0;; ++round) {
      const std::string token = BearerToken(round > 0);
      secrets.push_back(token);
      const auto start = Clock::now();
      KubeResponse result;
      try {
        http::http_request request(method);
        request.set_request_uri(web::uri(path));
        request.headers().add("Accept", "application/json");
        request.headers().add("User-Agent", std::string("crtoken/") + CRTOKEN_VERSION);
        if (!token.empty()) request.headers().add("Authorization", "Bearer " + token);
        if (!body.empty()) request.set_body(body, content_type);
        // Cancelling `abort` closes the connection: how an oversized body is left unread.
        pplx::cancellation_token_source abort;
        http::http_response response = client_->request(request, abort.get_token()).get();
        result.status = response.status_code();
        result.location = HeaderValue(response, "Location");
        CappedBody read = ReadBodyCapped(response, options_.max_body_bytes, abort).get();
        if (read.error) {
          spdlog::debug("kubernetes {} {} -> {}: body not read", method, path, result.status);
          return Error{ErrorKind::kUnavailable, "kubernetes " + method + " " + path + ": HTTP " +
                                                    std::to_string(result.status) + ": " +
                                                    *read.error};
        }
        result.body = std::move(read.body);
      } catch (const std::exception& e) {
        const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        std::string message = RedactSecrets(
            "kubernetes " + method + " " + path + " (" + config_.server + "): " + e.what(),
            secrets);
        spdlog::debug("kubernetes {} {} -> error after {} ms", method, path, ms.count());
        return Error{ErrorKind::kUnavailable, std::move(message)};
      }
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      spdlog::debug("kubernetes {} {} -> {} ({} ms)", method, path, result.status, ms.count());
      if (result.status == 401 && round == 0 && !config_.token_file.empty()) continue;
      return result;
    }
  }

 private:
  Result<std::string> ReadToken() {
    auto token = ReadTokenFile(config_.token_file, config_.source + ": token file");
    if (!token.ok()) return token.error();
    if (token.value().empty())
      return Invalid(config_.source + ": token file " + config_.token_file + " is empty");
    return token;
  }

  // The bearer token to send, re-reading token_file when it is older than token_refresh (or
  // when `force`). A failed re-read keeps the last good token and says so once per read.
  std::string BearerToken(bool force) {
    if (config_.token_file.empty()) return config_.token;
    std::lock_guard<std::mutex> lock(token_mu_);
    const auto now = Clock::now();
    if (force || cached_token_.empty() || now - token_read_at_ >= options_.token_refresh) {
      auto token = ReadToken();
      if (token.ok()) {
        cached_token_ = std::move(token.value());
      } else {
        spdlog::warn("kubernetes: {}; keeping the previous token", token.error().message);
      }
      token_read_at_ = now;
    }
    return cached_token_.empty() ? config_.token : cached_token_;
  }

  std::vector<std::string> KnownTokens() {
    std::lock_guard<std::mutex> lock(token_mu_);
    return {config_.token, cached_token_};
  }

  KubernetesConfig config_;
  KubeClientOptions options_;
  std::unique_ptr<http::client::http_client> client_;
  std::mutex token_mu_;
  std::string cached_token_;
  Clock::time_point token_read_at_{};
};

Result<std::unique_ptr<KubeClient>> KubeClient::Create(KubernetesConfig config,
                                                       KubeClientOptions options) {
  SizeCpprestPool();
  auto impl = std::make_unique<Impl>(std::move(config), options);
  if (auto s = impl->Init(); !s.ok()) return s.error();
  return std::unique_ptr<KubeClient>(new KubeClient(std::move(impl)));
}

KubeClient::KubeClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubeClient::~KubeClient() = default;

Result<KubeResponse> KubeClient::Call(const std::string& method, const std::string& path,
                                      const std::string& body, const std::string& content_type,
                                      std::vector<std::string> secrets) {
  try {
    return impl_->Call(method, path, body, content_type, std::move(secrets));
  } catch (const std::exception& e) {  // the contract says never throws: nothing escapes
    return Error{ErrorKind::kInternal, "kubernetes " + method + " " + path + ": " + e.what()};
  }
}

Error KubeClient::HttpError(const std::string& method, const std::string& path,
                            const KubeResponse& response, std::vector<std::string> secrets) {
  return impl_->HttpError(method, path, response, std::move(secrets));
}

const KubernetesConfig& KubeClient::config() const { return impl_->config(); }

const std::string& KubeClient::source() const { return impl_->config().source; }

std::string KubeClient::DefaultNamespace() const {
  const std::string& ns = impl_->config().default_namespace;
  return ns.empty() ? "default" : ns;
}

Result<std::unique_ptr<KubeClient>> MakeKubeClient(const std::string& kubeconfig,
                                                   const std::string& service_account_dir,
                                                   EnvLookup env, const std::string& purpose,
                                                   KubeClientOptions options) {
  if (!env) env = ProcessEnv();
  auto config = LoadKubernetesConfig(kubeconfig, service_account_dir, env, purpose);
  if (!config.ok()) return config.error();
  return KubeClient::Create(std::move(config.value()), options);
}

}  // namespace crtoken
