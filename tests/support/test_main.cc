// The main of every GoogleTest program here.
//
// spdlog's registry (the default logger) is a function-local static inside libspdlog.so. crtoken's
// own main builds it on the main thread before any other thread exists (ConfigureLogging in
// daemon/app/logging.cc); a test that logs first from worker threads (the reconcile pass's
// parallel actions) would build it there, and ThreadSanitizer cannot see the guard of that
// initialisation, because the library is not instrumented: it reports a race that is not one.
// Building the registry here, as crtoken does, gives every test the order of the real program.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  spdlog::default_logger();
  ::testing::InitGoogleMock(&argc, argv);
  return RUN_ALL_TESTS();
}
