#!/usr/bin/env bash
# Installs hetsim's build dependencies (Debian packages) if any is missing, then configures and
# builds everything (CLI, tests, benchmark) in build/. Idempotent: a second run only rebuilds.
#   tools/setup.sh            # Release build
#   BUILD_TYPE=Debug tools/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libsimgrid-dev libboost-graph-dev libyaml-cpp-dev libfmt-dev libeigen3-dev
          catch2 libcli11-dev nlohmann-json3-dev
          zlib1g-dev                # gzip-compressed PyTorch profiler (Kineto) traces
          protobuf-compiler libprotobuf-dev   # Chakra execution traces (workload/exec_trace/chakra_et.proto)
          libabsl-dev               # absl::flat_hash_map: the KV store's content-hash index (prefix caching)
          openmpi-bin procps        # sweeps: the mpirun test; kill for the resume test
          python3-matplotlib        # hetsim report (tools/report.py runs on /usr/bin/python3)
          chromium                  # the report test opens the HTML page headless
          clang libclang-rt-dev)    # tools/fuzz.sh: libFuzzer targets (CI's fuzzing smoke run)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
log=build/setup-build.log
if ! cmake --build build -j "$jobs" >"$log" 2>&1; then
  grep -E 'error|Error' "$log" | head -40 >&2
  echo "setup: build failed (full log: $log)" >&2
  exit 1
fi
echo "setup: built build/hetsim"
