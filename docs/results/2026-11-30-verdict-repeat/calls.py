"""Do the verdict's calls repeat? Over the committed pairs of default runs of the same code, every ratio over
epoll that the verdict's rules could call (server CPU per request: verdict.call; p99: verdict.call_p99, the
pooled p99s with enough samples behind both), in both runs: the same winner, a winner in one run and "too close
to call" in the other, opposite winners, or too close in both. Every config against epoll, not only uring (the
verdict shows uring's; the rules are the same). Also, as the reader may want to weigh a call by its size: the
same with calls under 5% (CPU) and 10% (p99) counted as too close, and uring's alone (the verdict's rows).

Run from the repository top: python3 docs/results/2026-11-30-verdict-repeat/calls.py
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(RESULTS, "..", "..", "bench", "compare"))
from duetcompare import verdict  # noqa: E402
from duetcompare.repeat import load_rows  # noqa: E402
from duetcompare.summary import Summary  # noqa: E402

# Same-code pairs with latency histograms (default-d on); i/j differ only in how p99 ratios are counted.
PAIRS = (("d", "e"), ("f", "g"), ("h", "i"), ("i", "j"), ("k", "l"), ("m", "n"), ("n", "o"), ("p", "q"),
         ("r", "s"), ("t", "u"))
KINDS = ("same winner", "a winner, then too close (or the reverse)", "opposite winners", "too close in both")


def calls(run):
    """{(case, config): (p99 Call or None, CPU Call)} of one run, every config against epoll."""
    s = Summary(load_rows(os.path.join(RESULTS, f"2026-11-30-default-{run}")), [], [])
    out = {}
    for case, config in sorted(s.by):
        if config == "epoll" or not s.runs(case, "epoll"):
            continue
        p99 = verdict.call_p99(s, case, config, "epoll")
        cpu = verdict.call(s.ratio(case, config, "epoll", "cpu_us_per_req").values, config, "epoll")
        out[(case, config)] = (p99 if p99.rounds and not p99.note else None, cpu)
    return out


def winner(c, margin):
    if c is None or not c.winner or abs(math.log(c.median)) < math.log(1 + margin):
        return ""
    return c.winner


runs = {r: calls(r) for pair in PAIRS for r in pair}
FIGURES = (("CPU per request", 1, 0.0), ("p99", 0, 0.0), ("CPU per request, calls >= 5%", 1, 0.05),
           ("p99, calls >= 10%", 0, 0.10))
for (figure, index, margin), only in [(f, None) for f in FIGURES] + [(f, "uring") for f in FIGURES[:2]]:
    tally = dict.fromkeys(KINDS, 0)
    reversed_ = []
    for a, b in PAIRS:
        for key in sorted(set(runs[a]) & set(runs[b])):
            if only and key[1] != only:
                continue
            ca, cb = runs[a][key][index], runs[b][key][index]
            if ca is None or cb is None:
                continue   # a p99 without enough samples in either run: no call to repeat
            x, y = winner(ca, margin), winner(cb, margin)
            kind = KINDS[0 if x and x == y else 2 if x and y else 1 if x or y else 3]
            tally[kind] += 1
            if kind == KINDS[2]:
                reversed_.append(f"{a}/{b} {key[0]} {key[1]}: {ca.ratio_text} then {cb.ratio_text}")
    total = sum(tally.values())
    figure += f", {only} only (the verdict's rows)" if only else ", every config"
    print(f"{figure}: {total} ratios in {len(PAIRS)} pairs: " + "; ".join(f"{k} {v}" for k, v in tally.items()))
    for line in reversed_:
        print(f"  opposite: {line}")
