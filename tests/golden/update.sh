#!/usr/bin/env bash
# Rewrites the golden outputs from the current build: tests/golden/update.sh [build/hetsim]
# Only for intended changes; say why the outputs changed in the commit message.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=$(realpath "${1:-build/hetsim}")
grep -v '^#' tests/golden/cases.txt | while read -r name args; do
  [ -n "$name" ] || continue
  dir=tests/golden/$name
  rm -rf "$dir" && mkdir -p "$dir"
  out=$(mktemp -d)
  # shellcheck disable=SC2086
  "$bin" ${args//OUT/$out/res} | grep -v -e '^  results  ' -e '^  wall time' > "$dir/stdout.txt"
  [ -d "$out/res" ] && cp "$out/res"/* "$dir/"
  rm -rf "$out"
  echo "golden: $name ($(ls "$dir" | tr '\n' ' '))"
done
