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
done
[ "$found" = 1 ] || { echo "bench/run.sh: no benchmarks under $build/bench (build first)" >&2; exit 1; }
