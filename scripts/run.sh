#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs duet-compare's
# default suite: every regime once at a modest size (echo 128 B at 1, 100 and
# 1,000 connections; 16 KiB; 256 KiB; streaming 16 in flight; HTTP /hello
# keep-alive at 100 and 1,000 connections and pipelined 16 deep; connection
# churn, echo and HTTP Connection: close) on every backend and the raw
# baselines (nginx beside HTTP when installed), server pinned to CPU 0 and
# load to CPU 1, all servers of a case taking turns of 0.25 s under one
# duet-load, 4 rounds and more for the cases whose ratios still scatter
# (--precision), plus RSS per idle connection with 10,000 held.
# 3-4 minutes on this 2-core VM (198-255 s, docs/results/2026-11-30-default-m
# to -u); `--suite full` (every size, 10,000 connections, every engine switch
# as a column, the async models) about 36 minutes with its extra rounds
# (2,140-2,141 s, docs/results/2026-11-30-full-5, -6); `--suite models` (callbacks,
# coroutines and thread per connection; echo from 1 to 10,000 connections,
# HTTP /hello, static files cold and warm).
# Results land in results/<timestamp>/: report.md opens with the verdict
# (per regime, which model wins on CPU per request and p99, by how much, how
# sure) and its chart; results.csv; plots.
# Arguments pass through to duet-compare, e.g.
#   bash scripts/run.sh --quick
#   bash scripts/run.sh --suite full
#   bash scripts/run.sh --suite models
#   bash scripts/run.sh --variant "uring-bundle=--backend uring --recv-bundle on"
#   bash scripts/run.sh --compare-with results/<earlier run>   # does a second run agree within 10%?
#   bash scripts/run.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
ulimit -n 20000 2>/dev/null || true
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=ON
exec python3 bench/compare/duet-compare --build build "$@"
