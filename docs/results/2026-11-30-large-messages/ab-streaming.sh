#!/bin/bash
# duet-echo --backend uring after c5bd1fe (streaming spares; build/, or AFTER_BIN) against BEFORE_BIN (7e1948a,
# or the same source with the streaming ceiling at 2 MiB),
# the two servers alternating in one duet-load (0.25 s slices, 3 s measured each), server CPU per message
# and its ratio after/before, round by round, for 10 and 100 connections x 256 KiB and 100 x 16 KiB x 16 in
# flight. Odd rounds start the after server first (port 5801), even rounds the before server, in case the
# order of the slices favours one.
#   bash docs/results/2026-11-30-large-messages/ab-streaming.sh BEFORE_BIN [ROUNDS [AFTER_BIN]]
set -u
before=$1
rounds=${2:-4}
after=${3:-build/apps/echo/duet-echo}
load=build/bench/load/duet-load
for shape in "10 262144 1" "100 262144 1" "100 16384 16"; do
  set -- $shape
  for round in $(seq 1 "$rounds"); do
    if ((round % 2)); then pa=5801 pb=5802; else pa=5802 pb=5801; fi
    taskset -c 0 "$after" --backend uring --port "$pa" --threads 1 --log-level warn >/dev/null 2>&1 &
    a=$!
    taskset -c 0 "$before" --backend uring --port "$pb" --threads 1 --log-level warn >/dev/null 2>&1 &
    b=$!
    sleep 0.5
    pids=$([[ $pa == 5801 ]] && echo "$a,$b" || echo "$b,$a")
    taskset -c 1 "$load" --port 5801,5802 --server-pid "$pids" --slice 0.25 --slice-warmup 0.05 -d 3 -w 0.5 \
      -c "$1" -s "$2" -k "$3" 2>/dev/null | python3 -c '
import json, sys
shape, rnd, pa, pb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = {r["port"]: r for r in (json.loads(l) for l in sys.stdin if l.startswith("{"))}
us = {p: r["server_cpu_s"] * 1e6 / r["messages"] for p, r in rows.items()}
print(f"{shape} round {rnd}: after {us[pa]:.2f} us/msg, before {us[pb]:.2f}, after/before {us[pa] / us[pb]:.3f}")
' "$1 x $2 x $3" "$round" "$pa" "$pb"
    kill "$a" "$b"
    wait "$a" "$b" 2>/dev/null
  done
done
