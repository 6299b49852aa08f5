"""--compare-with DIR: how far this run's ratios moved from an earlier run's.

A comparison is only worth reading if running it again gives the same
answer. This puts every ratio against epoll of two runs side by side (req/s,
CPU per request and p99, the last two the verdict's figures) and says, ratio
by ratio, whether the second run agrees within the tolerance (10%). A p99
ratio where either run's p99 rests on too few samples, or is too imprecise
to hold 10%, is shown as such and left out of the count: agreement there
would be luck. Too imprecise means either of two things:
- a p99's 95% interval reaches further than 5% (latency.py); that interval
  counts load cycles as independent observations;
- the run's own rounds disagree: the per-round p99 ratios spread further than
  the tolerance from their median. Then the cycles were not independent (a
  stretch of the host's slowness hit one server's slices and not the
  other's), the pooled interval is too narrow, and a run that does not repeat
  its own p99 ratio from round to round within 10% cannot be expected to
  repeat it in the next run. The verdict already calls such a p99 "too close
  to call" when its rounds straddle 1.0. Measured: default runs s7-d1 and
  -d2 (docs/results/2026-11-30-default-h, -i), echo at 100 connections, uring
  against epoll: pooled intervals within +-5%, rounds 0.62-1.23, ratio 0.84
  then 1.02.
Requests/s and CPU per request need no such rule: they are the median of the
per-round pairs already, and the per-round pairs are what moves.
"""
import csv
import os

from . import precision
from .latency import IMPRECISE, NOT_ENOUGH
from .summary import Summary, is_num

METRICS = (("rps", "req/s ×epoll"), ("cpu_us_per_req", "CPU/req ×epoll"), ("p99_us", "p99 ×epoll"))
TOLERANCE = 0.10


def load_rows(path):
    """results.csv (or a directory holding one) -> rows with numbers as numbers.

    The latency histograms beside it (report.HIST_FILE), if there, join their rows.
    """
    from .report import HIST_COLUMNS, HIST_FILE, HIST_KEYS
    if os.path.isdir(path):
        path = os.path.join(path, "results.csv")
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                row[k] = _number(v) if k not in ("case", "config", "status", "error") + HIST_COLUMNS else v
            rows.append(row)
    hist_path = os.path.join(os.path.dirname(path), HIST_FILE)
    if os.path.exists(hist_path):
        with open(hist_path, newline="") as f:
            hists = {tuple(str(r[k]) for k in HIST_KEYS): r for r in csv.DictReader(f)}
        for row in rows:
            h = hists.get(tuple(str(row.get(k, "")) for k in HIST_KEYS))
            for column in HIST_COLUMNS:
                if h and h.get(column):
                    row[column] = h[column]
    return rows


def _number(v):
    if v is None or v == "":
        return v
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def compare(previous_rows, rows, configs, cases):
    """[(case, config, label, old, new, change)] for every ratio both runs have; change = new/old - 1.

    p99: the ratio of the pooled p99s (latency.py). Where either run's p99 of
    either server rests on too few samples, the entry's change is None: it is
    listed as "not enough samples" and counted neither way.
    """
    old, new = Summary(previous_rows, configs, cases), Summary(rows, configs, cases)
    out = []
    for case in cases:
        for cfg in configs:
            if cfg.name == "epoll" or not new.runs(case.id, cfg.name) or not old.runs(case.id, cfg.name):
                continue
            for metric, label in METRICS:
                if metric == "p99_us":
                    a, b = old.p99_ratio(case.id, cfg.name, "epoll")[0], new.p99_ratio(case.id, cfg.name, "epoll")[0]
                    if not (is_num(a) and is_num(b)):
                        if old.ratio(case.id, cfg.name, "epoll", metric) and new.ratio(case.id, cfg.name, "epoll",
                                                                                        metric):
                            out.append((case.id, cfg.name, label, a, b, None, NOT_ENOUGH))
                        continue
                    p99s = [p for s in (old, new) for p in s.p99_ratio(case.id, cfg.name, "epoll")[2:]]
                    if not all(p.precise for p in p99s):
                        widest = max(p.spread for p in p99s if is_num(p.spread))
                        out.append((case.id, cfg.name, label, a, b, None, f"{IMPRECISE} (95% interval ±"
                                                                          f"{widest * 100:.0f}%)"))
                        continue
                    spread = max(_round_spread(s.p99_ratio(case.id, cfg.name, "epoll")[1].values)
                                 for s in (old, new))
                    if spread > TOLERANCE + 1e-9:
                        out.append((case.id, cfg.name, label, a, b, None, f"{IMPRECISE} (rounds spread ±"
                                                                          f"{spread * 100:.0f}%)"))
                        continue
                else:
                    ra, rb = old.ratio(case.id, cfg.name, "epoll", metric), new.ratio(case.id, cfg.name, "epoll", metric)
                    a, b = ra.median, rb.median
                    if is_num(a) and is_num(b) and a > 0:
                        out.append((case.id, cfg.name, label, a, b, b / a - 1, _precision_note(ra, rb)))
                    continue
                if is_num(a) and is_num(b) and a > 0:
                    out.append((case.id, cfg.name, label, a, b, b / a - 1))
    return out


