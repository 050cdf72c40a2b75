// The daemon's HTTP endpoints:
//   --metrics-addr: /metrics, the Prometheus text format, served by prometheus-cpp's Exposer;
//   --health-addr:  /healthz (200 while the process runs) and /readyz (200 once the first full
//                   reconcile pass finished, 503 before), served by civetweb.
//                   And /status: the status document (status_view.h: each declared token's state
//                   after the last passes, never a secret) as application/json, once SetStatus
//                   gave its source; 503 before.
// When both addresses are the same, one server serves all three paths.
//
// Addresses are HOST:PORT; ":PORT" listens on every interface. Port 0 picks a free port (see
// metrics_port() / health_port()).
//
// Thread-safety: SetReady may be called from any thread; requests are served on civetweb's threads.
#pragma once

#include <prometheus/registry.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "reconciler/error.h"

class CivetServer;
class CivetHandler;
namespace prometheus {
class Exposer;
}

namespace crtoken {

class HttpServer {
 public:
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds both addresses. An error (kInvalid) names the address that could not be bound.
  static Result<std::unique_ptr<HttpServer>> Start(const std::string& metrics_addr,
                                                   const std::string& health_addr,
                                                   std::shared_ptr<prometheus::Registry> registry);

  void SetReady(bool ready) { ready_ = ready; }
  // The source of GET /status's body, called on a server thread for each request (503 while there
  // is none). SetStatus(nullptr) returns once no call of the previous source is running: call it
  // before what the source reads goes away.
  void SetStatus(std::function<std::string()> document);
  bool ready() const { return ready_; }
  int metrics_port() const { return metrics_port_; }
  int health_port() const { return health_port_; }

  // "127.0.0.1:9464" -> "127.0.0.1:9464"; ":9464" -> "9464" (civetweb's form for every interface).
  static std::string CivetAddress(const std::string& host_port);

 private:
  HttpServer() = default;

  std::atomic<bool> ready_{false};
  std::mutex status_mu_;
  std::function<std::string()> status_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<CivetServer> health_;
  std::vector<std::unique_ptr<CivetHandler>> handlers_;
  int metrics_port_ = 0;
  int health_port_ = 0;
};

}  // namespace crtoken
