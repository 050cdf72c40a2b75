# What each sanitizer build runs (docs/sanitizers.md says why). A sanitizer build
# (CRTOKEN_SANITIZE) registers only these test programs, labels their tests `sanitized`, and
# builds them with the binaries under the target crtoken_sanitizer_suite; every other test
# program is left unbuilt (EXCLUDE_FROM_ALL).

# address,undefined: the unit tests of the code that parses and holds outside data and memory
# (the planner and reconcile pass, the spec loader, the registry client, both secret sinks, the
# Kubernetes client and elector, the replay of every input a fuzzer ever crashed on) and the
# one-shot commands end to end (plan, apply, validate, ownership, a hostile server) with the
# ASan-built crtoken and crtoken-emulator. The libFuzzer targets run under ASan and UBSan too
# (make test-fuzz), over every parser. Left out, to keep CI within its budget: the daemon's
# end-to-end programs and the controller, server and watcher units (the TSan build runs them),
# the end-to-end programs whose subject is a foreign program (skopeo with docker-registry, a real
# Prometheus) or a bound on memory (local_safety_e2e_test and spec_safety_e2e_test assert peak
# RSS, which ASan's shadow memory inflates several times over), and the other one-shot e2e
# programs, which drive the code paths of those kept.
set(CRTOKEN_SANITIZER_SUITE_address
    reconciler_test specs_test registry_unit_test sinks_test kube_test fuzz_regressions_test
    plan_apply_e2e_test validate_cli_test ownership_e2e_test hostile_server_e2e_test)

# thread: the code that shares memory between threads: the work queue, parallel_for and the
# reconcile pass (reconciler_test), the cpprest pool (common_test), the spec watcher
# (specs_test), the Lease and the leader elector (kube_test), the controller, the health and
# metrics server and leadership (app_test), the emulator's server (emulator_test), and the daemon
# end to end (`crtoken run` built with TSan, against the TSan-built emulator).
set(CRTOKEN_SANITIZER_SUITE_thread
    reconciler_test common_test specs_test kube_test app_test emulator_test
    daemon_e2e_test status_from_daemon_e2e_test leader_election_e2e_test)

if(CRTOKEN_SANITIZE STREQUAL "address,undefined")
  set(CRTOKEN_SANITIZER_SUITE ${CRTOKEN_SANITIZER_SUITE_address})
elseif(CRTOKEN_SANITIZE STREQUAL "thread")
  set(CRTOKEN_SANITIZER_SUITE ${CRTOKEN_SANITIZER_SUITE_thread})
elseif(CRTOKEN_SANITIZE)
  message(FATAL_ERROR "CRTOKEN_SANITIZE=${CRTOKEN_SANITIZE}: address,undefined or thread")
endif()
if(CRTOKEN_SANITIZE)
  add_custom_target(crtoken_sanitizer_suite)
  add_dependencies(crtoken_sanitizer_suite crtoken crtoken-emulator ${CRTOKEN_SANITIZER_SUITE})
endif()
