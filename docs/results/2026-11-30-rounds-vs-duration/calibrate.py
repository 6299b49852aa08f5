"""Is the standard error precision.py estimates the right size? Checked on the committed pairs of default runs
of the same code: for every ratio over epoll (req/s and CPU per request) the change of its median from one run
to the other, over the two runs' standard errors combined. Were the estimate right, about 4.6% of the changes
would lie beyond 2 of them (normal). Also shown: a robust estimate from the median absolute deviation, which
the outlying rounds of this machine make too small.

Run from the repository top: python3 docs/results/2026-11-30-rounds-vs-duration/calibrate.py
"""
import math
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(RESULTS, "..", "..", "bench", "compare"))
from duetcompare import precision  # noqa: E402
from duetcompare.repeat import load_rows  # noqa: E402
from duetcompare.summary import measured  # noqa: E402

PAIRS = (("d", "e"), ("f", "g"), ("h", "i"), ("i", "j"), ("k", "l"))


def ratios(run):
    by = {}
    for r in measured(load_rows(os.path.join(RESULTS, f"2026-11-30-default-{run}"))):
        by.setdefault((r["case"], r["config"]), {})[r["round"]] = r
    out = {}
    for (case, config), runs in by.items():
        base = by.get((case, "epoll"))
        if config == "epoll" or not base:
            continue
        for metric in precision.METRICS:
            values = [runs[k][metric] / base[k][metric] for k in sorted(set(runs) & set(base))
                      if precision.is_num(runs[k].get(metric)) and precision.is_num(base[k].get(metric))
                      and base[k][metric]]
            if len(values) >= precision.MIN_ROUNDS:
                out[(case, config, metric)] = values
    return out


def mad_error(values):
    median = statistics.median(values)
    return precision.MEDIAN_SE * 1.4826 * statistics.median(abs(v / median - 1) for v in values) / math.sqrt(
        len(values))


for name, error in (("standard deviation (precision.py)", precision.standard_error),
                    ("median absolute deviation", mad_error)):
    z = []
    for a, b in PAIRS:
        ra, rb = ratios(a), ratios(b)
        for key in set(ra) & set(rb):
            change = abs(math.log(statistics.median(ra[key]) / statistics.median(rb[key])))
            z.append(change / math.hypot(error(ra[key]), error(rb[key])))
    print(f"{name}: {len(z)} ratios in {len(PAIRS)} pairs; beyond 2 standard errors "
          f"{sum(v > 2 for v in z) / len(z) * 100:.1f}%, beyond 3 {sum(v > 3 for v in z) / len(z) * 100:.1f}%")
