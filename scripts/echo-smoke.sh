#!/usr/bin/env bash
# Drives duet-load through duet-echo on each backend and prints one table row
# per backend: messages/s, p50/p99 latency, server CPU per message, system
# calls per message (from the server's own --stats counters).
# Usage: scripts/echo-smoke.sh BUILD_DIR [connections] [size] [seconds]
set -euo pipefail
build=$1
conns=${2:-1000}
size=${3:-128}
secs=${4:-3}
cpus=$(nproc)
server_cpu=0
load_cpu=$((cpus > 1 ? 1 : 0))

clk_tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
field() { grep -o "\"$2\":[0-9.e+-]*" <<<"$1" | head -1 | cut -d: -f2; }
stat_sum() { grep -o " $2=[0-9]*" <<<"$1" | cut -d= -f2 | awk '{s += $1} END {print s + 0}'; }

printf '%-8s %12s %10s %10s %14s %14s %8s\n' backend msgs/s p50_us p99_us cpu_us/msg syscalls/msg errors
for backend in epoll poll select uring; do
  c=$conns
  [[ $backend == select ]] && ((c > 400)) && c=400  # select: descriptors < FD_SETSIZE
  out=$(mktemp)
  taskset -c $server_cpu "$build/apps/echo/duet-echo" --backend $backend --host 127.0.0.1 --port 0 --stats \
    --log-level warn >"$out" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(grep -o 'listening on [0-9.]*:[0-9]*' "$out" | grep -o '[0-9]*$' || true)
    [[ -n $port ]] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.05
  done
  if [[ -z $port ]]; then
    printf '%-8s %s\n' $backend "could not start: $(head -1 "$out")"
    wait $pid 2>/dev/null || true
    continue
  fi
  t0=$(cpu_ticks $pid)
  result=$(taskset -c $load_cpu "$build/bench/load/duet-load" --port "$port" -c "$c" -s "$size" -d "$secs" -w 0 2>/dev/null || true)
  t1=$(cpu_ticks $pid)
  kill -TERM $pid
  wait $pid || true
  stats=$(grep '^stats' "$out" || true)
  msgs=$(field "$result" messages)
  rate=$(field "$result" msgs_per_s)
  errors=$(field "$result" errors)
  syscalls=$(stat_sum "$stats" syscalls)
  served=$(($(stat_sum "$stats" bytes_in) / size))
  awk -v b=$backend -v rate="${rate:-0}" -v p50="$(field "$result" p50_us)" -v p99="$(field "$result" p99_us)" \
    -v ticks=$((t1 - t0)) -v hz="$clk_tck" -v msgs="${msgs:-0}" -v sys="$syscalls" -v served="$served" -v err="${errors:--}" \
    'BEGIN { cpu = served > 0 ? ticks / hz * 1e6 / served : 0; spm = served > 0 ? sys / served : 0;
             printf "%-8s %12.0f %10s %10s %14.2f %14.2f %8s\n", b, rate, p50, p99, cpu, spm, err }'
  rm -f "$out"
done
echo "($conns connections (select: at most 400), $size-byte ping-pong, ${secs}s; server on CPU $server_cpu, duet-load on CPU $load_cpu)"
