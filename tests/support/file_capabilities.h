// Tests run as root here, and root reads and writes through any permission bits. To test what a
// chmod'ed directory or file does to crtoken, WithoutFileCapabilities takes CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH out of the calling thread's effective set while it lives (capabilities are
// per thread: the code under test must run on this thread). Header-only; Linux only.
#pragma once

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace crtoken::test {

class WithoutFileCapabilities {
 public:
  WithoutFileCapabilities() {
    if (::geteuid() != 0) {
      ok_ = true;  // permissions apply anyway
      return;
    }
    header_.version = _LINUX_CAPABILITY_VERSION_3;
    if (::syscall(SYS_capget, &header_, saved_) != 0) return;
    __user_cap_data_struct reduced[2] = {saved_[0], saved_[1]};
    reduced[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    ok_ = ::syscall(SYS_capset, &header_, reduced) == 0;
    dropped_ = ok_;
  }
  ~WithoutFileCapabilities() {
    if (dropped_) ::syscall(SYS_capset, &header_, saved_);
  }
  WithoutFileCapabilities(const WithoutFileCapabilities&) = delete;
  WithoutFileCapabilities& operator=(const WithoutFileCapabilities&) = delete;
  // False when the capabilities could not be dropped: the test should skip.
  bool ok() const { return ok_; }

 private:
  __user_cap_header_struct header_{};
  __user_cap_data_struct saved_[2]{};
  bool ok_ = false;
  bool dropped_ = false;
};

// For a process that will exec crtoken (a child between fork and exec, or a thread about to fork
// one): takes CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of the calling thread's bounding set,
// for good, so that what it execs is bound by file permissions even as root (an exec as root gets
// back every capability of the bounding set, whatever the effective set was). Only system calls:
// safe after fork. False when it is not possible (the test should skip).
inline bool DropFileCapabilitiesForExec() {
  if (::geteuid() != 0) return true;
  return ::prctl(PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, 0, 0, 0) == 0 &&
         ::prctl(PR_CAPBSET_DROP, CAP_DAC_READ_SEARCH, 0, 0, 0) == 0;
}

}  // namespace crtoken::test
