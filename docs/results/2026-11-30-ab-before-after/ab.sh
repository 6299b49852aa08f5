#!/bin/bash
# A/B: duet-echo built at 0d23a09 ("old") and now ("new") beside the raw loop of the same backend,
# alternating inside one duet-load; 4 runs, the turn order rotated by one per run.
# Usage: bash ab.sh BACKEND CONNECTIONS SIZE SECONDS   (epoll 1000 128 3; uring 100 262144 2)
set -u
backend=$1 conns=$2 size=$3 seconds=$4
ulimit -n 20000
NEW=${NEW:-build}; OLD=${OLD:-../duet-0d23a09/build}
declare -A PORT=( [old]=46101 [new]=46102 [raw]=46103 )
taskset -c 0 $OLD/apps/echo/duet-echo --backend $backend --host 127.0.0.1 --port 46101 --log-level warn & P1=$!
taskset -c 0 $NEW/apps/echo/duet-echo --backend $backend --host 127.0.0.1 --port 46102 --log-level warn & P2=$!
taskset -c 0 $NEW/bench/baselines/duet-raw-$backend --port 46103 & P3=$!
sleep 1
order=(old new raw)
for rep in 1 2 3 4; do
  k=$(( (rep-1) % 3 )); o=("${order[@]:$k}" "${order[@]:0:$k}")
  ports=""; pids=""
  for n in "${o[@]}"; do ports+="${PORT[$n]},"; case $n in old) pids+="$P1,";; new) pids+="$P2,";; raw) pids+="$P3,";; esac; done
  taskset -c 1 $NEW/bench/load/duet-load --host 127.0.0.1 --port ${ports%,} --server-pid ${pids%,} --server-cpus 0 \
    -c $conns -k 1 -d $seconds -w 0.1 --slice 0.25 --slice-warmup 0.05 -s $size > /tmp/ab-$backend-$rep.out 2>/tmp/ab-$backend-$rep.err
done
kill $P1 $P2 $P3; wait
