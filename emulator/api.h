// The emulator's request handling: admin endpoints under /_emulator/, fault rules, auth, and
// the Container Registry API under /containerregistries/ (routing, validation, rendering).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "emulator/clock.h"
#include "emulator/faults.h"
#include "emulator/http_server.h"
#include "emulator/options.h"
#include "emulator/request_log.h"
#include "emulator/store.h"

namespace crtoken::emulator {

// Thread-safe: Handle() may run on many connections at once.
class Emulator {
 public:
  explicit Emulator(EmulatorOptions options);

  // Answers one HTTP request (the HttpServer's handler).
  void Handle(const HttpRequest& req, HttpResponse* resp);

  Store& store() { return store_; }
  EmulatorClock& clock() { return clock_; }
  FaultRules& faults() { return faults_; }
  RequestLog& requests() { return log_; }
  const EmulatorOptions& options() const { return options_; }

 private:
  void HandleAdmin(const HttpRequest& req, HttpResponse* resp);
  void HandleApi(const HttpRequest& req, HttpResponse* resp);
  // GET /v2/: a registry's login check (Store::CheckLogin).
  void HandleLogin(const HttpRequest& req, HttpResponse* resp);
  // Checks the Authorization header; fills *caller on success.
  bool Authorize(const HttpRequest& req, Caller* caller) const;

  EmulatorOptions options_;
  EmulatorClock clock_;
  Store store_;
  FaultRules faults_;
  RequestLog log_;
  // API requests being answered (a delayed one counts during its delay); GET /_emulator/inflight.
  std::atomic<int> in_flight_{0};
};

// An Emulator served on loopback: for in-process tests and benchmarks.
class EmulatorServer {
 public:
  explicit EmulatorServer(EmulatorOptions options);
  ~EmulatorServer();
  // Binds options.host:options.port (0 = any free port). False with *error on failure.
  bool Start(std::string* error);
  void Stop();
  uint16_t port() const { return server_.port(); }
  Emulator& emulator() { return *emulator_; }

 private:
  std::unique_ptr<Emulator> emulator_;
  HttpServer server_;
};

}  // namespace crtoken::emulator
