"""Rounds until the ratios are precise: extra rounds for the cases whose per-round ratios still scatter.

Every ratio the report prints (req/s and CPU per request, each server over
epoll) is the median of per-round pairs. How far that median can move when
the whole run is repeated depends on how much the pairs scatter and on how
many there are; a fixed number of rounds is too many for a steady case and
too few for a noisy one. So after the --rounds every case gets, duet-compare
estimates each of the case's ratios' standard error, and gives one more round
to every case where the worst of them is above --precision, worst first,
pass after pass (so a case's extra rounds, like its first ones, are spread
over time), until every case is precise, has --max-rounds, or the extra
rounds have used --extra-seconds (by default half the time the --rounds
took).

The standard error of a median of n values is about 1.2533 s / sqrt(n), s
their standard deviation (the normal case); relative to the median here, so
0.025 means +-2.5%. Two runs whose medians each have a standard error of
2.5% differ by more than 10% about once in 200 ratios.

Why more rounds and not longer ones: each round starts fresh servers, and
the pairs scatter mostly from round to round, not within one. Measured
(http/hello c1000 and echo c10 x 256 KiB, 8 rounds each): doubling the
measured time per round from 0.5 s to 1 s left the per-round spread of poll
against epoll at 6-9%; only more rounds narrow the median.

p99 ratios are not in the rule: they come from the latencies of every round
pooled, and have their own tests of precision (latency.py, repeat.py).
"""
import math
import statistics

from .summary import Summary, is_num

METRICS = ("rps", "cpu_us_per_req")
MEDIAN_SE = 1.2533   # sqrt(pi / 2): a median's standard error over a mean's, for normal data
MIN_ROUNDS = 3       # fewer per-round pairs say nothing of their spread


def standard_error(values):
    """The relative standard error of the median of `values` (0.03: +-3%); None with fewer than MIN_ROUNDS."""
    values = [v for v in values if is_num(v) and v > 0]
    if len(values) < MIN_ROUNDS:
        return None
    median = statistics.median(values)
    return MEDIAN_SE * statistics.stdev(v / median for v in values) / math.sqrt(len(values))


def base_config(configs):
    """The config every ratio is taken against: epoll when it runs, else the first."""
    names = [c.name for c in configs]
    return "epoll" if "epoll" in names else (names[0] if names else None)


def worst_error(summary, case, configs):
    """(standard error, config, metric) of the case's least precise ratio; (None, "", "") if none is known."""
    base = base_config(configs)
    worst = (None, "", "")
    for cfg in configs:
        if cfg.name == base:
            continue
        for metric in METRICS:
            se = standard_error(summary.ratio(case.id, cfg.name, base, metric).values)
            if se is not None and (worst[0] is None or se > worst[0]):
                worst = (se, cfg.name, metric)
    return worst


def rounds_run(summary, case):
    """How many timed rounds of `case` have rows."""
    return len({r["round"] for r in summary.rows if r["case"] == case.id})


def _measured_configs(rows, case, configs):
    """The configs with timed rows in `case`, and a Summary of the case over them."""
    summary = Summary(rows, configs, [case])
    return [c for c in configs if summary.runs(case.id, c.name)], summary


def next_pass(rows, cases, configs, a):
    """The cases that get one more round in this pass, worst first: [(case, standard error)].

    A case qualifies while its worst ratio's standard error is above
    a.precision and it has fewer than a.max_rounds rounds.
    """
    if a.precision <= 0:
        return []
    out = []
    for case in cases:
        ran, summary = _measured_configs(rows, case, configs)
        if len(ran) < 2:
            continue
        if rounds_run(summary, case) >= a.max_rounds:
            continue
        se = worst_error(summary, case, ran)[0]
        if se is not None and se > a.precision:
            out.append((case, se))
    return sorted(out, key=lambda c: -c[1])


def markdown(rows, cases, configs, a):
    """The report's lines on the rounds each case got and how precise its ratios ended."""
    if a.precision <= 0:
        return []
    md = [f"- Rounds per case: {a.rounds}, then one more at a time for every case whose least precise ratio "
          f"(req/s or CPU per request over {base_config(configs)}) has a "
          f"standard error above ±{a.precision * 100:g}%, worst first, until it is within, has "
          f"{a.max_rounds} rounds, or the extra rounds have used "
          + (f"{a.extra_seconds:g} s" if a.extra_seconds is not None else "half the time the first rounds took")
          + " (precision.py):"]
    cells = []
    for case in cases:
        ran, summary = _measured_configs(rows, case, configs)
        if len(ran) < 2:
            continue
        n = rounds_run(summary, case)
        se, cfg, metric = worst_error(summary, case, ran)
        if se is None:
            continue
        flag = "" if se <= a.precision else " (not within)"
        cells.append(f"{case.id} {n} rounds, ±{se * 100:.1f}% ({cfg} {_metric_name(metric)}){flag}")
    if not cells:
        return []
    md[0] += " " + "; ".join(cells) + "."
    return md


def _metric_name(metric):
    return {"rps": "req/s", "cpu_us_per_req": "CPU/req"}.get(metric, metric)
