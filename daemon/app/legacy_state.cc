#include "daemon/app/legacy_state.h"

#include <fcntl.h>

#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>

namespace crtoken {
namespace {

using Phase = LegacyRecord::Phase;
using nlohmann::json;

constexpr int kFormatVersion = 1;

// A record took ~200 bytes: this is over a million records, and a bound on what a misplaced file
// (a FIFO, a device, a huge sparse file) can make the startup read.
constexpr size_t kMaxStateFileBytes = size_t{256} << 20;

std::optional<std::string> BytesOfHex(const std::string& hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = digit(hex[i]);
    const int lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace

const char* LegacyPhaseName(Phase phase) {
  switch (phase) {
    case Phase::kCreating:
      return "creating";
    case Phase::kCreated:
      return "created";
    case Phase::kReady:
      return "ready";
  }
  return "creating";
}

Result<std::vector<LegacyRecord>> ParseLegacyState(const std::string& content,
                                                   const std::string& path) {
  auto corrupt = [&](const std::string& why) {
    return Error{ErrorKind::kInvalid,
                 "state file " + path + " is corrupt (" + why +
                     "); it records which tokens an earlier crtoken owned, to be migrated: "
                     "restore it from a backup or, if nothing is owned, remove it"};
  };
  json doc = json::parse(content, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return corrupt("not valid JSON");
  if (!doc.is_object()) return corrupt("not a JSON object");
  auto version = doc.find("version");
  if (version == doc.end() || !version->is_number_integer()) return corrupt("no version");
  if (version->get<int>() != kFormatVersion) {
    return corrupt("unknown version " + std::to_string(version->get<int>()));
  }
  auto list = doc.find("records");
  if (list == doc.end() || !list->is_array()) return corrupt("no records list");
  std::map<TokenKey, LegacyRecord> out;
  int index = 0;
  for (const auto& item : *list) {
    const std::string where = "record " + std::to_string(index++);
    if (!item.is_object()) return corrupt(where + " is not an object");
    auto str = [&](const char* field, std::string* value, bool required) -> bool {
      auto it = item.find(field);
      if (it == item.end()) return !required;
      if (!it->is_string()) return false;
      *value = it->get<std::string>();
      return !required || !value->empty();
    };
    LegacyRecord r;
    if (!str("registryId", &r.registry_id, true)) return corrupt(where + ": bad registryId");
    if (!str("registryName", &r.registry_name, false)) return corrupt(where + ": bad registryName");
    if (!str("tokenName", &r.token_name, true)) return corrupt(where + ": bad tokenName");
    if (!str("tokenId", &r.token_id, true)) return corrupt(where + ": bad tokenId");
    if (!str("sourceFile", &r.source_file, false)) return corrupt(where + ": bad sourceFile");
    std::string source_hex;
    if (!str("sourceFileHex", &source_hex, false)) return corrupt(where + ": bad sourceFileHex");
    if (item.contains("sourceFileHex")) {
      auto bytes = BytesOfHex(source_hex);
      if (!bytes) return corrupt(where + ": bad sourceFileHex");
      r.source_file = std::move(*bytes);
    }
    auto gen = item.find("generation");
    if (gen == item.end() || !gen->is_number_integer() || gen->get<long long>() < 0 ||
        gen->get<long long>() > 1000000000) {
      return corrupt(where + ": bad generation");
    }
    r.generation = gen->get<int>();
    std::string phase;
    if (!str("phase", &phase, true)) return corrupt(where + ": bad phase");
    if (phase == "creating") {
      r.phase = Phase::kCreating;
    } else if (phase == "created") {
      r.phase = Phase::kCreated;
    } else if (phase == "ready") {
      r.phase = Phase::kReady;
    } else {
      return corrupt(where + ": unknown phase \"" + phase + "\"");
    }
    auto secret = item.find("secret");
    if (secret == item.end() || !secret->is_object()) return corrupt(where + ": bad secret");
    if (auto f = secret->find("file"); f != secret->end() && f->is_string()) {
      r.secret.kind = SecretRef::Kind::kFile;
      r.secret.file = f->get<std::string>();
    } else if (auto k = secret->find("kubernetes");
               k != secret->end() && k->is_object() && k->contains("namespace") &&
               k->contains("name") && (*k)["namespace"].is_string() && (*k)["name"].is_string()) {
      r.secret.kind = SecretRef::Kind::kKubernetes;
      r.secret.k8s_namespace = (*k)["namespace"].get<std::string>();
      r.secret.k8s_name = (*k)["name"].get<std::string>();
    } else {
      return corrupt(where + ": bad secret");
    }
    if (!out.emplace(r.key(), r).second) {
      return corrupt(where + ": a second record for " + r.registry_id + "/" + r.token_name);
    }
  }
  std::vector<LegacyRecord> records;
  records.reserve(out.size());
  for (auto& [_, r] : out) records.push_back(std::move(r));
  return records;
}

Result<std::optional<std::vector<LegacyRecord>>> ReadLegacyState(const std::string& state_dir,
                                                                 FileOps* ops) {
  if (ops == nullptr) ops = &FileOps::Real();
  const std::string path = state_dir + "/" + kLegacyStateFile;
  ScopedFd dir(ops,
               ops->OpenAt(AT_FDCWD, state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0));
  if (!dir.valid()) {
    if (errno == ENOENT) return std::optional<std::vector<LegacyRecord>>();
    return IoError("cannot open the state dir", state_dir, errno);
  }
  auto content = ReadFileAt(*ops, dir.get(), kLegacyStateFile, path, kMaxStateFileBytes);
  if (!content.ok()) {
    if (content.error().kind == ErrorKind::kNotFound) {
      return std::optional<std::vector<LegacyRecord>>();
    }
    return content.error();
  }
  auto records = ParseLegacyState(content.value(), path);
  if (!records.ok()) return records.error();
  return std::optional<std::vector<LegacyRecord>>(std::move(records.value()));
}

}  // namespace crtoken
