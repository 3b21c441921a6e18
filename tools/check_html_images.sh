#!/usr/bin/env bash
# Loads an HTML page in headless Chromium and checks that every <img> on it decoded.
#   tools/check_html_images.sh report/index.html
# The page must set body[data-images-loaded="LOADED/TOTAL"] on window load (tools/report.py's
# pages do). Prints "images loaded L/T"; exit 0 if L == T > 0, 1 otherwise, 2 if Chromium or
# the file is missing. Needs Debian's chromium package.
set -uo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 HTML_FILE" >&2
  exit 2
fi
if [ ! -f "$1" ]; then
  echo "error: $1: no such file" >&2
  exit 2
fi
browser=/usr/bin/chromium
if [ ! -x "$browser" ]; then
  echo "error: $browser not found (install Debian's chromium package)" >&2
  exit 2
fi

page="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
profile=$(mktemp -d "${TMPDIR:-/tmp}/check_html_images.XXXXXX")
trap 'rm -rf "$profile"' EXIT

# --no-sandbox: Chromium refuses to run as root otherwise. The network/sync/update switches keep
# the headless browser from reaching out; virtual time lets the load event fire without waiting.
dom=$(timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --virtual-time-budget=5000 --dump-dom "file://$page" \
        2>/dev/null)
status=$(printf '%s' "$dom" | grep -o 'data-images-loaded="[0-9]*/[0-9]*"' | head -n 1 |
         sed 's/.*="\(.*\)"/\1/')
if [ -z "$status" ]; then
  echo "images loaded ?/? (no data-images-loaded attribute in the rendered page)"
  exit 1
fi
echo "images loaded $status"
loaded=${status%/*}
total=${status#*/}
[ "$total" -gt 0 ] && [ "$loaded" -eq "$total" ]
