// HttpServer framing over raw sockets: keep-alive, pipelining, chunked bodies, 100-continue,
// HEAD, Connection: close.
#include "emulator/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace crtoken::emulator {
namespace {

class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  ~RawSocket() { ::close(fd_); }
  void Send(const std::string& s) {
    ASSERT_EQ(::send(fd_, s.data(), s.size(), 0), (ssize_t)s.size());
  }
  // Reads until `needle` has been seen `times` times (or EOF).
  std::string ReadUntil(const std::string& needle, int times = 1) {
    std::string out;
    char buf[4096];
    auto count = [&] {
      int n = 0;
      for (size_t p = out.find(needle); p != std::string::npos; p = out.find(needle, p + 1)) ++n;
      return n;
    };
    while (count() < times) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      out.append(buf, n);
    }
    return out;
  }
  std::string ReadAll() {
    std::string out;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd_, buf, sizeof(buf), 0)) > 0;) out.append(buf, n);
    return out;
  }

 private:
  int fd_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<HttpServer>([](const HttpRequest& req, HttpResponse* resp) {
      resp->headers.emplace_back("Content-Type", "text/plain");
      resp->body = req.method + " " + req.path + " q=" + req.query + " body=" + req.body + "|";
      if (req.path == "/empty") resp->status = 204;
    });
    std::string error;
    ASSERT_TRUE(server_->Start("127.0.0.1", 0, &error)) << error;
  }
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, PipelinedKeepAliveRequests) {
  RawSocket s(server_->port());
  s.Send(
      "GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
  std::string out = s.ReadUntil("|", 2);
  EXPECT_NE(out.find("GET /a b q=x=1 body=|"), std::string::npos) << out;
  EXPECT_NE(out.find("POST /p q= body=abc|"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos);
}

TEST_F(HttpServerTest, ChunkedRequestBody) {
  RawSocket s(server_->port());
  s.Send("PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  EXPECT_NE(s.ReadUntil("|").find("body=abcde|"), std::string::npos);
}

TEST_F(HttpServerTest, ExpectContinue) {
  RawSocket s(server_->port());
  s.Send("POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_NE(s.ReadUntil("\r\n\r\n").find("HTTP/1.1 100 Continue"), std::string::npos);
  s.Send("hi");
  EXPECT_NE(s.ReadUntil("|").find("body=hi|"), std::string::npos);
}

TEST_F(HttpServerTest, HeadSendsHeadersOnlyAnd204HasNoLength) {
  RawSocket s(server_->port());
  s.Send("HEAD /h HTTP/1.1\r\n\r\nGET /empty HTTP/1.1\r\nConnection: close\r\n\r\n");
  std::string out = s.ReadAll();
  EXPECT_NE(out.find("HTTP/1.1 200 OK"), std::string::npos);
  EXPECT_EQ(out.find("HEAD /h"), std::string::npos);  // no body for HEAD
  size_t no_content = out.find("HTTP/1.1 204 No Content");
  ASSERT_NE(no_content, std::string::npos);
  EXPECT_EQ(out.find("Content-Length", no_content), std::string::npos);
  EXPECT_NE(out.find("Connection: close", no_content), std::string::npos);
}

TEST_F(HttpServerTest, MalformedContentLengthIs400AndCloses) {
  RawSocket s(server_->port());
  s.Send("POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n");
  std::string out = s.ReadAll();
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out;
  EXPECT_NE(out.find("\"httpStatus\":400"), std::string::npos);
}

TEST_F(HttpServerTest, StopClosesIdleConnections) {
  RawSocket s(server_->port());
  s.Send("GET / HTTP/1.1\r\n\r\n");
  s.ReadUntil("|");
  server_->Stop();  // must not hang on the idle keep-alive connection
  EXPECT_EQ(s.ReadAll(), "");
}

TEST(HttpServerBindTest, RefusesABusyPort) {
  HttpServer a([](const HttpRequest&, HttpResponse*) {});
  std::string error;
  ASSERT_TRUE(a.Start("127.0.0.1", 0, &error));
  HttpServer b([](const HttpRequest&, HttpResponse*) {});
  EXPECT_FALSE(b.Start("127.0.0.1", a.port(), &error));
  EXPECT_NE(error.find("bind"), std::string::npos);
}

}  // namespace
}  // namespace crtoken::emulator
