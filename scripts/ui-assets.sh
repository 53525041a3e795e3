#!/usr/bin/env bash
# The web UI's browser libraries (xterm.js, its fit addon, uPlot) come from npm, pinned by
# src/dockyard/ui/assets/package-lock.json, and are copied into the package's static/vendor so the
# browser loads them from `dockyard ui` itself, never from a CDN.
set -euo pipefail
cd "$(dirname "$0")/../src/dockyard/ui/assets"
vendor=../static/vendor
if [ -f "$vendor/.stamp" ] && [ "${1:-}" != "--force" ] && [ "$vendor/.stamp" -nt package-lock.json ]; then
  exit 0
fi
command -v npm >/dev/null || { echo "ui-assets: npm is missing (apt package npm)" >&2; exit 1; }
npm ci --no-audit --no-fund --ignore-scripts --silent
mkdir -p "$vendor"
cp node_modules/@xterm/xterm/lib/xterm.js node_modules/@xterm/xterm/css/xterm.css \
   node_modules/@xterm/addon-fit/lib/addon-fit.js \
   node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css "$vendor/"
touch "$vendor/.stamp"
