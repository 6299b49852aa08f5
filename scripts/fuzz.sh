#!/usr/bin/env bash
# Open-ended fuzzing: libFuzzer explores new inputs for a while per target and
# keeps whatever breaks something. Unlike the fuzz stage of scripts/test.sh
# (tests/fuzz/run.sh: committed inputs and a fixed-seed bounded run, the same
# every time), this can find something new on any day, so it is not part of
# the test command. Run it before resolving an issue that touches parsing or
# buffers; every finding joins tests/fuzz/known/ together with its fix.
#
# Usage: scripts/fuzz.sh [DURATION] [TARGET...]
#   DURATION  per target: minutes (default 10), or seconds with an s ("90s")
#   TARGET    buffer, http (default: both)
# Builds build-fuzz/ first (clang, ASan+UBSan, asserts live) if needed.
# Findings go to results/fuzz-<time>/<target>/; the new inputs that reached
# new code go to results/fuzz-<time>/<target>/corpus/. The exit status is 1
# if anything was found.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-10}
shift || true
targets=("$@")
((${#targets[@]} > 0)) || targets=(buffer http)
if [[ $duration =~ ^[0-9]+s$ ]]; then
  seconds=${duration%s}
elif [[ $duration =~ ^[0-9]+$ ]]; then
  seconds=$((duration * 60))
else
  echo "usage: scripts/fuzz.sh [MINUTES | SECONDSs] [buffer] [http]" >&2
  exit 2
fi
for target in "${targets[@]}"; do
  [[ -d tests/fuzz/corpus/$target ]] || { echo "no fuzz target '$target' (tests/fuzz/corpus/$target)" >&2; exit 2; }
done

echo "== building the fuzz targets (build-fuzz/)"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_FUZZ=ON \
  -DDUET_SANITIZE=address -DDUET_BUILD_TESTS=OFF -DDUET_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/#/duet-fuzz-}"

out=results/fuzz-$(date +%Y%m%d-%H%M%S)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
found=()
for target in "${targets[@]}"; do
  dir=$out/$target
  mkdir -p "$dir/corpus"
  # Start from the seed corpus (a copy: libFuzzer writes what it finds into
  # its first directory, and the committed corpus changes only by review).
  cp tests/fuzz/corpus/"$target"/* "$dir/corpus/"
  echo "== fuzz $target for ${seconds}s (log: $dir/fuzz.log)"
  status=0
  build-fuzz/tests/fuzz/duet-fuzz-"$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" >"$dir/fuzz.log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|new_units_added)' "$dir/fuzz.log" | sed 's/^/   /' || true
  if ((status != 0)); then
    tail -n 30 "$dir/fuzz.log"
    found+=("$target")
  fi
done

if ((${#found[@]} == 0)); then
  echo "== fuzz: nothing found in ${seconds}s per target (${targets[*]}); new inputs in $out/*/corpus/"
  exit 0
fi
cat >&2 <<EOF

== fuzz: FOUND something in: ${found[*]}. The input that broke it is in $out/<target>/
   (crash-*, leak-*, timeout-*, oom-*; the log beside it says what happened).
To turn a finding into a test and a fix:
  1. Reproduce it:  build-fuzz/tests/fuzz/duet-fuzz-TARGET $out/TARGET/crash-...
  2. Shrink it (optional):  build-fuzz/tests/fuzz/duet-fuzz-TARGET -minimize_crash=1 -runs=100000 \\
       -exact_artifact_path=/tmp/small $out/TARGET/crash-...
  3. Add it as tests/fuzz/known/TARGET-<what-it-shows> (e.g. http-extra-400-when-split) and commit it
     first: the fuzz stage of scripts/test.sh replays every known input, so it now fails -- that is
     the failing test.
  4. Fix the bug, see the replay pass (bash tests/fuzz/run.sh build-fuzz), commit the fix.
New inputs that reached new code are in $out/TARGET/corpus/; to grow the seed corpus with the
ones that add coverage:  build-fuzz/tests/fuzz/duet-fuzz-TARGET -merge=1 tests/fuzz/corpus/TARGET \\
  $out/TARGET/corpus   (this changes what the bounded run explores: commit it on its own).
EOF
exit 1
