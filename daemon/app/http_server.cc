#include "daemon/app/http_server.h"

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

// civetweb serves each connection on one worker thread from the moment it is accepted, so a client
// that trickles a request (a header every few seconds) holds a thread for as long as civetweb waits
// for the request to end, 30 s by default: with few threads, a couple of such clients keep
// /healthz from answering the kubelet's probes, which then restart the pod. Each server gets
// enough threads for several slow clients plus the probes and a scrape, a deadline for a whole
// request (headers included), and no keep-alive, so a thread is free again within
// kRequestTimeoutMs whatever a client does.
constexpr char kNumThreads[] = "8";
constexpr char kRequestTimeoutMs[] = "3000";

std::vector<std::string> CivetOptions(const std::string& addr) {
  return {"listening_ports",    HttpServer::CivetAddress(addr),
          "num_threads",        kNumThreads,
          "request_timeout_ms", kRequestTimeoutMs,
          "enable_keep_alive",  "no"};
}

}  // namespace

std::string HttpServer::CivetAddress(const std::string& host_port) {
  if (!host_port.empty() && host_port[0] == ':') return host_port.substr(1);
  return host_port;
}

void HttpServer::SetStatus(std::function<std::string()> document) {
  std::lock_guard<std::mutex> lock(status_mu_);
  status_ = std::move(document);
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
      server->exposer_ = std::make_unique<prometheus::Exposer>(CivetOptions(metrics_addr));
      server->exposer_->RegisterCollectable(registry);
      server->metrics_port_ = FirstPort(server->exposer_->GetListeningPorts());
    } catch (const std::exception& e) {
      return Error{ErrorKind::kInvalid,
                   "cannot serve metrics on --metrics-addr " + metrics_addr + ": " + e.what()};
    }
  }
  HttpServer* self = server.get();
  try {
    server->health_ = std::make_unique<CivetServer>(CivetOptions(health_addr));
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
  add("/status$", [self](mg_connection* c) {
    std::string body;
    {
      // Called under the lock, so that SetStatus(nullptr) returns only once no call is running.
      std::lock_guard<std::mutex> lock(self->status_mu_);
      if (self->status_) body = self->status_() + "\n";
    }
    if (body.empty()) {
      Respond(c, 503, "text/plain", "no status yet\n");
      return;
    }
    Respond(c, 200, "application/json", body);
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
