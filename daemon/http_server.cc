#include "daemon/http_server.h"

#include <CivetServer.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>

#include <functional>

namespace crtoken {
namespace {

void Respond(mg_connection* conn, int status, const std::string& content_type,
             const std::string& body) {
  const char* reason = status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Error";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, reason, content_type.c_str(), body.size());
  mg_write(conn, body.data(), body.size());
}

class FunctionHandler : public CivetHandler {
 public:
  using Fn = std::function<void(mg_connection*)>;
  explicit FunctionHandler(Fn fn) : fn_(std::move(fn)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    fn_(conn);
    return true;
  }
  bool handleHead(CivetServer*, mg_connection* conn) override {
    fn_(conn);
    return true;
  }

 private:
  Fn fn_;
};

int FirstPort(const std::vector<int>& ports) { return ports.empty() ? 0 : ports.front(); }

}  // namespace

std::string HttpServer::CivetAddress(const std::string& host_port) {
  if (!host_port.empty() && host_port[0] == ':') return host_port.substr(1);
  return host_port;
}

HttpServer::~HttpServer() {
  // Stop serving before the handlers go away.
  health_.reset();
  exposer_.reset();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(
    const std::string& metrics_addr, const std::string& health_addr,
    std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->registry_ = registry;
  const bool shared = metrics_addr == health_addr;
  if (!shared) {
    try {
      server->exposer_ = std::make_unique<prometheus::Exposer>(std::vector<std::string>{
          "listening_ports", CivetAddress(metrics_addr), "num_threads", "2"});
      server->exposer_->RegisterCollectable(registry);
      server->metrics_port_ = FirstPort(server->exposer_->GetListeningPorts());
    } catch (const std::exception& e) {
      return Error{ErrorKind::kInvalid,
                   "cannot serve metrics on --metrics-addr " + metrics_addr + ": " + e.what()};
    }
  }
  HttpServer* self = server.get();
  try {
    server->health_ = std::make_unique<CivetServer>(
        std::vector<std::string>{"listening_ports", CivetAddress(health_addr), "num_threads", "2"});
  } catch (const std::exception& e) {
    return Error{ErrorKind::kInvalid,
                 "cannot serve health on --health-addr " + health_addr + ": " + e.what()};
  }
  if (server->health_->getContext() == nullptr) {
    return Error{ErrorKind::kInvalid, "cannot serve health on --health-addr " + health_addr};
  }
  auto add = [&](const std::string& uri, FunctionHandler::Fn fn) {
    server->handlers_.push_back(std::make_unique<FunctionHandler>(std::move(fn)));
    server->health_->addHandler(uri, server->handlers_.back().get());
  };
  add("/healthz$", [](mg_connection* c) { Respond(c, 200, "text/plain", "ok\n"); });
  add("/readyz$", [self](mg_connection* c) {
    if (self->ready_) {
      Respond(c, 200, "text/plain", "ready\n");
    } else {
      Respond(c, 503, "text/plain", "not ready: the first reconcile pass has not finished\n");
    }
  });
  if (shared) {
    add("/metrics$", [self](mg_connection* c) {
      prometheus::TextSerializer serializer;
      Respond(c, 200, "text/plain; version=0.0.4",
              serializer.Serialize(self->registry_->Collect()));
    });
  }
  server->health_port_ = FirstPort(server->health_->getListeningPorts());
  if (shared) server->metrics_port_ = server->health_port_;
  return server;
}

}  // namespace crtoken
