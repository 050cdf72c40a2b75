#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from its committed seed corpus (ctest fuzz_NAME).
# Usage: run_fuzzer.sh FUZZER SOURCE_DIR NAME WORK_DIR
#   FUZZER      the fuzz_NAME executable; SOURCE_DIR tests/fuzz; WORK_DIR a scratch directory of
#               the build dir (emptied first).
#   CRTOKEN_FUZZ_SECONDS  how long to fuzz (default 20).
# The seeds (corpus/NAME/ and the past crashes in regressions/NAME/) are copied to WORK_DIR/corpus,
# so the run never writes into the source tree. Fails on any crash, leak, timeout or out-of-memory;
# the input that caused it is left in WORK_DIR/artifacts/ and named in the message.
set -uo pipefail
fuzzer=$1 src=$2 name=$3 work=$4
seconds=${CRTOKEN_FUZZ_SECONDS:-20}

# The longest input each target is fed (bytes): room for the largest real seed of each kind.
case $name in
  time | credentials | docker_config) max_len=4096 ;;
  spec) max_len=8192 ;;
  *) max_len=16384 ;;
esac

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$src/corpus/$name"/* "$work/corpus/"
if [ -d "$src/regressions/$name" ]; then cp "$src/regressions/$name"/* "$work/corpus/"; fi
dict=()
if [ -f "$src/dict/$name.dict" ]; then dict=(-dict="$src/dict/$name.dict"); fi

"$fuzzer" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=1536 -timeout=10 \
  -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
  "$work/corpus" > "$work/fuzz.log" 2>&1
rc=$?
# What a run did: its last status line (executions, coverage, features, corpus) and the totals.
grep -E '^#[0-9]+' "$work/fuzz.log" | tail -n 1
grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/fuzz.log"
if [ "$rc" -ne 0 ]; then
  tail -n 60 "$work/fuzz.log"
  found=$(ls "$work/artifacts")
  echo "fuzz_$name FAILED (exit $rc); the input is kept in $work/artifacts/: ${found:-none}"
  echo "make it a regression: copy it to tests/fuzz/regressions/$name/, fix, and check that"
  echo "fuzz_regressions_test replays it"
  exit 1
fi
