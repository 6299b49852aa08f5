#!/usr/bin/env bash
# Every test: installs what is missing, builds (Release, then ASan+UBSan) and
# runs the whole suite under ctest in both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
ulimit -n 20000 2>/dev/null || true

echo "== Release build and tests"
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=ON
(cd build && ctest --output-on-failure -j2 --timeout 600)

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_SANITIZE=address -DDUET_BUILD_TESTS=ON -DDUET_BUILD_BENCH=OFF
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j2 --timeout 900)
