"""p99 from every round of a server pooled, and whether enough samples back it.

Why pooled: duet-load prints, per server and per round, its latency
histogram (the buckets, `latency_hist`: "value_ns:count ..."; all slices and
load threads of that round already added). One round measures 0.5 s per
server, so its p99 is decided by its top 1%: at 1,000 connections that is
the slowest few hundred-microsecond stretches of a 0.5 s window. Adding the
buckets of every round (the HdrHistogram way: counts add, the percentile is
read from the sum) gives the p99 of all the samples, which the median of
four per-round p99s is not.

Why samples are counted in load cycles: in a closed loop with C connections
and K messages in flight each, the C*K messages in flight at one moment are
not independent: one stall of the server (a preemption, a slow burst of the
host) delays all of them. So N samples are only about N / (C*K) independent
observations ("cycles": each connection's message went round once), and a
p99 rests on a hundredth of that. At 1 connection 8,000 samples are 8,000
cycles and the p99 rests on 80; at 1,000 connections 90,000 samples are 90
cycles, and the p99 is the worst cycle of the window: it measures whether a
stall happened, and two runs disagree by 2x (docs/results/2026-11-30-default-a
to -c: echo c1000 p99 per round 6.7-29 ms for the same server).

A p99 resting on fewer than MIN_CYCLES cycles (under 10 beyond it) is "not
enough samples": shown as such, and left out of the verdict and of
--compare-with's agreement count.

How precise a p99 with enough samples is: its 95% interval from the order
statistics (distribution-free: of n independent samples, the number below
the true p99 is binomial(n, 0.99), so the true p99 lies between the values
at ranks n(0.99 -+ 1.96 sqrt(0.99 * 0.01 / n)) 95% of the time), with n the
cycles, read from the pooled histogram. A p99 whose interval is wider than
+-5% cannot be expected to agree with another run's within 10%: the report
shows the interval so a reader sees which.
"""
import math
from dataclasses import dataclass

from .summary import is_num

# Independent observations (load cycles) a p99 needs: 1,000 puts 10 of them beyond it.
MIN_CYCLES = 1000
NOT_ENOUGH = "not enough samples"
# A p99 whose 95% interval reaches further than this from it cannot be expected to agree with another run's
# within --compare-with's 10%: the check leaves such a ratio out as too imprecise, instead of counting luck.
PRECISION = 0.05
IMPRECISE = "too imprecise to compare"


def parse(text):
    """duet-load's latency_hist ("value_ns:count value_ns:count") -> {value_ns: count}; {} if absent."""
    out = {}
    if not isinstance(text, str):
        return out
    for item in text.split():
        value, _, count = item.partition(":")
        try:
            v, c = int(value), int(count)
        except ValueError:
            continue
        if c > 0:
            out[v] = out.get(v, 0) + c
    return out


def pool(hists):
    """Adds histograms bucket by bucket."""
    out = {}
    for h in hists:
        for v, c in h.items():
            out[v] = out.get(v, 0) + c
    return out


def quantile(hist, q):
    """The value at quantile q of a pooled histogram: duet-load's rule (rank ceil(q*n), that bucket's value)."""
    n = sum(hist.values())
    if not n:
        return math.nan
    rank = max(1, math.ceil(q * n))
    seen = 0
    for v in sorted(hist):
        seen += hist[v]
        if seen >= rank:
            return float(v)
    return float(max(hist))


def in_flight(case):
    """Messages outstanding at once for one server: connections x in flight per connection (churn: one each)."""
    conns = getattr(case, "connections", 1) or 1
    k = 1 if getattr(case, "churn", False) else (getattr(case, "inflight", 1) or 1)
    return max(1, conns * k)


def interval(hist, cycles, q=0.99, z=1.96):
    """95% interval (lo, hi) of the q-quantile from a pooled histogram and its independent observations.

    nan where a bound falls outside the samples (too few cycles for the rank to exist).
    """
    if not hist or not cycles:
        return math.nan, math.nan
    half = z * math.sqrt(q * (1 - q) / cycles)
    lo = quantile(hist, q - half) if q - half > 0 else math.nan
    hi = quantile(hist, q + half) if q + half < 1 else math.nan
    return lo, hi


@dataclass
class P99:
    """One server's p99 in one case, over every round."""
    value_us: float      # nan if nothing measured
    samples: int         # latency samples it rests on (all rounds)
    cycles: float        # samples / messages in flight: independent observations
    pooled: bool         # from the pooled histograms (False: an older results.csv, median of per-round p99s)
    rounds: int
    lo_us: float = math.nan   # its 95% interval (interval()); nan without histograms or enough cycles
    hi_us: float = math.nan

    @property
    def enough(self):
        return self.rounds > 0 and is_num(self.value_us) and self.cycles >= MIN_CYCLES

    @property
    def spread(self):
        """How far the 95% interval reaches from the p99, relative (0.12: +-12%); nan if unknown."""
        if not (self.enough and is_num(self.lo_us) and is_num(self.hi_us) and self.value_us):
            return math.nan
        return max(self.value_us - self.lo_us, self.hi_us - self.value_us) / self.value_us

    @property
    def precise(self):
        """Enough samples, and an interval within PRECISION (unknown without histograms: an older run)."""
        if not self.enough:
            return False
        if not self.pooled:
            return True
        return is_num(self.spread) and self.spread <= PRECISION + 1e-9

    @property
    def beyond(self):
        """Independent observations beyond the p99 (the top 1%)."""
        return self.cycles / 100

    def describe(self):
        """e.g. "352k samples, 3,520 cycles, 95%: 1,120–1,220": what the p99 rests on, and how precise it is."""
        text = f"{_short(self.samples)} samples, {_short(self.cycles)} cycles"
        if self.enough and is_num(self.lo_us) and is_num(self.hi_us):
            text += f", 95%: {self.lo_us:,.0f}–{self.hi_us:,.0f}"
        return text


def _short(n):
    if not is_num(n):
        return "–"
    if n >= 1e6:
        return f"{n / 1e6:.1f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    return f"{n:,.0f}"


def _samples(row):
    for key in ("latency_samples", "requests"):
        v = row.get(key)
        if is_num(v):
            return int(v)
    return 0


def p99(rows, case):
    """rows: one server's rows of one case (every round) -> P99.

    Rows with histograms are pooled; an older results.csv without them gives
    the median of the per-round p99s, over the rows' samples (`requests`).
    """
    ok = [r for r in rows if r.get("status") == "ok" and is_num(r.get("p99_us"))]
    if not ok:
        return P99(math.nan, 0, 0.0, False, 0)
    samples = sum(_samples(r) for r in ok)
    cycles = samples / in_flight(case)
    hists = [parse(r.get("latency_hist")) for r in ok]
    if all(hists):
        pooled = pool(hists)
        lo, hi = interval(pooled, cycles)
        return P99(quantile(pooled, 0.99) / 1e3, samples, cycles, True, len(ok), lo / 1e3, hi / 1e3)
    values = sorted(r["p99_us"] for r in ok)
    n = len(values)
    median = values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2
    return P99(median, samples, cycles, False, len(ok))
