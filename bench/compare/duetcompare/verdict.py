"""The verdict: the report's opening section, read in ten seconds.

For each regime (timed case), which model wins on server CPU per request and
on p99 latency, by how much, and how sure. Both come from ratios taken pair
by pair inside a round (uring / epoll, the two servers measured in the same
alternating slices), so "how sure" is the min-max of those per-round ratios:
a range that straddles 1.0 is too close to call, whatever its median says.

Lower is better for both figures, so a ratio below 1.0 is a uring win. "By
how much" is the loser's figure over the winner's (the median ratio or its
inverse, always >= 1), which reads the same way for either winner.
"""
import math
from dataclasses import dataclass

from .latency import MIN_CYCLES, NOT_ENOUGH
from .summary import is_num

TOO_CLOSE = "too close to call"


@dataclass
class Call:
    """One figure's verdict for one regime."""
    winner: str          # the model name, or "" (too close to call, or not measured)
    factor: float        # the loser's figure over the winner's (>= 1), nan if no winner
    median: float        # ratio a/b, median of the per-round pairs
    lo: float
    hi: float
    rounds: int          # how many per-round pairs
    note: str = ""       # why there is no call although both ran (latency.NOT_ENOUGH)

    @property
    def words(self):
        if self.note:
            return self.note
        if not self.rounds:
            return "not measured"
        if not self.winner:
            return TOO_CLOSE
        one = " (1 round: no spread)" if self.rounds == 1 else ""
        return f"**{self.winner}** by {self.factor:.2f}×{one}"

    @property
    def ratio_text(self):
        if not self.rounds or not is_num(self.median):
            return "–"
        if self.rounds == 1:
            return f"{_ratio(self.median)}×"
        return f"{_ratio(self.median)}× [{_ratio(self.lo)}–{_ratio(self.hi)}]"


def _ratio(v):
    """Two decimals, or three where two would print 1.00 for a value that is not 1.0 (a call hinges on it)."""
    return f"{v:.3f}" if f"{v:.2f}" == "1.00" and v != 1.0 else f"{v:.2f}"


def call(values, a, b):
    """values: per-round ratios a/b of a lower-is-better figure -> Call."""
    values = sorted(v for v in values if is_num(v) and v > 0)
    if not values:
        return Call("", math.nan, math.nan, math.nan, math.nan, 0)
    n = len(values)
    median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    lo, hi = values[0], values[-1]
    if lo <= 1.0 <= hi:
        return Call("", math.nan, median, lo, hi, n)
    if hi < 1.0:
        return Call(a, 1 / median, median, lo, hi, n)
    return Call(b, median, median, lo, hi, n)


def call_p99(summary, case_id, a, b):
    """The p99 verdict: the ratio of the two servers' pooled p99s, how sure from the per-round pairs.

    The figure is the ratio of p99s over every round pooled (latency.py):
    the p99 of all the samples, not the median of per-round p99s. How sure:
    the min-max of the per-round ratios (each round's two servers met the
    same slices) must stay on one side of 1.0, and the two pooled p99s' 95%
    intervals must not overlap; a p99 with not enough samples behind it on
    either side gets no call at all.
    """
    ratio, per_round, pa, pb = summary.p99_ratio(case_id, a, b)
    values = sorted(v for v in per_round.values if is_num(v) and v > 0)
    if not values:
        return Call("", math.nan, math.nan, math.nan, math.nan, 0)
    lo, hi, n = values[0], values[-1], len(values)
    if not is_num(ratio):
        short = [f"{name} {p.describe()}" for name, p in ((a, pa), (b, pb)) if not p.enough]
        return Call("", math.nan, math.nan, lo, hi, n, f"{NOT_ENOUGH} ({'; '.join(short)})")
    if lo <= 1.0 <= hi or (ratio < 1.0) != (hi < 1.0) or _intervals_overlap(pa, pb):
        return Call("", math.nan, ratio, lo, hi, n)
    if hi < 1.0:
        return Call(a, 1 / ratio, ratio, lo, hi, n)
    return Call(b, ratio, ratio, lo, hi, n)


def _intervals_overlap(pa, pb):
    """Whether the two p99s' 95% intervals overlap: then neither is surely the lower, whatever the rounds say."""
    if not all(is_num(v) for v in (pa.lo_us, pa.hi_us, pb.lo_us, pb.hi_us)):
        return False   # unknown (an older results.csv): the per-round pairs decide alone
    return pa.lo_us <= pb.hi_us and pb.lo_us <= pa.hi_us


@dataclass
class Row:
    case_id: str
    regime: str
    cpu: Call
    p99: Call


