#!/usr/bin/env bash
# Builds hetsim with AddressSanitizer + UndefinedBehaviorSanitizer in build-asan/ (Debug, -O1) and
# runs the test suite there: every test binary and every hetsim process the tests start is
# instrumented; SimGrid and the other Debian libraries are not. CI runs it after the normal suite.
#   tools/sanitize.sh                  # build + whole suite
#   tools/sanitize.sh -R faults        # extra arguments go to ctest
# Run tools/setup.sh first (packages).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DHETSIM_SANITIZE=address,undefined >/dev/null
log=build-asan/sanitize-build.log
if ! cmake --build build-asan -j "$jobs" >"$log" 2>&1; then
  grep -E 'error|Error' "$log" | head -40 >&2
  echo "sanitize: build failed (full log: $log)" >&2
  exit 1
fi

# A finding stops the process with a distinct exit code (86), so the test fails. No suppressions
# (README, "Tests and CI", says when one would be justified). Set ASAN_OPTIONS/UBSAN_OPTIONS to override.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:exitcode=86}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ctest --test-dir build-asan --output-on-failure -j "$jobs" "$@"
