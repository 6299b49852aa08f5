#!/usr/bin/env bash
# Bounded libFuzzer runs over every target in a build made with -DDUET_FUZZ=ON.
# Usage: tests/fuzz/run.sh BUILD_DIR [SECONDS_PER_TARGET]
# The seed corpus in tests/fuzz/corpus/<target>/ is read, never written: new
# inputs go to a scratch copy. A crash, leak, timeout or sanitizer report stops
# the run with a non-zero status and leaves the reproducer in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=$1
seconds=${2:-60}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz-artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for target in buffer http; do
  bin=$build/tests/fuzz/duet-fuzz-$target
  work=$(mktemp -d)
  cp "$here/corpus/$target/"* "$work/"
  echo "== fuzz $target: ${seconds}s"
  # -rss_limit_mb: a memory blow-up is a finding too. -timeout: one input must not take 10 s.
  status=0
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" "$work" >"$work.log" 2>&1 || status=$?
  tail -n 40 "$work.log"
  rm -f "$work.log"
  rm -rf "$work"
  if [[ $status -ne 0 ]]; then
    echo "fuzz $target FAILED (status $status); reproducer: ls $build/fuzz-artifacts/" >&2
    exit 1
  fi
done