def regime(case):
    """A case's name in words ("echo, 100 connections × 128 B")."""
    t = f", {case.threads} I/O threads" if case.threads else ""
    if case.churn:
        what = "echo 128 B" if case.workload == "echo" else f"HTTP {case.path} with Connection: close"
        return f"churn (connect, one request, close): {what}, {case.connections} at a time{t}"
    conns = f"{case.connections:,} connection" + ("s" if case.connections != 1 else "")
    if case.workload == "echo":
        k = f" × {case.inflight} in flight" if case.inflight > 1 else ""
        return f"echo, {conns} × {_bytes(case.size)}{k}{t}"
    if case.inflight > 1:
        return f"HTTP {case.path} pipelined {case.inflight} deep, {conns}{t}"
    return f"HTTP {case.path} keep-alive, {conns}{t}"


def _bytes(n):
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def rows(summary, cases, configs, a=None, b="epoll"):
    """One Row per timed case both models ran; a is the main uring config (report.main_uring)."""
    names = [c.name for c in configs]
    a = a or ("uring" if "uring" in names else next((n for n in names if n.startswith("uring")), None))
    if not a or not summary.has(a) or not summary.has(b):
        return []
    out = []
    for case in cases:
        if case.workload == "hold":
            continue
        cpu = call(summary.ratio(case.id, a, b, "cpu_us_per_req").values, a, b)
        p99 = call_p99(summary, case.id, a, b)
        if cpu.rounds or p99.rounds:
            out.append(Row(case.id, regime(case), cpu, p99))
    return out


def headline(vrows, a="uring", b="epoll"):
    """One sentence: how many regimes each model wins, per figure."""
    def tally(pick):
        calls = [pick(r) for r in vrows if pick(r).rounds]
        few = sum(1 for c in calls if c.note)
        wins_a = sum(1 for c in calls if c.winner == a)
        wins_b = sum(1 for c in calls if c.winner == b)
        close = len(calls) - wins_a - wins_b - few
        return (f"{a} wins {wins_a}, {b} wins {wins_b}, {close} too close to call"
                + (f", {few} with {NOT_ENOUGH}" if few else ""))
    return (f"Of {len(vrows)} regimes: CPU per request: {tally(lambda r: r.cpu)}; "
            f"p99 latency: {tally(lambda r: r.p99)}.")


def markdown(vrows, a="uring", b="epoll", chart=None):
    """The verdict section of report.md."""
    out = ["## Verdict\n"]
    if not vrows:
        out.append(f"Needs both {a} and {b} in the run: no verdict.\n")
        return "\n".join(out)
    out.append(headline(vrows, a, b) + "\n")
    out.append(f"Per regime, the winner on server CPU per request (churn: per connection) and on p99 latency, by "
               f"how much (the loser's figure over the winner's), and the {a}/{b} ratio: median [min–max] of the "
               f"per-round pairs. A range that straddles 1.0 is {TOO_CLOSE}. The p99 ratio is that of the two "
               f"servers' p99s over every round pooled (their latency histograms added), with the per-round "
               f"pairs' min–max, and a call needs the two p99s' 95% intervals apart too; a p99 resting on fewer than {MIN_CYCLES:,} load cycles (samples / messages in "
               f"flight: under {MIN_CYCLES // 100} independent observations beyond it) has {NOT_ENOUGH} and no "
               f"call.\n")
    out.append("| regime | CPU per request | " + f"{a}/{b}" + " | p99 | " + f"{a}/{b}" + " |")
    out.append("|---|---|---|---|---|")
    for r in vrows:
        out.append(f"| {r.regime} (`{r.case_id}`) | {r.cpu.words} | {r.cpu.ratio_text} | {r.p99.words} | "
                   f"{r.p99.ratio_text} |")
    out.append("")
    if chart:
        out.append(f"![{a}/{b} CPU per request per regime]({chart}.svg)  ([PNG]({chart}.png), data "
                   f"[{chart}.dat]({chart}.dat))\n")
    return "\n".join(out)


def text(vrows, a="uring", b="epoll"):
    """The verdict for the console."""
    if not vrows:
        return f"verdict: needs both {a} and {b}"
    lines = ["== verdict (" + headline(vrows, a, b) + ")"]
    width = max(len(r.case_id) for r in vrows)
    for r in vrows:
        lines.append(f"{r.case_id:<{width}}  CPU: {r.cpu.words.replace('**', ''):<34} {r.cpu.ratio_text:<22} "
                     f"p99: {r.p99.words.replace('**', ''):<34} {r.p99.ratio_text}")
    return "\n".join(lines)


def chart_data(vrows):
    """The chart's data file: one line per regime with the CPU ratio's median, min and max ('?' if missing)."""
    lines = ["# index case median min max (uring/epoll server CPU per request, per-round pairs)"]
    for i, r in enumerate(vrows):
        c = r.cpu
        vals = [f"{v:.6g}" if c.rounds else "?" for v in (c.median, c.lo, c.hi)]
        lines.append(f'{i} "{r.case_id}" ' + " ".join(vals))
    return "\n".join(lines) + "\n"
