// The log of API requests served (GET /_emulator/requests).
#pragma once

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace crtoken::emulator {

struct RequestRecord {
  std::string method;
  std::string path;  // as requested, with its query string
  int status = 0;    // 0 = the connection was reset without an answer
};

// Thread-safe.
class RequestLog {
 public:
  void Add(RequestRecord record);
  void Clear();
  std::vector<RequestRecord> Snapshot() const;
  nlohmann::ordered_json ToJson() const;

 private:
  mutable std::mutex mu_;
  std::vector<RequestRecord> records_;
};

}  // namespace crtoken::emulator
