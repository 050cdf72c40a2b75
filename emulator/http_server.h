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
