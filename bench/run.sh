#!/usr/bin/env bash
# make bench: runs every benchmark program that was built and prints its figures.
# Usage: bench/run.sh [BUILD_DIR]   (QUICK=1 for a short run: fewer edits, 5 s idle, no 10k tokens)
set -uo pipefail
build=${1:-build}
status=0

run() {  # run NAME ARGS...
  local bin="$build/bench/$1"
  shift
  if [ -x "$bin" ]; then
    echo
    "$bin" "$@" || { echo "bench: $bin failed"; status=1; }
  else
    echo "bench: $bin not built, skipped"
  fi
}

run planner/plan_bench
if [ "${QUICK:-0}" = 1 ]; then
  run daemon/daemon_bench --edits 20 --idle-seconds 5 --skip-large
else
  run daemon/daemon_bench --edits 50 --idle-seconds 60
fi
exit $status
