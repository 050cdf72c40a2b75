#include "daemon/common/cpprest_pool.h"

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (via pplx) uses std::exchange unincluded
#include <pplx/threadpool.h>
// clang-format on

#include <mutex>
#include <stdexcept>

namespace crtoken {

void SizeCpprestPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(2);
    } catch (const std::exception&) {
      // Already made, by an earlier request of this process: it keeps its size.
    }
  });
}

}  // namespace crtoken
