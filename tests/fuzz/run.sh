#!/usr/bin/env bash
# A longer run of one fuzz target than ctest's: tests/fuzz/run.sh NAME [SECONDS] (default 600).
# Configures and builds build-fuzz (clang) when needed, exactly as `make test-fuzz` does; the
# corpus grows in build-fuzz/tests/fuzz/NAME/corpus, a crash lands in .../NAME/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../.."
name=${1:?usage: tests/fuzz/run.sh NAME [SECONDS]}
seconds=${2:-600}
make --no-print-directory build-fuzz-targets
CRTOKEN_FUZZ_SECONDS=$seconds tests/fuzz/run_fuzzer.sh "build-fuzz/tests/fuzz/fuzz_$name" \
  tests/fuzz "$name" "build-fuzz/tests/fuzz/$name"
