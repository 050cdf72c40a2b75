# What each sanitizer build runs (docs/sanitizers.md says why). A sanitizer build
# (CRTOKEN_SANITIZE) registers only these test programs, labels their tests `sanitized`, and
# builds them with the binaries under the target crtoken_sanitizer_suite; every other test
# program is left unbuilt (EXCLUDE_FROM_ALL).

# address,undefined: every C++ test program of our code, units and end to end (the e2e programs
# run the ASan-built crtoken and crtoken-emulator of the same build), except the two where a
# foreign program does the work and crtoken's part is covered elsewhere: skopeo with
# docker-registry (registry_consumer_e2e_test) and a real Prometheus evaluating the alert rules
# (prometheus_alerts_e2e_test).
set(CRTOKEN_SANITIZER_SUITE_address
    reconciler_test common_test specs_test registry_unit_test registry_raw_test
    registry_emulator_test registry_paging_test registry_wait_test sinks_test kube_test app_test
    emulator_test registry_api_contract_test secret_sink_contract_test
    plan_apply_e2e_test local_safety_e2e_test paging_gap_e2e_test foreign_secret_e2e_test
    spec_safety_e2e_test hostile_server_e2e_test validate_cli_test daemon_e2e_test
    spec_utf8_name_e2e_test status_e2e_test ownership_e2e_test progress_e2e_test
    status_from_daemon_e2e_test leader_election_e2e_test)

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
