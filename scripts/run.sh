#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs duet-compare's
# default sweep: echo (1, 100, 1,000 connections; 128 B and 16 KiB; one
# streaming case) and HTTP /hello (100 and 1,000 connections) on every
# backend and the raw baselines, server pinned to CPU 0 and load to CPU 1,
# all servers of a case taking turns of 0.25 s under one duet-load, 4 rounds,
# plus RSS per idle connection with 10,000 held. About 2.5 minutes here.
# Results land in results/<timestamp>/ (results.csv, report.md, plots).
# Arguments pass through to duet-compare, e.g.
#   bash scripts/run.sh --quick
#   bash scripts/run.sh --rounds 10 --taskrun defer,coop,plain
#   bash scripts/run.sh --compare-with results/<earlier run>
#   bash scripts/run.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
ulimit -n 20000 2>/dev/null || true
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=ON
exec python3 bench/compare/duet-compare --build build "$@"
