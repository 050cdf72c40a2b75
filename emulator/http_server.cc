#include "emulator/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace crtoken::emulator {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool SendAll(int fd, const std::string& data) {
  size_t sent = 0;
  while (sent < data.size()) {
    ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    sent += static_cast<size_t>(n);
  }
  return true;
}

std::string HttpDate() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// Reads until buf holds at least `want` bytes. False when the stream ends first.
bool ReadAtLeast(const ReadMore& read_more, std::string* buf, size_t want) {
  while (buf->size() < want) {
    if (!read_more(buf)) return false;
  }
  return true;
}

// Reads until buf contains `delim`; returns its position, or npos when the stream ends first or
// buf grew past `limit` without it.
size_t ReadUntil(const ReadMore& read_more, std::string* buf, const std::string& delim,
                 size_t limit) {
  for (;;) {
    size_t pos = buf->find(delim);
    if (pos != std::string::npos) return pos;
    if (buf->size() > limit || !read_more(buf)) return std::string::npos;
  }
}

void ResetConnection(int fd) {
  linger lg{};
  lg.l_onoff = 1;
  lg.l_linger = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

std::string ErrorResponse(int status) {
  std::string body = "{\"httpStatus\":" + std::to_string(status) +
                     ",\"messages\":[{\"errorCode\":\"" + std::to_string(status) +
                     "\",\"message\":\"" + ReasonPhrase(status) + "\"}]}";
  return "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) +
         "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

const std::string& HttpRequest::Header(const std::string& name) const {
  static const std::string kEmpty;
  auto it = headers.find(name);
  return it == headers.end() ? kEmpty : it->second;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

HttpServer::HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}

HttpServer::~HttpServer() { Stop(); }

bool HttpServer::Start(const std::string& host, uint16_t port, std::string* error) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    *error = "not an IPv4 address: " + host;
    return false;
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    *error = "bind " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (::listen(fd, 512) != 0) {
    *error = std::string("listen: ") + std::strerror(errno);
    ::close(fd);
    return false;
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen_fd_ = fd;
  accept_thread_ = std::thread([this] { AcceptLoop(); });
  return true;
}

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
  std::unique_lock<std::mutex> lock(mu_);
  for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  idle_.wait(lock, [this] { return active_ == 0; });
}

void HttpServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    int r = ::poll(&p, 1, 200);
    if (r <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) {
        ::close(fd);
        break;
      }
      open_fds_.insert(fd);
      ++active_;
    }
    std::thread([this, fd] {
      Serve(fd);
      std::lock_guard<std::mutex> lock(mu_);
      open_fds_.erase(fd);
      ::close(fd);
      if (--active_ == 0) idle_.notify_all();
    }).detach();
  }
}

int ReadRequest(std::string* buf, const ReadMore& read_more,
                const std::function<void()>& on_continue, HttpRequest* req) {
  size_t head_end = ReadUntil(read_more, buf, "\r\n\r\n", kMaxRequestHeadBytes);
  if (head_end == std::string::npos) return buf->size() > kMaxRequestHeadBytes ? 431 : -1;
  std::string head = buf->substr(0, head_end);
  buf->erase(0, head_end + 4);
  size_t line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return 400;
  req->method = request_line.substr(0, sp1);
  req->target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  req->version = request_line.substr(sp2 + 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = Lower(Trim(line.substr(0, colon)));
    std::string value = Trim(line.substr(colon + 1));
    auto [it, inserted] = req->headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  size_t q = req->target.find('?');
  req->path = PercentDecode(req->target.substr(0, q));
  if (q != std::string::npos) req->query = req->target.substr(q + 1);

  if (Lower(req->Header("expect")) == "100-continue" && on_continue) on_continue();
  if (Lower(req->Header("transfer-encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      size_t e = ReadUntil(read_more, buf, "\r\n", kMaxRequestHeadBytes);
      if (e == std::string::npos) return -1;
      size_t size = std::strtoul(buf->substr(0, e).c_str(), nullptr, 16);
      buf->erase(0, e + 2);
      if (size > kMaxRequestBodyBytes - req->body.size()) return 413;
      if (!ReadAtLeast(read_more, buf, size + 2)) return -1;
      req->body.append(*buf, 0, size);
      buf->erase(0, size + 2);
      if (size == 0) break;  // trailers are not supported: the final CRLF was consumed
    }
  } else if (!req->Header("content-length").empty()) {
    char* end = nullptr;
    const std::string& cl = req->Header("content-length");
    unsigned long long n = std::strtoull(cl.c_str(), &end, 10);
    if (end == cl.c_str() || *end != '\0') return 400;
    if (n > kMaxRequestBodyBytes) return 413;
    if (!ReadAtLeast(read_more, buf, n)) return -1;
    req->body = buf->substr(0, n);
    buf->erase(0, n);
  }
  return 0;
}

void HttpServer::Serve(int fd) {
  const ReadMore read_more = [fd](std::string* buf) {
    char chunk[16384];
    for (;;) {
      ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf->append(chunk, static_cast<size_t>(n));
      return true;
    }
  };
  std::string buf;
  while (!stopping_) {
    HttpRequest req;
    const int read = ReadRequest(
        &buf, read_more, [fd] { SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n"); }, &req);
    if (read != 0) {
      if (read > 0) SendAll(fd, ErrorResponse(read));
      return;
    }
    const std::string& version = req.version;

    bool keep_alive = version == "HTTP/1.1";
    std::string connection = Lower(req.Header("connection"));
    if (connection.find("close") != std::string::npos) keep_alive = false;
    if (connection.find("keep-alive") != std::string::npos) keep_alive = true;

    HttpResponse resp;
    try {
      handler_(req, &resp);
    } catch (const std::exception& e) {
      // A handler bug must cost one answer, not the process.
      resp = HttpResponse();
      resp.status = 500;
      resp.headers.emplace_back("Content-Type", "application/json");
      std::string msg;
      for (char c : std::string(e.what())) {
        if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20 ||
            static_cast<unsigned char>(c) >= 0x80) {
          c = '?';
        }
        msg.push_back(c);
      }
      resp.body =
          "{\"httpStatus\":500,\"messages\":[{\"errorCode\":\"500\",\"message\":\"" + msg + "\"}]}";
    }
    if (resp.reset) {
      ResetConnection(fd);
      return;
    }
    std::string out = "HTTP/1.1 " + std::to_string(resp.status) + " " + ReasonPhrase(resp.status) +
                      "\r\nDate: " + HttpDate() + "\r\n";
    for (const auto& [name, value] : resp.headers) out += name + ": " + value + "\r\n";
    bool no_body = resp.status == 204 || resp.status == 304 || resp.status < 200;
    if (!no_body) out += "Content-Length: " + std::to_string(resp.body.size()) + "\r\n";
    out += keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n";
    if (!no_body && req.method != "HEAD") out += resp.body;
    if (!SendAll(fd, out) || !keep_alive) return;
  }
}

}  // namespace crtoken::emulator
