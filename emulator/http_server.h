// A small HTTP/1.1 server on plain POSIX sockets, written for a test instrument: it answers
// byte-exactly what the handler returns, can drop a connection without an answer (RST), and
// serves each connection on its own thread with keep-alive.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace crtoken::emulator {

struct HttpRequest {
  std::string method;
  std::string version;                         // "HTTP/1.1"
  std::string target;                          // as sent: path plus query string
  std::string path;                            // percent-decoded path without the query
  std::string query;                           // raw query string without '?'
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  // The header's value, or "" when absent. `name` must be lower case.
  const std::string& Header(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // besides the framing headers
  std::string body;
  // When true the server sends nothing and resets the connection (SO_LINGER 0).
  bool reset = false;
};

// Called on the connection's thread; must be thread-safe (connections run concurrently).
using HttpHandler = std::function<void(const HttpRequest&, HttpResponse*)>;

// The largest request head (request line and headers) and body the server reads.
inline constexpr size_t kMaxRequestHeadBytes = 64 * 1024;
inline constexpr size_t kMaxRequestBodyBytes = 16 * 1024 * 1024;

// Where a connection's bytes come from: appends what arrives next to *buf; false when the stream
// ended (or failed) and nothing was appended.
using ReadMore = std::function<bool(std::string* buf)>;

// Reads the next request of a connection into *req (HTTP/1.1: Content-Length or chunked bodies).
// `buf` holds what was received and not consumed yet: the request's bytes are removed from it,
// what follows them stays there for the next request. `on_continue` (may be empty) is called for
// "Expect: 100-continue" before the body is read. Returns 0 for a request; -1 when the stream
// ended before a request was complete (nothing to answer); or the status to answer with before
// closing the connection: 400 (no request line, a bad Content-Length), 413 (a body over
// kMaxRequestBodyBytes), 431 (a head over kMaxRequestHeadBytes).
int ReadRequest(std::string* buf, const ReadMore& read_more,
                const std::function<void()>& on_continue, HttpRequest* req);

// The reason phrase for a status code ("Unknown" for codes it does not know).
const char* ReasonPhrase(int status);

class HttpServer {
 public:
  explicit HttpServer(HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (host must be an IPv4 literal; port 0 picks one) and starts accepting.
  // Returns false and fills *error when the address cannot be bound.
  bool Start(const std::string& host, uint16_t port, std::string* error);
  // The bound port (after Start).
  uint16_t port() const { return port_; }
  // Stops accepting, shuts every open connection down and joins all threads. Idempotent.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);

  HttpHandler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::set<int> open_fds_;  // connections being served (each on a detached thread)
  int active_ = 0;
};

}  // namespace crtoken::emulator
