#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace crtoken::test {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

int Connect(const std::string& host, uint16_t port, int timeout_ms, std::string* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  std::string h = host == "localhost" ? "127.0.0.1" : host;
  if (inet_pton(AF_INET, h.c_str(), &addr.sin_addr) != 1) {
    *error = "not an IPv4 address: " + host;
    return -1;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = errno == ECONNREFUSED ? "connection refused"
                                   : std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads more bytes into buf. Returns false on EOF/error and sets *error.
bool ReadMore(int fd, std::string* buf, std::string* error) {
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buf->append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) {
      *error = "connection closed";
    } else if (errno == ECONNRESET) {
      *error = "connection reset";
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      *error = "timeout";
    } else {
      *error = std::string("recv: ") + std::strerror(errno);
    }
    return false;
  }
}

// Sends one request on fd and reads the response. *reusable says whether the connection may
// carry another request.
HttpResult Exchange(int fd, const std::string& host_header, const std::string& method,
                    const std::string& target, const Headers& headers, const std::string& body,
                    bool keep_alive, bool* reusable) {
  HttpResult result;
  *reusable = false;
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: " + host_header + "\r\n";
  bool has_ct = false;
  for (const auto& [name, value] : headers) {
    req += name + ": " + value + "\r\n";
    has_ct = has_ct || Lower(name) == "content-type";
  }
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    if (!has_ct) req += "Content-Type: application/json\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
  req += body;
  size_t sent = 0;
  while (sent < req.size()) {
    ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      result.error = errno == ECONNRESET || errno == EPIPE
                         ? "connection reset"
                         : std::string("send: ") + strerror(errno);
      return result;
    }
    sent += static_cast<size_t>(n);
  }
  std::string buf;
  size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    std::string error;
    if (!ReadMore(fd, &buf, &error)) {
      result.error = buf.empty() && error == "connection closed"
                         ? "connection closed without a response"
                         : error;
      return result;
    }
  }
  std::string head = buf.substr(0, head_end);
  buf.erase(0, head_end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  size_t sp = status_line.find(' ');
  result.status = sp == std::string::npos ? 0 : std::atoi(status_line.c_str() + sp + 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    result.headers[Lower(line.substr(0, colon))] = value;
  }
  bool no_body =
      method == "HEAD" || result.status == 204 || result.status == 304 || result.status < 200;
  std::string error;
  if (no_body) {
    // nothing to read
  } else if (Lower(result.Header("transfer-encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      size_t e;
      while ((e = buf.find("\r\n")) == std::string::npos) {
        if (!ReadMore(fd, &buf, &error)) {
          result.error = error;
          return result;
        }
      }
      size_t size = std::strtoul(buf.substr(0, e).c_str(), nullptr, 16);
      buf.erase(0, e + 2);
      while (buf.size() < size + 2) {
        if (!ReadMore(fd, &buf, &error)) {
          result.error = error;
          return result;
        }
      }
      result.body.append(buf, 0, size);
      buf.erase(0, size + 2);
      if (size == 0) break;
    }
  } else if (!result.Header("content-length").empty()) {
    size_t n = std::strtoul(result.Header("content-length").c_str(), nullptr, 10);
    while (buf.size() < n) {
      if (!ReadMore(fd, &buf, &error)) {
        result.error = error;
        return result;
      }
    }
    result.body = buf.substr(0, n);
  } else {
    while (ReadMore(fd, &buf, &error)) {
    }
    result.body = buf;
    return result;
  }
  *reusable = keep_alive && Lower(result.Header("connection")) != "close";
  return result;
}

}  // namespace

std::string HttpResult::Header(const std::string& name) const {
  auto it = headers.find(Lower(name));
  return it == headers.end() ? "" : it->second;
}

bool SplitUrl(const std::string& url, std::string* host, uint16_t* port, std::string* target) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return false;
  size_t slash = url.find('/', scheme.size());
  std::string authority = url.substr(scheme.size(), slash - scheme.size());
  *target = slash == std::string::npos ? "/" : url.substr(slash);
  size_t colon = authority.rfind(':');
  if (colon == std::string::npos) {
    *host = authority;
    *port = 80;
  } else {
    *host = authority.substr(0, colon);
    *port = static_cast<uint16_t>(std::atoi(authority.c_str() + colon + 1));
  }
  return !host->empty();
}

HttpResult HttpCall(const std::string& method, const std::string& url, const Headers& headers,
                    const std::string& body, int timeout_ms) {
  HttpResult result;
  std::string host, target;
  uint16_t port = 0;
  if (!SplitUrl(url, &host, &port, &target)) {
    result.error = "not an http:// URL: " + url;
    return result;
  }
  int fd = Connect(host, port, timeout_ms, &result.error);
  if (fd < 0) return result;
  bool reusable = false;
  result = Exchange(fd, host + ":" + std::to_string(port), method, target, headers, body, false,
                    &reusable);
  ::close(fd);
  return result;
}

HttpConnection::HttpConnection(std::string host, uint16_t port, int timeout_ms)
    : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms) {}

HttpConnection::~HttpConnection() {
  if (fd_ >= 0) ::close(fd_);
}

HttpResult HttpConnection::Call(const std::string& method, const std::string& target,
                                const Headers& headers, const std::string& body) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    bool fresh = fd_ < 0;
    if (fresh) {
      HttpResult failed;
      fd_ = Connect(host_, port_, timeout_ms_, &failed.error);
      if (fd_ < 0) return failed;
    }
    bool reusable = false;
    HttpResult r = Exchange(fd_, host_ + ":" + std::to_string(port_), method, target, headers, body,
                            true, &reusable);
    if (!reusable) {
      ::close(fd_);
      fd_ = -1;
    }
    // A kept-alive connection the server closed meanwhile: retry once on a fresh one.
    if (r.status == 0 && !fresh && r.error == "connection closed without a response") continue;
    return r;
  }
  return HttpResult{0, {}, "", "connection closed without a response"};
}

std::string BasicAuth(const std::string& user, const std::string& password) {
  static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = user + ":" + password, out;
  int buffer = 0, bits = 0;
  for (unsigned char c : in) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(buffer >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64[(buffer << (6 - bits)) & 0x3f]);
  while (out.size() % 4 != 0) out.push_back('=');
  return "Basic " + out;
}

uint16_t FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("FreePort: socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("FreePort: bind failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace crtoken::test
