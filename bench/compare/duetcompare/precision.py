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
0.03 means +-3%. Two runs whose medians each have a standard error of 3%
differ by more than 10% about once in fifty ratios, and most ratios sit well
inside the limit. The estimate is the right size on this machine: over the
committed pairs of default runs of the same code (510 ratios), 4.9% of the
changes from one run to the other were beyond twice the two runs' standard
errors combined, where the normal case says 4.6%; an estimate from the
median absolute deviation, blind to the outlying rounds, gave 14%
(docs/results/2026-11-30-rounds-vs-duration/calibrate.py).

An extra round runs the base (epoll) and only the servers whose ratios are
not yet within: a round costs in proportion to its servers.

Why rounds and not longer rounds: measured time narrows the scatter either
way, about as its square root (16 rounds of 0.25 s and 8 of 0.5 s gave the
same precision, bench/compare/README.md), so the question is where the time
goes: rounds go to the cases that need them, start fresh servers, and are
spread over the sweep.

p99 ratios are not in the rule: they come from the latencies of every round
pooled, and have their own tests of precision (latency.py, repeat.py).
"""
import math
import statistics

from .summary import Summary, is_num

METRICS = ("rps", "cpu_us_per_req")
DEFAULT_PRECISION = 0.03   # --precision's default
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


def errors(summary, case, configs):
    """{config name: (standard error, metric)} of each config's least precise ratio over the base (known ones)."""
    base = base_config(configs)
    out = {}
    for cfg in configs:
        if cfg.name == base:
            continue
        for metric in METRICS:
            se = standard_error(summary.ratio(case.id, cfg.name, base, metric).values)
            if se is not None and (cfg.name not in out or se > out[cfg.name][0]):
                out[cfg.name] = (se, metric)
    return out


def worst_error(summary, case, configs):
    """(standard error, config, metric) of the case's least precise ratio; (None, "", "") if none is known."""
    known = errors(summary, case, configs)
    if not known:
        return None, "", ""
    name = max(known, key=lambda n: known[n][0])
    return known[name][0], name, known[name][1]


def rounds_run(summary, case):
    """The highest timed round of `case` with rows: the next one is this + 1."""
    return max((r["round"] for r in summary.rows if r["case"] == case.id), default=0)


def _measured_configs(rows, case, configs):
    """The configs with timed rows in `case`, and a Summary of the case over them."""
    summary = Summary(rows, configs, [case])
    return [c for c in configs if summary.runs(case.id, c.name)], summary


def next_pass(rows, cases, configs, a):
    """The cases that get one more round in this pass, worst first: [(case, standard error, configs to run)].

    A config joins the round while its least precise ratio's standard error
    is above a.precision and it has fewer than a.max_rounds rounds; the base
    (epoll) runs in every such round, since every ratio is a pair with it.
    The servers of a case that are already precise sit the round out: an
    extra round costs in proportion to the servers it runs.
    """
    if a.precision <= 0:
        return []
    out = []
    for case in cases:
        ran, summary = _measured_configs(rows, case, configs)
        if len(ran) < 2:
            continue
        base = base_config(ran)
        if len(summary.runs(case.id, base)) >= a.max_rounds:
            continue
        known = errors(summary, case, ran)
        wanted = {name for name, (se, _) in known.items()
                  if se > a.precision and len(summary.runs(case.id, name)) < a.max_rounds}
        if wanted:
            out.append((case, max(known[n][0] for n in wanted),
                        [c for c in ran if c.name == base or c.name in wanted]))
    return sorted(out, key=lambda c: -c[1])


def markdown(rows, cases, configs, a):
    """The report's lines on the rounds each case got and how precise its ratios ended."""
    if a.precision <= 0:
        return []
    md = [f"- Rounds per case: {a.rounds}, then one more at a time for every case whose least precise ratio "
          f"(req/s or CPU per request over {base_config(configs)}) has a standard error above "
          f"±{a.precision * 100:g}%, worst first, with {base_config(configs)} and the servers whose ratios are "
          f"not yet within, until they are, have {a.max_rounds} rounds, or the extra rounds have used "
          + (f"{a.extra_seconds:g} s" if a.extra_seconds is not None else "half the time the first rounds took")
          + " (precision.py):"]
    cells = []
    for case in cases:
        ran, summary = _measured_configs(rows, case, configs)
        if len(ran) < 2:
            continue
        se, cfg, metric = worst_error(summary, case, ran)
        if se is None:
            continue
        counts = {c.name: len(summary.runs(case.id, c.name)) for c in ran}
        least = min(counts.values())
        more = [f"{n} {k}" for n, k in counts.items() if k > least]
        rounds = f"{least} rounds" if not more else ", ".join(more) + f", the others {least}"
        flag = "" if se <= a.precision else ", not within"
        cells.append(f"{case.id}: {rounds}; least precise ±{se * 100:.1f}% ({cfg} {_metric_name(metric)}{flag})")
    if not cells:
        return []
    md[0] += " " + "; ".join(cells) + "."
    return md


def _metric_name(metric):
    return {"rps": "req/s", "cpu_us_per_req": "CPU/req"}.get(metric, metric)
