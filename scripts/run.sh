#!/usr/bin/env bash
# The main job: installs what is missing, builds, and drives a short echo load
# through duet-echo on every backend (server pinned to CPU 0, load to CPU 1),
# printing what it measured.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
ulimit -n 20000 2>/dev/null || true
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=ON
exec bash scripts/echo-smoke.sh build "$@"
