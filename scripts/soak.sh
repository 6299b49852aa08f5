#!/usr/bin/env bash
# duet-soak against duet-echo and duet-http on every backend.
#   scripts/soak.sh [--short|--long] [BUILD_DIR]
# --short (the default; part of scripts/test.sh): a few thousand connections per
#   run, about half a minute in all.
# --long: up to 15,000 concurrent connections (select: 800, under FD_SETSIZE),
#   60,000 connections per round (select: 20,000), a warm-up round plus 3
#   measured rounds, each with a burst beyond --max-connections; about 1.5
#   minutes per run, 12 minutes for all eight.
# Needs BUILD_DIR (default build) with duet-echo, duet-http and duet-soak built
# (Release, -DDUET_BUILD_BENCH=ON). Prints each run's summary; the JSON lines
# go to BUILD_DIR/soak-results.jsonl. Exit status 1 if any run failed.
set -uo pipefail
mode=--short
build=build
for arg in "$@"; do
  case $arg in
    --short|--long) mode=$arg ;;
    *) build=$arg ;;
  esac
done
cd "$(dirname "$0")/.."
soak=$build/bench/soak/duet-soak
for bin in "$soak" "$build/apps/echo/duet-echo" "$build/apps/http/duet-http"; do
  [[ -x $bin ]] || { echo "soak: $bin is missing (build with -DDUET_BUILD_BENCH=ON)" >&2; exit 2; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
# Long runs, with gdb: the soak asks the server's allocator to return its free pages
# (malloc_trim) before each RSS reading, so RSS measures memory in use: at
# 15,000 connections glibc otherwise keeps 100+ MB of freed, fragmented heap.
trim=()
[[ $mode == --long ]] && command -v gdb >/dev/null && trim=(--trim 1)
results=$build/soak-results.jsonl
: >"$results"
failed=0
for kind in echo http; do
  server=$build/apps/$kind/duet-$kind
  for backend in epoll poll select uring; do
    if [[ $mode == --long ]]; then
      # select watches descriptors below FD_SETSIZE (1024) only: the server's
      # connections, burst included, must stay under it.
      if [[ $backend == select ]]; then args=(--connections 20000 --concurrency 800 --max-connections 860 --burst-extra 100 --hold-ms 2000)
      else args=(--connections 60000 --concurrency 15000 --max-connections 16000 --burst-extra 500 --hold-ms 5000); fi
      args+=(--time-limit 600 --rounds 3)
    else
      if [[ $backend == select ]]; then args=(--connections 1000 --concurrency 300)
      else args=(--connections 1000 --concurrency 500); fi
      # Three rounds: the RSS check then compares the last round with the
      # highest before it, so a pool that grows to its cap under load (the
      # io_uring buffer ring) is not mistaken for a leak.
      args+=(--hold-ms 200 --burst-extra 100 --time-limit 120 --rounds 3)
    fi
    "$soak" --server "$server" --kind "$kind" --backend "$backend" "${args[@]}" "${trim[@]}" >>"$results"
    status=$?
    if [[ $status -ne 0 ]]; then
      failed=1
      echo "soak: $kind on $backend FAILED (status $status)" >&2
    fi
  done
done
echo "soak: results in $results"
exit $failed
