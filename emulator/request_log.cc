#include "emulator/request_log.h"

namespace crtoken::emulator {

void RequestLog::Add(RequestRecord record) {
  std::lock_guard<std::mutex> lock(mu_);
  records_.push_back(std::move(record));
}

void RequestLog::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  records_.clear();
}

std::vector<RequestRecord> RequestLog::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return records_;
}

nlohmann::ordered_json RequestLog::ToJson() const {
  std::lock_guard<std::mutex> lock(mu_);
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& r : records_) {
    out.push_back({{"method", r.method}, {"path", r.path}, {"status", r.status}});
  }
  return out;
}

}  // namespace crtoken::emulator
