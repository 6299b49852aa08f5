"""Medians with min-max, and ratios taken pair by pair within a round.

Why pair by pair: the machine's speed drifts (other jobs, turbo, the VM's
neighbours). Two runs next to each other in the same round saw nearly the
same machine, so their ratio is steadier than the ratio of two medians.
"""
import math
import statistics


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def measured(rows):
    """Rows of timed rounds (not skipped, not the perf check)."""
    return [r for r in rows if isinstance(r.get("round"), int) and r["status"] != "skipped"]


class Stat:
    def __init__(self, values):
        self.values = [v for v in values if is_num(v)]

    def __bool__(self):
        return bool(self.values)

    @property
    def median(self):
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def lo(self):
        return min(self.values) if self.values else float("nan")

    @property
    def hi(self):
        return max(self.values) if self.values else float("nan")


class Summary:
    def __init__(self, rows, configs, cases):
        self.rows = measured(rows)
        self.configs = [c.name for c in configs]
        self.cases = cases
        self.by = {}
        self._p99s = {}
        for r in self.rows:
            self.by.setdefault((r["case"], r["config"]), []).append(r)

    def runs(self, case_id, config):
        return self.by.get((case_id, config), [])

    def stat(self, case_id, config, metric):
        return Stat(r.get(metric) for r in self.runs(case_id, config))

    def errors(self, case_id, config):
        return [r for r in self.runs(case_id, config) if r["status"] == "error"]

    def ratio(self, case_id, config, base, metric, invert=False):
        """metric(config)/metric(base), round by round; invert: base/config (e.g. efficiency)."""
        a = {r["round"]: r.get(metric) for r in self.runs(case_id, config)}
        b = {r["round"]: r.get(metric) for r in self.runs(case_id, base)}
        out = []
        for rnd in sorted(set(a) & set(b)):
            x, y = a[rnd], b[rnd]
            if is_num(x) and is_num(y) and x and y:
                out.append(y / x if invert else x / y)
        return Stat(out)

    def case(self, case_id):
        return next((c for c in self.cases if c.id == case_id), None)

    def p99(self, case_id, config, rounds=None):
        """The server's p99 over every round (or over `rounds`), pooled (latency.py), with what it rests on."""
        from . import latency
        runs = self.runs(case_id, config)
        if rounds is not None:
            runs = [r for r in runs if r["round"] in rounds]
        key = (case_id, config, frozenset(r["round"] for r in runs))
        if key not in self._p99s:
            case = self.case(case_id)
            self._p99s[key] = latency.p99(runs, case if case is not None else _case_from_rows(runs))
        return self._p99s[key]

    def p99_ratio(self, case_id, config, base):
        """(pooled p99 ratio config/base, per-round ratios as a Stat, P99 of config, P99 of base).

        Both p99s pool the same rounds, the ones both servers ran (extra rounds,
        precision.py, may run only some of a case's servers), so their samples
        met the same stretches of the machine. The ratio is nan when either p99
        has not enough samples behind it.
        """
        common = ({r["round"] for r in self.runs(case_id, config)} & {r["round"] for r in self.runs(case_id, base)})
        a, b = self.p99(case_id, config, common), self.p99(case_id, base, common)
        per_round = self.ratio(case_id, config, base, "p99_us")
        if not (a.enough and b.enough) or not b.value_us:
            return float("nan"), per_round, a, b
        return a.value_us / b.value_us, per_round, a, b

    def has(self, config):
        return any(cfg == config for (_, cfg) in self.by)


class _RowsCase:
    """What latency.in_flight needs, read from a row (a case no longer in the plan, e.g. an earlier run's)."""
    def __init__(self, r):
        self.connections = r.get("connections") if is_num(r.get("connections")) else 1
        self.inflight = r.get("inflight") if is_num(r.get("inflight")) else 1
        self.churn = str(r.get("case", "")).startswith("churn ")


def _case_from_rows(rows):
    return _RowsCase(rows[0] if rows else {})


def fmt(v, digits=None):
    if not is_num(v):
        return "–"
    if digits is None:
        a = abs(v)
        digits = 0 if a >= 100 else (1 if a >= 10 else 2)
    return f"{v:,.{digits}f}"


def fmt_stat(s, digits=None, spread=True):
    if not s:
        return "–"
    if not spread or len(s.values) == 1:
        return fmt(s.median, digits)
    return f"{fmt(s.median, digits)} [{fmt(s.lo, digits)}–{fmt(s.hi, digits)}]"


def fmt_ratio(s, spread=True):
    if not s:
        return "–"
    if not spread or len(s.values) == 1:
        return f"{s.median:.2f}×"
    return f"{s.median:.2f}× [{s.lo:.2f}–{s.hi:.2f}]"
