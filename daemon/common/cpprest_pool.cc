#include "daemon/common/cpprest_pool.h"

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (via pplx) uses std::exchange unincluded
#include <pplx/threadpool.h>
// clang-format on

#include <openssl/ssl.h>

#include <mutex>
#include <stdexcept>

namespace crtoken {

void SizeCpprestPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    // First, so that OpenSSL's exit handler is registered before the pool's destructor and runs
    // after it (cpprest_pool.h). A failure here shows again, with its reason, on the first TLS
    // connection.
    OPENSSL_init_ssl(0, nullptr);
    try {
      crossplat::threadpool::initialize_with_threads(2);
    } catch (const std::exception&) {
      // Already made, by an earlier request of this process: it keeps its size.
    }
  });
}

}  // namespace crtoken
