// Runs the real crtoken-emulator binary for a test, on a free loopback port, and drives its
// admin endpoints (/_emulator/state, /_emulator/requests, /_emulator/faults).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/http_client.h"

namespace crtoken::test {

// Where the emulator binary is: $CRTOKEN_EMULATOR_BINARY, else
// CRTOKEN_BINARY_DIR/emulator/crtoken-emulator.
std::string EmulatorBinaryPath();

struct RequestEntry {
  std::string method;
  std::string path;  // with the query string
  int status = 0;    // 0 = connection reset by a fault rule
};

class EmulatorProcess {
 public:
  // Starts `crtoken-emulator --listen 127.0.0.1:PORT ARGS...` (PORT picked free) and waits until
  // it answers. Throws std::runtime_error when it does not start. The emulator is killed when
  // the thread that created this object ends (PR_SET_PDEATHSIG), so create it on the thread
  // that outlives its use (the test body), not on a short-lived worker thread.
  explicit EmulatorProcess(std::vector<std::string> args = {});
  // Stops it (SIGTERM, then SIGKILL) and reaps it.
  ~EmulatorProcess();
  EmulatorProcess(const EmulatorProcess&) = delete;
  EmulatorProcess& operator=(const EmulatorProcess&) = delete;

  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  // "http://127.0.0.1:PORT/containerregistries": the API base URL (append nothing else).
  std::string base_url() const;
  // "http://127.0.0.1:PORT": for /_emulator/ admin calls.
  std::string root_url() const;

  // GET /_emulator/requests.
  std::vector<RequestEntry> Requests() const;
  // DELETE /_emulator/requests.
  void ClearRequests() const;
  // GET /_emulator/state, parsed.
  nlohmann::json StateJson() const;
  // POST /_emulator/faults; returns the stored rule (with its id). Throws on a 4xx.
  nlohmann::json AddFault(const nlohmann::json& rule) const;
  // DELETE /_emulator/faults.
  void ClearFaults() const;
  // POST /_emulator/clock {"advanceSeconds": seconds}.
  void AdvanceClock(int64_t seconds) const;
  // GET /_emulator/inflight: the API requests being answered now (delayed ones included).
  int InFlight() const;
  // The id of the registry named `name` (from the state); throws when there is none.
  std::string RegistryId(const std::string& name) const;
  // The token named `name` as the state shows it ({"id", "name", "password", ...}), in the
  // registry named `registry` (any registry when ""); null when there is none.
  nlohmann::json Token(const std::string& name, const std::string& registry = "") const;

 private:
  HttpResult Admin(const std::string& method, const std::string& path,
                   const std::string& body = "") const;

  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace crtoken::test
