// A scripted HTTP/1.1 server on a loopback socket, for what the emulator cannot do: answer with
// garbage, drop a connection at a precise point, or record the exact headers a client sent.
// Each request takes the next scripted reply (or the default one when the script is empty).
// Connections are kept alive until the client closes them or a reply says otherwise.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace crtoken::test {

struct RawReply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool reset = false;  // close the connection without answering (RST)
  int delay_ms = 0;    // wait before answering
  std::string raw;     // when set, sent verbatim instead of a formatted response
  // After the status line and headers (Transfer-Encoding: chunked), body chunks without end
  // until the client hangs up or the server stops: a flood.
  bool endless = false;
  // The body without a Content-Length, ended by closing the connection.
  bool close_delimited = false;
};

struct RawRequest {
  std::string method;
  std::string target;                          // path with query
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  int connection = 0;  // the index of the TCP connection it came on
};

// A self-signed certificate for 127.0.0.1 (SAN IP:127.0.0.1, CA:TRUE, EC P-256), written as PEM
// files into `dir`: it is its own CA, so a client trusts it through --ca-file.
struct TestCert {
  std::string cert_file;
  std::string key_file;
};
TestCert MakeSelfSignedCert(const std::string& dir);

class RawHttpServer {
 public:
  RawHttpServer();  // binds 127.0.0.1 on a port the kernel picks and starts serving
  explicit RawHttpServer(const TestCert& tls);  // the same over TLS (https://)
  // Binds another loopback address (e.g. "127.0.0.2": a second host for redirect tests).
  explicit RawHttpServer(const std::string& address);
  ~RawHttpServer();
  int port() const { return port_; }
  std::string url() const {
    return std::string(ssl_ctx_ != nullptr ? "https" : "http") + "://" + address_ + ":" +
           std::to_string(port_);
  }

  void Script(std::vector<RawReply> replies);
  void SetDefault(RawReply reply);
  std::vector<RawRequest> Requests();
  int Connections() const { return connections_.load(); }
  // Body bytes sent by `endless` replies so far, and how many of them are still sending.
  int64_t EndlessBytesSent() const { return endless_bytes_.load(); }
  int EndlessActive() const { return endless_active_.load(); }

  static RawReply Json(int status, std::string body);

 private:
  void AcceptLoop();
  void Start();
  void Serve(int fd, int connection);
  void ServeConnection(int fd, void* ssl, int connection);
  void Close(int fd);
  RawReply Next();

  void* ssl_ctx_ = nullptr;  // SSL_CTX* when serving TLS
  std::string address_ = "127.0.0.1";
  std::atomic<int64_t> endless_bytes_{0};
  std::atomic<int> endless_active_{0};
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::deque<RawReply> script_;
  RawReply default_;
  std::vector<RawRequest> requests_;
  std::vector<std::thread> workers_;
  std::vector<int> fds_;
};

}  // namespace crtoken::test
