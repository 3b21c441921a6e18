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

# A finding stops the process with a distinct exit code (86), so the test fails. ASan writes to
# build-asan/asan-logs/ rather than stderr: SimGrid's stack switching makes it print a warning
# (google/sanitizers#189) into the output of every hetsim process, which tests compare. The one
# suppression (tools/asan.supp) is the false report that same stack switching causes inside
# ASan's own sigaltstack call after an exception on an actor stack; README "Tests and CI".
logs=build-asan/asan-logs
rm -rf "$logs" && mkdir -p "$logs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:exitcode=86:suppressions=$PWD/tools/asan.supp:log_path=$PWD/$logs/asan}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
ctest --test-dir build-asan --output-on-failure -j "$jobs" "$@" || status=$?
reports=$(grep -l -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error' "$logs"/* 2>/dev/null || true)
if [ -n "$reports" ]; then
  for f in $reports; do echo "sanitize: report in $f:" >&2; head -30 "$f" >&2; done
  status=1
fi
exit $status
