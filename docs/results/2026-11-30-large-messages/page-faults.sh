#!/bin/bash
# Page faults and system calls of duet-echo --backend uring under 10 connections x 256 KiB for 3 s, for each
# duet-echo binary given, one after another (counts, not timings: they do not drift with the host's speed).
# CONNS=N: N connections instead of 10.
#   bash docs/results/2026-11-30-large-messages/page-faults.sh AFTER_BIN BEFORE_BIN ...
# Server on CPU 0, duet-load (from build/) on CPU 1; needs perf.
set -u
load=build/bench/load/duet-load
port=5601
conns=${CONNS:-10}
for bin in "$@"; do
  taskset -c 0 "$bin" --backend uring --port "$port" --threads 1 --log-level warn >/dev/null 2>&1 &
  server=$!
  sleep 0.5
  perf stat -e page-faults,raw_syscalls:sys_enter -p "$server" -o /tmp/page-faults.$port.txt &
  perf=$!
  messages=$(taskset -c 1 "$load" --port "$port" -c "$conns" -s 262144 -d 3 -w 0.5 2>/dev/null |
    python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["messages"])')
  kill -INT "$perf"
  wait "$perf" 2>/dev/null
  kill "$server"
  wait "$server" 2>/dev/null
  faults=$(awk '/page-faults/ {gsub(",", "", $1); print $1}' /tmp/page-faults.$port.txt)
  calls=$(awk '/sys_enter/ {gsub(",", "", $1); print $1}' /tmp/page-faults.$port.txt)
  echo "$bin ($conns x 256 KiB): $messages messages, $faults page faults, $calls system calls (the server's, over the load's 3.5 s)"
  port=$((port + 1))
done
