// A tiny blocking HTTP/1.1 client over POSIX sockets, for tests and benchmarks (no cpprest, so
// tests compile fast and never share an HTTP stack with the client under test).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace crtoken::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpResult {
  int status = 0;                              // 0 = no response (see error)
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string error;  // why there is no response: "connection reset", "connection refused", ...

  // The header's value or "" (name in any case).
  std::string Header(const std::string& name) const;
};

// One request on a fresh connection ("Connection: close"). `url` is http://HOST:PORT/PATH?QUERY.
// A Content-Length header is sent whenever body is non-empty or the method is POST/PUT/PATCH.
HttpResult HttpCall(const std::string& method, const std::string& url, const Headers& headers = {},
                    const std::string& body = "", int timeout_ms = 30000);

// A keep-alive connection to one host:port; reconnects when the server closed it. Not
// thread-safe: one per thread.
class HttpConnection {
 public:
  HttpConnection(std::string host, uint16_t port, int timeout_ms = 30000);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // `target` is the path with its query string, e.g. "/containerregistries/registries".
  HttpResult Call(const std::string& method, const std::string& target, const Headers& headers = {},
                  const std::string& body = "");

 private:
  std::string host_;
  uint16_t port_;
  int timeout_ms_;
  int fd_ = -1;
};

// Splits http://HOST:PORT/PATH into its parts. False when `url` is not of that form.
bool SplitUrl(const std::string& url, std::string* host, uint16_t* port, std::string* target);

// A port that was free a moment ago (bind port 0 on 127.0.0.1, read it, close).
uint16_t FreePort();

// "Basic base64(user:password)".
std::string BasicAuth(const std::string& user, const std::string& password);

}  // namespace crtoken::test
