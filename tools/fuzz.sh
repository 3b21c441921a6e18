#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan, in build-fuzz/) and fuzzes each
# for SECONDS, two at a time. Seeds come from the shipped scenarios and traces and fuzz/seeds;
# inputs that found a defect go to build-fuzz/findings/TARGET/ (copy the input to
# fuzz/regressions/TARGET/ when fixing it: ctest then replays it on every build).
#   tools/fuzz.sh                  # every target, 60 s each
#   tools/fuzz.sh 3600 scenario    # the longer campaign for one target (fuzz/README.md)
#   tools/fuzz.sh ci               # CI's smoke run: a fixed seed and a fixed number of inputs per
#                                  # target (about 60 s each here), from the seeds alone, so that
#                                  # CI fuzzes exactly what passed here: reproducible, not flaky
# Prints one line per target (executions, corpus size, findings) and writes build-fuzz/fuzz-summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
ci=0
if [ "$seconds" = ci ]; then
  ci=1
  seconds=300  # a cap only: CI runs stop at their input counts first
fi
# CI's input counts: ~20-60 s per target from the seeds on this 2-core machine (tools/fuzz.sh ci).
ci_runs() {
  case $1 in
    units) echo 2000000 ;; scenario) echo 12000 ;; set_override) echo 5000 ;; azure_trace) echo 150000 ;;
    mooncake_trace) echo 100000 ;; burstgpt_trace) echo 120000 ;; sweep_spec) echo 120000 ;; chakra_trace) echo 50000 ;;
  esac
}
all=(units scenario set_override azure_trace mooncake_trace burstgpt_trace sweep_spec chakra_trace)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

jobs=$(nproc 2>/dev/null || echo 2)
CXX=clang++ cmake -S . -B build-fuzz -DHETSIM_FUZZ=ON -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
log=build-fuzz/fuzz-build.log
if ! cmake --build build-fuzz -j "$jobs" --target hetsim_fuzz >"$log" 2>&1; then
  grep -E 'error' "$log" | head -40 >&2
  echo "fuzz: build failed (full log: $log)" >&2
  exit 1
fi

# Scenario keys as a dictionary, so that mutations produce YAML the loader reads further into.
dict=build-fuzz/yaml.dict
grep -ohE '^ *[a-z_0-9]+:' scenarios/*.yaml hw/catalog/*.yaml hw/stacks/*.yaml 2>/dev/null | tr -d ' ' | sort -u |
  sed 's/.*/"&"/' >"$dict"

seeds() {  # the seed files or folders of target $1
  case $1 in
    units) echo fuzz/seeds/units ;;
    scenario) echo scenarios ;;
    set_override) echo fuzz/seeds/set_override ;;
    azure_trace) echo tests/fixtures/traces/azure_conv_sample.csv ;;
    mooncake_trace) echo tests/fixtures/traces/mooncake_conv_sample.jsonl ;;
    burstgpt_trace) echo tests/fixtures/traces/burstgpt_sample.csv ;;
    sweep_spec) echo fuzz/seeds/sweep_spec ;;
    chakra_trace) echo fuzz/seeds/chakra_trace ;;
  esac
}

run_one() {  # target -> build-fuzz/runs/TARGET.log; exit status of libFuzzer
  local t=$1 corpus=build-fuzz/corpus/$1 findings=build-fuzz/findings/$1/
  local extra=()
  if [ $ci = 1 ]; then
    corpus=build-fuzz/corpus-ci/$1
    rm -rf "$corpus"
    extra=(-seed=1 -runs="$(ci_runs "$t")")
  fi
  rm -rf "$findings"
  mkdir -p "$corpus" "$findings" build-fuzz/runs
  cp -r $(seeds "$t") "$corpus"/ 2>/dev/null || true
  [ -d "fuzz/regressions/$t" ] && cp -r "fuzz/regressions/$t"/. "$corpus"/
  case $t in scenario | set_override | sweep_spec) extra+=(-dict="$dict") ;; esac
  "build-fuzz/fuzz/${t}_fuzz" "$corpus" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$findings" "${extra[@]}" >"build-fuzz/runs/$t.log" 2>&1
}

status=0
pids=()
names=()
for t in "${targets[@]}"; do
  [ -n "$(seeds "$t")" ] || { echo "fuzz: unknown target '$t' (targets: ${all[*]})" >&2; exit 2; }
  run_one "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || true
    pids=("${pids[@]:1}")
  fi
done
wait || true

summary=build-fuzz/fuzz-summary.txt
: >"$summary"
for t in "${names[@]}"; do
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/runs/$t.log" | tail -1)
  corpus=$(ls "build-fuzz/corpus$([ $ci = 1 ] && echo -ci)/$t" | wc -l)
  found=$(ls "build-fuzz/findings/$t" 2>/dev/null | wc -l)
  took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "build-fuzz/runs/$t.log" | tail -1)
  line="$t: ${runs:-?} executions in ${took:-?} s, corpus $corpus inputs, $found findings"
  echo "$line" | tee -a "$summary"
  if [ "$found" -gt 0 ] || [ -z "$runs" ]; then
    status=1
    grep -E 'fuzz finding|ERROR|SUMMARY|runtime error' "build-fuzz/runs/$t.log" | head -5 >&2 || true
    echo "  log: build-fuzz/runs/$t.log, inputs: build-fuzz/findings/$t/" >&2
  fi
done
exit $status
