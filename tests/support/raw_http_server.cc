#include "tests/support/raw_http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <stdexcept>

namespace crtoken::test {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool SendAll(int fd, SSL* ssl, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ssl != nullptr ? SSL_write(ssl, data.data() + sent, int(data.size() - sent))
                               : ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  return true;
}

ssize_t Recv(int fd, SSL* ssl, char* buf, size_t len) {
  if (ssl != nullptr) return SSL_read(ssl, buf, static_cast<int>(len));
  return ::recv(fd, buf, len, 0);
}

}  // namespace

TestCert MakeSelfSignedCert(const std::string& dir) {
  TestCert out{dir + "/cert.pem", dir + "/key.pem"};
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "IP:127.0.0.1"},
                            std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert, key, EVP_sha256());
  FILE* f = std::fopen(out.cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(out.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

namespace {}  // namespace

RawReply RawHttpServer::Json(int status, std::string body) {
  RawReply r;
  r.status = status;
  r.headers.push_back({"Content-Type", "application/json"});
  r.body = std::move(body);
  return r;
}

RawHttpServer::RawHttpServer() { Start(); }

RawHttpServer::RawHttpServer(const std::string& address) : address_(address) { Start(); }

RawHttpServer::RawHttpServer(const TestCert& tls) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (SSL_CTX_use_certificate_file(ctx, tls.cert_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    throw std::runtime_error("RawHttpServer: cannot load the test certificate");
  }
  ssl_ctx_ = ctx;
  Start();
}

void RawHttpServer::Start() {
  // SSL_write to a client that hung up raises SIGPIPE (it has no MSG_NOSIGNAL): this process is a
  // test, so ignore it.
  ::signal(SIGPIPE, SIG_IGN);
  default_ =
      Json(500, R"({"httpStatus":500,"messages":[{"errorCode":"0","message":"unscripted"}]})");
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, address_.c_str(), &addr.sin_addr) != 1) {
    throw std::runtime_error("RawHttpServer: bad address " + address_);
  }
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error("RawHttpServer: bind/listen failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

RawHttpServer::~RawHttpServer() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  acceptor_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& w : workers_) w.join();
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

void RawHttpServer::Script(std::vector<RawReply> replies) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.assign(replies.begin(), replies.end());
}

void RawHttpServer::SetDefault(RawReply reply) {
  std::lock_guard<std::mutex> lock(mu_);
  default_ = std::move(reply);
}

std::vector<RawRequest> RawHttpServer::Requests() {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

RawReply RawHttpServer::Next() {
  std::lock_guard<std::mutex> lock(mu_);
  if (script_.empty()) return default_;
  RawReply r = script_.front();
  script_.pop_front();
  return r;
}

void RawHttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    const int connection = connections_++;
    std::lock_guard<std::mutex> lock(mu_);
    fds_.push_back(fd);
    workers_.emplace_back([this, fd, connection] { Serve(fd, connection); });
  }
}

void RawHttpServer::Close(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end());
  ::close(fd);
}

void RawHttpServer::Serve(int fd, int connection) {
  SSL* ssl = nullptr;
  if (ssl_ctx_ != nullptr) {
    ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {  // e.g. the client refused the certificate
      SSL_free(ssl);
      Close(fd);
      return;
    }
  }
  ServeConnection(fd, ssl, connection);
  if (ssl != nullptr) SSL_free(ssl);
}

void RawHttpServer::ServeConnection(int fd, void* ssl_handle, int connection) {
  SSL* ssl = static_cast<SSL*>(ssl_handle);
  std::string buf;
  char chunk[8192];
  for (;;) {
    // Read one request: headers, then Content-Length bytes of body.
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = Recv(fd, ssl, chunk, sizeof(chunk));
      if (n <= 0) {
        Close(fd);
        return;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    RawRequest req;
    req.connection = connection;
    const std::string head = buf.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.rfind(' ');
    req.method = request_line.substr(0, sp1);
    req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      const std::string line = head.substr(pos, end - pos);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        req.headers[name] = value;
      }
      pos = end + 2;
    }
    size_t length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      length = std::stoul(it->second);
    }
    buf.erase(0, header_end + 4);
    while (buf.size() < length) {
      ssize_t n = Recv(fd, ssl, chunk, sizeof(chunk));
      if (n <= 0) {
        Close(fd);
        return;
      }
      buf.append(chunk, static_cast<size_t>(n));
    }
    req.body = buf.substr(0, length);
    buf.erase(0, length);
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
    }

    RawReply reply = Next();
    if (reply.delay_ms > 0) {
      // Wait, but give up early when the client hangs up (its deadline) or the server stops.
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(reply.delay_ms);
      while (!stopping_ && std::chrono::steady_clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        if (ssl != nullptr) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        } else if (::poll(&p, 1, 20) > 0) {
          ssize_t n = ::recv(fd, chunk, sizeof(chunk), MSG_PEEK);
          if (n <= 0) {
            Close(fd);
            return;
          }
        }
      }
    }
    if (reply.reset) {
      linger lg{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      Close(fd);
      return;
    }
    if (reply.endless) {
      std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) +
                         "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
      ++endless_active_;
      bool ok = SendAll(fd, ssl, head);
      const std::string piece(64 * 1024, ' ');
      char size[32];
      std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
      const std::string chunk = size + piece + "\r\n";
      while (ok && !stopping_) {
        ok = SendAll(fd, ssl, chunk);
        if (ok) endless_bytes_ += static_cast<int64_t>(piece.size());
      }
      --endless_active_;
      Close(fd);
      return;
    }
    std::string out;
    if (!reply.raw.empty()) {
      out = reply.raw;
    } else if (reply.close_delimited) {
      out = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "Connection: close\r\n\r\n" + reply.body;
      SendAll(fd, ssl, out);
      Close(fd);
      return;
    } else {
      out = "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
      for (const auto& [k, v] : reply.headers) out += k + ": " + v + "\r\n";
      out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n\r\n" + reply.body;
    }
    if (!SendAll(fd, ssl, out)) {
      Close(fd);
      return;
    }
  }
}

}  // namespace crtoken::test