def _precision_note(old, new):
    """Where either run's median was less precise than duet-compare's default target: both standard errors.

    Such a ratio still counts; the note says how far apart the two runs could
    be expected to land (precision.py: the extra rounds stopped at their
    limit before the ratio was within).
    """
    errors = [precision.standard_error(s.values) for s in (old, new)]
    if not any(e is not None and e > precision.DEFAULT_PRECISION for e in errors):
        return ""
    return "its medians' standard errors: " + " then ".join("–" if e is None else f"±{e * 100:.1f}%" for e in errors)


def _round_spread(values):
    """How far the per-round ratios reach from their median, relative (0.12: +-12%); 0 with fewer than 2."""
    values = sorted(v for v in values if is_num(v) and v > 0)
    if len(values) < 2:
        return 0.0
    n = len(values)
    median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return max(values[-1] / median, median / values[0]) - 1


def agrees(change, tolerance=TOLERANCE):
    """Whether one ratio of the second run is within the tolerance of the first's, either way round.

    Symmetric: 1.00 then 0.91 and 0.91 then 1.00 are the same disagreement
    (the larger over the smaller), where |new/old - 1| let the first pass at
    -9% and failed the second at +9.9%. None (a p99 with not enough samples,
    or too imprecise: its 95% interval wider than +-5%, or its rounds spread
    wider than the tolerance): not agreeing, and not counted either
    (counted()).
    """
    if change[5] is None:
        return False
    a, b = change[3], change[4]
    return max(a, b) / min(a, b) - 1 <= tolerance + 1e-9


def counted(changes):
    """The changes that count for agreement (both runs had enough samples)."""
    return [c for c in changes if c[5] is not None]


def table(changes):
    """Every ratio, largest change first, not-enough-samples ones last: [case, config, ratio, earlier, now, change, agrees]."""
    rows = [[c[0], c[1], c[2], f"{c[3]:.2f}×", f"{c[4]:.2f}×", f"{c[5] * 100:+.1f}%",
             ("yes" if agrees(c) else "**no**") + (f" ({c[6]})" if len(c) > 6 and c[6] else "")]
            for c in sorted(counted(changes), key=lambda c: -abs(c[5]))]
    rows += [[c[0], c[1], c[2], f"{c[3]:.2f}×" if is_num(c[3]) else "–", f"{c[4]:.2f}×" if is_num(c[4]) else "–",
              "–", c[6] if len(c) > 6 else NOT_ENOUGH] for c in changes if c[5] is None]
    return rows


def _why(c):
    return IMPRECISE if len(c) > 6 and c[6].startswith(IMPRECISE) else NOT_ENOUGH


def summary_line(changes, tolerance=TOLERANCE):
    few = [c for c in changes if c[5] is None]
    changes = counted(changes)
    if not changes:
        return "no ratio in common with the earlier run" + (f" ({len(few)} p99 ratios left out)" if few else "")
    beyond = [c for c in changes if not agrees(c, tolerance)]
    worst = max(changes, key=lambda c: abs(c[5]))
    per_metric = []
    for _, label in METRICS:
        of = [c for c in changes if c[2] == label]
        left = [c for c in few if c[2] == label]
        whys = [f"{sum(1 for c in left if _why(c) == w)} {'with' if w == NOT_ENOUGH else ''} {w}".replace("  ", " ")
                for w in (NOT_ENOUGH, IMPRECISE) if any(_why(c) == w for c in left)]
        if of or left:
            per_metric.append(f"{label} {sum(1 for c in of if agrees(c, tolerance))} of {len(of)}"
                              + (f" (and {', '.join(whys)})" if whys else ""))
    return (f"{len(changes) - len(beyond)} of {len(changes)} ratios within {tolerance * 100:.0f}% of the earlier "
            f"run ({', '.join(per_metric)}); largest change {worst[5] * 100:+.1f}% ({worst[2]}, {worst[1]}, "
            f"{worst[0]})")
