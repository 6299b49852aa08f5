#!/usr/bin/env bash
# duet-compare --quick end to end: every backend and raw baseline serves,
# results.csv and report.md are written, and no run failed. Counts, not speed.
set -euo pipefail
compare=$1 build=$2
out=$(mktemp -d /tmp/duet-compare-quick.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$compare" --quick --build "$build" --out "$out" --no-plots
test -s "$out/report.md"
grep -q "^## Verdict" "$out/report.md"   # the report opens with the verdict
python3 - "$out/results.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
ran = [r for r in rows if r["status"] != "skipped"]
bad = [f"{r['config']} {r['case']}: {r['error']}" for r in ran if r["status"] != "ok"]
assert not bad, bad
configs = {r["config"] for r in ran}
assert {"epoll", "poll", "select", "uring", "raw-epoll", "raw-uring"} <= configs, configs
timed = [r for r in ran if r["workload"] in ("echo", "http")]
assert timed and all(float(r["requests"]) > 0 and float(r["cpu_us_per_req"]) > 0 for r in timed), timed
assert all(float(r["syscalls_per_req"]) > 0 for r in timed if r["kind"] != "nginx"), timed
cases = {r["case"] for r in timed}
assert {"churn echo c10 s128", "churn http/hello c10", "http/hello c10 k4"} <= cases, cases   # every regime ran
print(f"ok: {len(ran)} runs, configs {sorted(configs)}")
PY
