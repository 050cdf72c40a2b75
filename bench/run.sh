#!/bin/sh
# Runs every benchmark program found in the build directory (bench/<part>/*_bench) and prints
# their figures. Usage: bench/run.sh BUILD_DIR [ARGS passed to each benchmark]
set -eu
build="${1:-build}"
[ $# -gt 0 ] && shift
found=0
for b in "$build"/bench/*/*_bench; do
  [ -x "$b" ] || continue
  found=1
  echo "== $(basename "$b")"
  "$b" "$@"
  # The create figure again with the real service's round trip (20 ms) instead of loopback's none.
  if [ "$(basename "$b")" = apply_bench ]; then
    echo "== apply_bench --api-latency-ms 20 --rounds 1"
    "$b" --api-latency-ms 20 --rounds 1 "$@"
  fi
done
[ "$found" = 1 ] || { echo "bench/run.sh: no benchmarks under $build/bench (build first)" >&2; exit 1; }
