// The sanitizer runtimes' defaults for every executable of a sanitizer build (CRTOKEN_SANITIZE;
// docs/sanitizers.md), compiled in rather than passed in the environment: the tests start
// `crtoken` with a clean environment, and a report must still stop it. The first report ends the
// process with a non-zero status, so the test that ran it fails; the environment variables
// (ASAN_OPTIONS, ...) still override these. The suppression files next to this one name each
// third-party report they silence and why. disable_coredump=0: the runtimes otherwise lower
// RLIMIT_CORE to 0 at start, and `crtoken run --allow-core-dumps` must keep the limits it was
// started with (their shadow memory is left out of a core either way).

#ifndef CRTOKEN_SANITIZER_DIR
#error "CRTOKEN_SANITIZER_DIR: the directory of the suppression files"
#endif

#define CRTOKEN_SANITIZER_EXPORT extern "C" __attribute__((visibility("default"), used))

CRTOKEN_SANITIZER_EXPORT const char* __asan_default_options() {
  return "halt_on_error=1:detect_leaks=1:disable_coredump=0:detect_stack_use_after_return=1:"
         "check_initialization_order=1:strict_init_order=1:print_suppressions=0:"
         "suppressions=" CRTOKEN_SANITIZER_DIR "/asan.supp";
}

CRTOKEN_SANITIZER_EXPORT const char* __lsan_default_options() {
  return "print_suppressions=0:suppressions=" CRTOKEN_SANITIZER_DIR "/lsan.supp";
}

CRTOKEN_SANITIZER_EXPORT const char* __ubsan_default_options() {
  return "halt_on_error=1:print_stacktrace=1:print_suppressions=0:"
         "suppressions=" CRTOKEN_SANITIZER_DIR "/ubsan.supp";
}

CRTOKEN_SANITIZER_EXPORT const char* __tsan_default_options() {
  return "halt_on_error=1:second_deadlock_stack=1:history_size=5:disable_coredump=0:"
         "print_suppressions=0:"
         "suppressions=" CRTOKEN_SANITIZER_DIR "/tsan.supp";
}
