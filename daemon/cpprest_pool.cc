#include "daemon/cpprest_pool.h"

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (via pplx) uses std::exchange unincluded
#include <pplx/threadpool.h>
#include <pplx/pplx.h>
// clang-format on

#include <mutex>
#include <stdexcept>

#include <cstdlib>
namespace crtoken {
namespace {
struct InlineScheduler : pplx::scheduler_interface {
  void schedule(pplx::TaskProc_t proc, void* param) override { proc(param); }
};
}

void SizeCpprestPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("EXP_INLINE")) pplx::set_ambient_scheduler(std::make_shared<InlineScheduler>());
    try {
      crossplat::threadpool::initialize_with_threads(std::getenv("EXP_T") ? std::atoi(std::getenv("EXP_T")) : 2);
    } catch (const std::exception&) {
      // Already made, by an earlier request of this process: it keeps its size.
    }
  });
}

}  // namespace crtoken
