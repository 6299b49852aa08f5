"""The summary in command.txt: per run, the per-round standard deviation of every ratio over epoll (req/s and
CPU per request, relative to its median) and the median's standard error (1.2533 sd / sqrt(rounds)).

Run from the repository top: python3 docs/results/2026-11-30-rounds-vs-duration/summarize.py
"""
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bench", "compare"))
from duetcompare.repeat import load_rows  # noqa: E402
from duetcompare.summary import measured  # noqa: E402

for run in ("d0.25", "d0.5", "d0.5b", "d1.0", "d2.0"):
    by = {}
    for r in measured(load_rows(os.path.join(HERE, run))):
        by.setdefault((r["case"], r["config"]), {})[r["round"]] = r
    sds, ses, rounds = [], [], set()
    for (case, config), runs in sorted(by.items()):
        base = by.get((case, "epoll"))
        if config == "epoll" or not base:
            continue
        for metric in ("rps", "cpu_us_per_req"):
            values = [runs[k][metric] / base[k][metric] for k in sorted(set(runs) & set(base))]
            median = statistics.median(values)
            sd = statistics.stdev(v / median for v in values)
            sds.append(sd)
            ses.append(1.2533 * sd / math.sqrt(len(values)))
            rounds.add(len(values))
    print(f"{run}: rounds {min(rounds)}-{max(rounds)}, {len(sds)} ratios; per-round sd median "
          f"{statistics.median(sds) * 100:.1f}% (max {max(sds) * 100:.1f}%); standard error median "
          f"{statistics.median(ses) * 100:.1f}% (max {max(ses) * 100:.1f}%)")
