"""--compare-with DIR: how far this run's ratios moved from an earlier run's.

A comparison is only worth reading if running it again gives the same
answer. This puts the two ratio columns of the summary tables (req/s ×epoll
and CPU/req ×epoll) of two runs side by side and says which moved by more
than the tolerance.
"""
import csv
import os

from .summary import Summary, is_num

METRICS = (("rps", "req/s ×epoll"), ("cpu_us_per_req", "CPU/req ×epoll"))


def load_rows(path):
    """results.csv (or a directory holding one) -> rows with numbers as numbers."""
    if os.path.isdir(path):
        path = os.path.join(path, "results.csv")
    rows = []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            row = {}
            for k, v in raw.items():
                row[k] = _number(v) if k not in ("case", "config", "status", "error") else v
            rows.append(row)
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


def compare(previous_rows, rows, configs, cases, tolerance=0.10):
    """[(case, config, label, old, new, change)] for every ratio both runs have; change = new/old - 1."""
    old, new = Summary(previous_rows, configs, cases), Summary(rows, configs, cases)
    out = []
    for case in cases:
        for cfg in configs:
            if cfg.name == "epoll" or not new.runs(case.id, cfg.name) or not old.runs(case.id, cfg.name):
                continue
            for metric, label in METRICS:
                a = old.ratio(case.id, cfg.name, "epoll", metric).median
                b = new.ratio(case.id, cfg.name, "epoll", metric).median
                if is_num(a) and is_num(b) and a > 0:
                    out.append((case.id, cfg.name, label, a, b, b / a - 1))
    return out


def summary_line(changes, tolerance=0.10):
    if not changes:
        return "no ratio in common with the earlier run"
    beyond = [c for c in changes if abs(c[5]) > tolerance]
    worst = max(changes, key=lambda c: abs(c[5]))
    return (f"{len(changes) - len(beyond)} of {len(changes)} ratios within {tolerance * 100:.0f}% of the earlier "
            f"run; largest change {worst[5] * 100:+.1f}% ({worst[2]}, {worst[1]}, {worst[0]})")
