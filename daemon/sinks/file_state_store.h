// FileStateStore: the ownership records in one JSON file, <state-dir>/ownership.json, mode 0600,
// rewritten atomically and durably on every mutation (temp file, fsync, rename, directory fsync).
// The records are kept in memory; Load returns that copy. Each mutation is one write, so PutAll and
// RemoveAll make a batch cost one fsync'd rewrite, whatever its size.
//
// The file is read once, by Open. A missing file (or state dir) means "nothing owned yet"; an
// unreadable or corrupt file is an error (never "nothing owned": that would orphan every token).
// The state dir is created (0700) on the first write only, so a read-only `crtoken plan` leaves no
// trace. An exclusive advisory lock (flock on <state-dir>/lock) is taken on the first write, so two
// writing processes never share one state dir.
//
// Thread-safe; never throws.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/common/file_ops.h"
#include "daemon/sinks/ownership_record.h"

namespace crtoken {

class FileStateStore : public StateStore {
 public:
  static constexpr char kFileName[] = "ownership.json";

  // Reads <state_dir>/ownership.json if it exists. `ops` defaults to the real file system.
  static Result<std::unique_ptr<FileStateStore>> Open(const std::string& state_dir,
                                                      FileOps* ops = nullptr);
  ~FileStateStore() override;

  Result<std::vector<OwnershipRecord>> Load() override;
  Status Put(const OwnershipRecord& record) override;
  Status PutAll(const std::vector<OwnershipRecord>& records) override;
  Status Remove(const TokenKey& key) override;
  Status RemoveAll(const std::vector<TokenKey>& keys) override;

  // The serialized form (for tests and the bench).
  static std::string Serialize(const std::map<TokenKey, OwnershipRecord>& records);
  static Result<std::map<TokenKey, OwnershipRecord>> Parse(const std::string& content,
                                                           const std::string& path);

 private:
  FileStateStore(std::string state_dir, FileOps* ops)
      : state_dir_(std::move(state_dir)), ops_(ops) {}
  // Writes `next` durably, then makes it the in-memory state. Caller holds mu_.
  Status Commit(std::map<TokenKey, OwnershipRecord> next);

  std::string state_dir_;
  FileOps* ops_;
  std::mutex mu_;
  std::map<TokenKey, OwnershipRecord> records_;
  int lock_fd_ = -1;
};

}  // namespace crtoken
