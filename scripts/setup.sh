#!/usr/bin/env bash
# The README's two set-up commands, for a fresh Debian 12 machine as root:
#   bash scripts/setup.sh demo   installs what is missing, builds, runs the demo migration
#   bash scripts/setup.sh test   installs what is missing (servers too), builds, runs every test
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-}
build=${BUILD:-build}
jobs=${JOBS:-2}

case "$what" in
  demo) bash scripts/install-deps.sh ;;
  test|bench) bash scripts/install-deps.sh --servers ;;
  *) echo "usage: scripts/setup.sh demo|test|bench" >&2; exit 2 ;;
esac

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" -j "$jobs"

case "$what" in
  demo) TANDEM="$PWD/$build/tandem" bash demo/run.sh ;;
  test) cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 900 ;;
  bench) bash bench/run.sh ;;
esac
