// FakeWallClock: the wall clock of the crtoken processes a test starts, moved forward under
// libfaketime while their monotonic clock stays real. Every process started with Env() reads one
// timestamp file ("+SECONDS", re-read at each call: FAKETIME_NO_CACHE); Set() replaces it
// atomically (a rename), so a process never reads half a value. AdvanceWith() moves the
// emulator's clock (POST /_emulator/clock) by the same amount first, so both sides agree on
// "now" up to the moment between the two steps. Header-only.
//
// A process that sleeps on its monotonic clock does not notice a jump until it reads its wall
// clock again (its next pass). Available() is false where libfaketime is not installed (Debian
// package faketime; `make deps`): the caller skips, or runs without moving time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "tests/support/emulator_process.h"

namespace crtoken::test {

class FakeWallClock {
 public:
  static constexpr char kLibrary[] = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
  static bool Available() { return std::filesystem::exists(kLibrary); }

  // The timestamp file `file` is written at once, at offset 0.
  explicit FakeWallClock(std::filesystem::path file) : file_(std::move(file)) { Set(0); }

  // The environment that runs a process under this clock.
  std::map<std::string, std::string> Env() const {
    return {{"LD_PRELOAD", kLibrary},
            {"FAKETIME_TIMESTAMP_FILE", file_.string()},
            {"FAKETIME_NO_CACHE", "1"},
            {"FAKETIME_DONT_FAKE_MONOTONIC", "1"},
            {"NO_FAKE_STAT", "1"}};
  }

  // The processes' wall clock is now `seconds` ahead of the real one.
  void Set(int64_t seconds) {
    offset_ = seconds;
    const std::filesystem::path tmp = file_.string() + ".tmp";
    std::ofstream(tmp) << "+" << seconds << "\n";
    std::filesystem::rename(tmp, file_);
  }
  int64_t offset() const { return offset_; }

  // Moves the emulator's clock and this one forward by `seconds` (> 0).
  void AdvanceWith(const EmulatorProcess& emu, int64_t seconds) {
    emu.AdvanceClock(seconds);
    Set(offset_ + seconds);
  }

 private:
  std::filesystem::path file_;
  int64_t offset_ = 0;
};

}  // namespace crtoken::test
