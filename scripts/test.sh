#!/usr/bin/env bash
# Every test: installs what is missing, checks the format (scripts/check-format.sh), then
#   1. Release build: the whole suite under ctest, then a short soak
#      (duet-soak against duet-echo and duet-http on every backend), then the
#      package check (scripts/package-check.sh: install, examples/kv-server built
#      out of tree against it and run with --backend auto and every backend, a
#      build without liburing, duet as a subproject);
#   2. ASan+UBSan build with asserts live (no NDEBUG): the whole suite, whose
#      AssertsLive test fails if NDEBUG crept back in;
#   3. TSan build (the conformance and HTTP tests): the multi-threaded models,
#      timers, the client and the worker pool; duet-http's coroutine
#      connections (with an I/O thread, and file reads on worker threads);
#   4. libFuzzer build (clang, ASan+UBSan, asserts live): every committed fuzz
#      input replayed, then a fixed-seed bounded run per target
#      (tests/fuzz/run.sh). Deterministic: the same code gives the same result
#      every day. Open-ended exploration is scripts/fuzz.sh, run on demand.
# Any failure, sanitizer report, fuzzer crash or failed soak fails the command.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== Format: every C++ file follows .clang-format (clang-format 14)"
bash scripts/check-format.sh

echo "== Release build and tests"
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=ON
(cd build && ctest --output-on-failure -j2 --timeout 600)

echo "== Short soak (every backend, duet-echo and duet-http)"
bash scripts/soak.sh --short build

echo "== Package: install, examples/kv-server built out of tree and run on every backend, a build without liburing"
bash scripts/package-check.sh build

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build (asserts live) and tests"
# DUET_ASSERTS: -O2 as in RelWithDebInfo, without its -DNDEBUG, so the
# engine's invariant checks run (the default with DUET_SANITIZE; said here too).
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_SANITIZE=address -DDUET_ASSERTS=ON \
  -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j2 --timeout 900)

echo "== ThreadSanitizer: the conformance suite's multi-threaded tests, duet-http's coroutine connections"
# Only what these tests need (the engine, duet-echo, duet-http).
# No suppressions: any report fails (halt_on_error, and TSan's exit code 66).
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_SANITIZE=thread \
  -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$(nproc)" --target duet_conformance_tests duet_http_tests
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ./tests/duet_conformance_tests --gtest_filter='*main2*:*reuseport2*:*Timer*:*Client*:*ShutdownUnderLoad*:*WakeupStress*' \
  --gtest_brief=1)
# The HTTP server with --api coroutines on epoll (file reads on worker
# threads) and uring (ring reads), one I/O thread beside the base loop; the
# 100 MiB transfer is left to the other stages.
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ./tests/duet_http_tests --gtest_filter='*/epoll_coroutines:*/uring_coroutines:-*HundredMebibyte*' --gtest_brief=1)

echo "== libFuzzer (clang, ASan+UBSan): committed inputs and fixed-seed bounded runs"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_FUZZ=ON \
  -DDUET_SANITIZE=address -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target duet-fuzz-buffer duet-fuzz-http
bash tests/fuzz/run.sh build-fuzz

echo "== all tests passed"
