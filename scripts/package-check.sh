#!/usr/bin/env bash
# duet as a user gets it (issue 14): install the engine from a built tree to a
# temporary prefix, build examples/kv-server OUT OF TREE against it (once with
# find_package(duet), once with pkg-config), and talk to it over 127.0.0.1 with
# --backend auto and each named backend. Then: a build without liburing
# (DUET_WITH_URING=OFF, no apps/tests/benchmarks: only a C++20 compiler and
# CMake) compiles the engine, and its kv-server says uring is unavailable in one
# line and runs on epoll under auto; and duet added with add_subdirectory leaves
# the parent's build type and warnings alone.
#
# Usage: scripts/package-check.sh BUILD_DIR   (a configured build; its engine is built here if needed)
# Every wait is bounded; ports are chosen by the kernel (--port 0).
set -euo pipefail
build=$(realpath "$1")
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d /tmp/duet-package-check.XXXXXX)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "package-check: $*" >&2; exit 1; }

# Starts SERVER ARGS... in the background; sets server_pid and port (waits at most 10 s).
start_server() {
  local out=$work/server.out
  : >"$out"
  "$@" >"$out" 2>"$work/server.err" &
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$out" | grep -o '[0-9]*$' || true)
    [[ -n $port ]] && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  fail "$* did not start: $(cat "$work/server.err")"
}

# Stops the server with SIGTERM (its graceful stop), at most 10 s; it must exit 0.
stop_server() {
  kill -TERM "$server_pid"
  for _ in $(seq 100); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  local status=0
  wait "$server_pid" || status=$?
  server_pid=
  [[ $status == 0 ]] || fail "server exited $status after SIGTERM: $(cat "$work/server.err")"
}

# One client exchange over 127.0.0.1:$port; the replies must be exactly these.
talk() {
  local reply
  reply=$(timeout 10 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$port"'
    printf "SET greeting hello duet\r\nGET greeting\nGET missing\nDEL greeting\n" >&3
    head -n 4 <&3' || true)
  local expected=$'OK\nVALUE hello duet\nNOT_FOUND\nERROR unknown command (SET key value | GET key)'
  [[ $reply == "$expected" ]] || fail "backend $1: expected replies
$expected
got
$reply"
}

# kv-server on one backend: serves, and auto names its pick in one line first.
run_example() {
  local binary=$1 backend=$2
  start_server "$binary" --backend "$backend" --port 0
  local out=$work/server.out
  if [[ $backend == auto ]]; then
    head -n 1 "$out" | grep -Eq '^backend: (uring \(auto: io_uring set up\)|epoll \(auto: io_uring unavailable: .+\))$' ||
      fail "--backend auto: no 'backend: ... (auto: ...)' line first: $(cat "$out")"
  else
    grep -q "backend=$backend\$" "$out" || fail "--backend $backend: runs on something else: $(cat "$out")"
  fi
  talk "$backend"
  stop_server
  echo "  $(basename "$binary") --backend $backend: $(head -n 1 "$out")"
}

echo "-- install to a temporary prefix"
cmake --build "$build" -j2 --target duet
cmake --install "$build" --prefix "$work/prefix" >/dev/null
[[ -f $work/prefix/include/duet/core/tcp_server.h ]] || fail "headers not installed under include/duet/core"

echo "-- examples/kv-server out of tree: find_package(duet)"
cmake -S examples/kv-server -B "$work/kv" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/kv" >/dev/null
echo "-- examples/kv-server out of tree: pkg-config duet"
export PKG_CONFIG_PATH=$work/prefix/lib/pkgconfig
# shellcheck disable=SC2046  # pkg-config's output is a list of flags
g++ -std=c++20 -O2 examples/kv-server/kv_server.cc $(pkg-config --cflags --libs duet) -o "$work/kv/kv-server-pc"
unset PKG_CONFIG_PATH

uring_refused=false
for backend in auto epoll poll select uring; do
  if [[ $backend == uring && $uring_refused == true ]]; then
    # This machine refuses io_uring (auto said so): the named backend must say it in one line, exit 2.
    status=0
    timeout 10 "$work/kv/kv-server" --backend uring --port 0 >/dev/null 2>"$work/uring.err" || status=$?
    [[ $status == 2 && $(wc -l <"$work/uring.err") == 1 ]] ||
      fail "--backend uring where io_uring is refused: expected one line and exit 2, got $status: $(cat "$work/uring.err")"
    echo "  kv-server --backend uring: refused here: $(cat "$work/uring.err")"
    continue
  fi
  run_example "$work/kv/kv-server" "$backend"
  if [[ $backend == auto ]] && grep -q '^backend: epoll (auto' "$work/server.out"; then uring_refused=true; fi
done
run_example "$work/kv/kv-server-pc" auto

echo "-- a build without liburing (DUET_WITH_URING=OFF): the engine alone"
cmake -S . -B "$work/no-uring" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDUET_WITH_URING=OFF -DDUET_BUILD_APPS=OFF \
  -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_BENCH=OFF >/dev/null
cmake --build "$work/no-uring" -j2 --target duet >/dev/null
cmake --install "$work/no-uring" --prefix "$work/prefix-no-uring" >/dev/null
[[ ! -e $work/prefix-no-uring/lib/libduet_proactor.a ]] || fail "DUET_WITH_URING=OFF still installed the proactor"
cmake -S examples/kv-server -B "$work/kv-no-uring" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix-no-uring" >/dev/null
cmake --build "$work/kv-no-uring" >/dev/null
status=0
timeout 10 "$work/kv-no-uring/kv-server" --backend uring --port 0 >/dev/null 2>"$work/uring.err" || status=$?
[[ $status == 2 && $(wc -l <"$work/uring.err") == 1 ]] && grep -q 'built without liburing' "$work/uring.err" ||
  fail "without liburing, --backend uring must exit 2 with one line; got $status: $(cat "$work/uring.err")"
echo "  --backend uring: $(cat "$work/uring.err")"
start_server "$work/kv-no-uring/kv-server" --backend auto --port 0
grep -qx 'backend: epoll (auto: io_uring unavailable: this duet was built without liburing (DUET_WITH_URING=OFF))' \
  "$work/server.out" || fail "without liburing, auto must pick epoll and say why: $(cat "$work/server.out")"
talk "auto (no liburing)"
stop_server
echo "  --backend auto: $(head -n 1 "$work/server.out")"

echo "-- duet as a subproject leaves the parent's build type and warnings alone"
mkdir -p "$work/parent"
cat >"$work/parent/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(parent LANGUAGES CXX)
add_subdirectory("$repo" duet)
if(CMAKE_BUILD_TYPE)
  message(FATAL_ERROR "duet set the parent's CMAKE_BUILD_TYPE to '\${CMAKE_BUILD_TYPE}'")
endif()
if(DUET_WERROR OR DUET_BUILD_APPS OR DUET_BUILD_TESTS OR DUET_BUILD_BENCH)
  message(FATAL_ERROR "duet as a subproject turned on -Werror, apps, tests or benchmarks")
endif()
if(NOT TARGET duet::duet)
  message(FATAL_ERROR "no duet::duet target for the parent")
endif()
CMAKE
cmake -S "$work/parent" -B "$work/parent/build" -G Ninja >/dev/null
echo "package-check: all passed"
