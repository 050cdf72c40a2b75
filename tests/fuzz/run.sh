#!/usr/bin/env bash
# Fuzzes the spec loader with libFuzzer + ASan + UBSan (clang 14), seeded with the spec corpus.
# Usage: tests/fuzz/run.sh [SECONDS]   (default 60). Findings land in build-fuzz/ as crash-*.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-60}"
out=build-fuzz
mkdir -p "$out/corpus"
corpus=tests/daemon/specs/corpus
cp "$corpus"/good/*.yaml "$corpus"/bad/*.yaml manifests/examples/*.yaml "$out/corpus/"
clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I. \
  tests/fuzz/spec_fuzz.cc daemon/specs/spec_loader.cc daemon/specs/spec_files.cc daemon/specs/spec_validator.cc \
  daemon/specs/spec_yaml.cc daemon/common/json_text.cc reconciler/types.cc reconciler/time_util.cc \
  -lyaml-cpp -o "$out/spec_fuzz"
cd "$out"
./spec_fuzz corpus -max_total_time="$seconds" -rss_limit_mb=1500 -timeout=5 -max_len=4096 \
  -print_final_stats=1
