// Tests run as root here, and root reads and writes through any permission bits. To test what a
// chmod'ed directory or file does to crtoken, WithoutFileCapabilities takes CAP_DAC_OVERRIDE and
// CAP_DAC_READ_SEARCH out of the calling thread's effective set while it lives (capabilities are
// per thread: the code under test must run on this thread). Header-only; Linux only.
#pragma once

#include <linux/capability.h>
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

}  // namespace crtoken::test
