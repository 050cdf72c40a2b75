// The cpprest pool and OpenSSL at exit (daemon/common/cpprest_pool.h): a pool thread still using
// OpenSSL when the process exits (as one freeing a TLS connection after a failed handshake) finds
// OpenSSL whole until it is joined. Before, OpenSSL could clean up first, and the thread then
// waited forever on a destroyed lock while the exit waited for the thread.
#include "daemon/common/cpprest_pool.h"

// clang-format off
#include <utility>  // first: boost/asio/awaitable.hpp (via pplx) uses std::exchange unincluded
#include <pplx/threadpool.h>
// clang-format on

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <thread>

namespace crtoken {
namespace {

// In a fresh process (the death test re-runs this binary): a pool thread starts using OpenSSL, the
// process exits while it still does, and the thread checks that OpenSSL has not been cleaned up
// under it (OPENSSL_init_ssl fails once OPENSSL_cleanup has run). Exit code 0: it had not.
TEST(CpprestPoolDeathTest, OpenSslOutlivesThePoolThreadsAtExit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        SizeCpprestPool();
        std::promise<void> started;
        std::future<void> running = started.get_future();
        crossplat::threadpool::shared_instance().service().post([&started] {
          // OpenSSL in use on a pool thread, as by a TLS connection.
          if (OPENSSL_init_ssl(0, nullptr) != 1) ::_exit(3);
          started.set_value();
          // Still in use when main has returned and the exit handlers run.
          std::this_thread::sleep_for(std::chrono::milliseconds(300));
          if (OPENSSL_init_ssl(0, nullptr) != 1) ::_exit(4);
        });
        running.wait();
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace crtoken
