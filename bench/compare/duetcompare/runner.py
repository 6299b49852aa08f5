"""Runs the plan: rounds x cases x configs, interleaved, one measured run at a time.

For one run: start the server pinned to the server CPUs, note its CPU time
(/proc/PID/stat), run the load pinned to the load CPUs, note the CPU time
again, stop the server (SIGTERM) and read its own counters (--stats). The CPU
window spans the whole load process (connect, warm-up, measured part), and so
do the server's counters; so per-request figures divide both by the requests
the *server* handled over the same span (echo: bytes_in / size; HTTP:
bytes_out / response size), while throughput and latency come from the load's
measured window only.
"""
import json
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

from . import alternate, loads, precision, procs, servers
from .case import Case
from .outcome import base_row, derive_counters, is_number, record_stop
from .servers import Config
from .summary import Summary

HOLDING = re.compile(r'"event"\s*:\s*"holding"')


class Context:
    def __init__(self, args, build):
        self.args = args
        self.build = build
        self.server_cpus = args.server_cpus
        self.load_cpus = args.load_cpus
        self.load_features = set()   # duet-load options this build knows (loads.features)


def run_one(ctx, config, case, rnd, perf=False):
    row = base_row(config, case, rnd)
    a = ctx.args
    server, err = servers.start(config, case, ctx.build, ctx.server_cpus)
    if err:
        row.update(status="error", error=err)
        row["server_command"] = " ".join(servers.command(config, case, ctx.build, ctx.server_cpus, None))
        return row
    row["server_command"] = " ".join(server.command)
    try:
        if case.workload == "hold":
            _hold(ctx, server, case, row)
        else:
            _load(ctx, server, case, row, perf)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        row.update(status="error", error=f"{type(e).__name__}: {e}")
    finally:
        stopped = server.stop()
    record_stop(row, config, case, server, stopped)
    if case.workload != "hold":
        # The load ran this server alone for its whole run: its count stands in for a server without counters.
        served = derive_counters(row, stopped[0], case, config, whole_run_requests=row.get("requests", 0))
        if served and is_number(row.get("server_cpu_s")):
            row["cpu_us_per_req"] = row["server_cpu_s"] * 1e6 / served
        if served and "load_cpu_s" in row:
            row["load_cpu_us_per_req"] = row["load_cpu_s"] * 1e6 / served
    return row


def _load(ctx, server, case, row, perf):
    a = ctx.args
    if case.workload == "echo":
        cmd = loads.echo_command(ctx.build, ctx.load_cpus, server.port, case, a.duration, a.warmup)
        limit = a.duration + a.warmup + 30
        row["duration_s"], row["warmup_s"] = a.duration, a.warmup
    else:
        cmd = loads.wrk_command(ctx.load_cpus, server.port, case, a.duration)
        limit = loads.wrk_seconds(a.duration) + 30
        row["duration_s"], row["warmup_s"] = loads.wrk_seconds(a.duration), 0
    row["load_command"] = " ".join(cmd)
    syscall_count = None
    if perf:
        syscall_count = procs.SyscallCount(server.pid)
        time.sleep(0.2)  # let perf attach before the first request
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = procs.cpu_seconds(server.pid)
    t0 = time.monotonic()
    load = procs.spawn(cmd, stderr=subprocess.PIPE)
    out, err, killed = procs.communicate(load, limit)
    if killed:
        row.update(status="error", error=f"load did not finish within {limit:.0f}s: killed")
    wall = time.monotonic() - t0
    alive = server.alive()
    cpu1 = procs.cpu_seconds(server.pid) if alive else float("nan")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row["server_cpu_s"] = cpu1 - cpu0
    row["load_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    row["load_wall_s"] = wall
    if syscall_count:
        row["perf_syscalls"] = syscall_count.finish()
    if not alive:
        row.update(status="error", error=f"server died during the load (exit {server.proc.poll()})")
    try:
        metrics = loads.parse_echo(out) if case.workload == "echo" else loads.parse_wrk(out)
    except (ValueError, KeyError) as e:
        if row["status"] == "ok":
            first = err.strip().splitlines()
            row.update(status="error", error=f"{e}; load exit {load.returncode}"
                                             + (f": {first[0][:160]}" if first else ""))
        return
    row.update(metrics)
    if not metrics["requests"] and row["status"] == "ok":
        # No error anywhere, yet nothing completed: a stall. Never a silent zero.
        row.update(status="error", error="no request completed in the measured window (stalled)")
    if metrics["load_errors"] and row["status"] == "ok":
        row.update(status="error", error=f"load errors: {metrics['error_detail']}")


def _hold(ctx, server, case, row):
    a = ctx.args
    cmd = loads.hold_command(ctx.build, ctx.load_cpus, server.port, case.connections, a.hold_seconds)
    row["load_command"] = " ".join(cmd)
    rss0 = procs.rss_bytes(server.pid)
    load = procs.spawn(cmd, stderr=subprocess.PIPE)
    m, lines = procs.read_lines_until(load, HOLDING, timeout=60)
    rss1 = procs.rss_bytes(server.pid) if (m and server.alive()) else 0
    out, _, _ = procs.communicate(load, a.hold_seconds + 30)
    out = "\n".join(lines) + "\n" + out
    final = [l for l in out.splitlines() if '"mode":"hold"' in l.replace(" ", "")]
    connected = 0
    if final:
        r = json.loads(final[-1])
        connected = r.get("connected", 0)
        errors = r.get("errors", 0) + r.get("connect_errors", 0) + r.get("mismatches", 0)
        row["load_errors"] = errors
        row["connected"] = connected
    if not m:
        row.update(status="error", error="the idle connections were never all established "
                                         f"(connected {connected} of {case.connections})")
        return
    if not server.alive() or not rss1:
        row.update(status="error", error=f"the server died while holding {connected:,} of {case.connections:,} "
                                         f"connections (exit {server.proc.poll()})")
        return
    row["rss_before"], row["rss_after"] = rss0, rss1
    row["rss_per_conn"] = (rss1 - rss0) / case.connections
    if row.get("load_errors"):
        row.update(status="error", error=f"load errors: {row['load_errors']}")


class Progress:
    """One line per run on stderr: what, k of n, elapsed, ETA; then the run's headline."""

    def __init__(self, total, expected_total):
        self.total = total
        self.done = 0
        self.t0 = time.monotonic()
        self.expected_total = expected_total
        self.expected_done = 0.0

    def start(self, label):
        elapsed = time.monotonic() - self.t0
        if self.expected_done > 0:
            eta = (self.expected_total - self.expected_done) * elapsed / self.expected_done
        else:
            eta = self.expected_total
        sys.stderr.write(f"[{self.done + 1:>3}/{self.total}] {_mmss(elapsed)} ETA {_mmss(eta)}  {label:<46} ")
        sys.stderr.flush()

    def finish(self, row, expected):
        self.done += 1
        self.expected_done += expected
        sys.stderr.write(headline(row) + "\n")
        sys.stderr.flush()

    def finish_round(self, rows, expected):
        """After an alternating round: one headline per server."""
        self.done += 1
        self.expected_done += expected
        sys.stderr.write("\n")
        for row in rows:
            sys.stderr.write(f"        {row['config']:<14} {headline(row)}\n")
        sys.stderr.flush()


def headline(row):
    if row["workload"] == "hold":
        if "rss_per_conn" in row:
            s = f"RSS +{row['rss_per_conn']:.0f} B/conn"
        else:
            s = ""
    elif "rps" in row:
        s = (f"{row['rps']:>9,.0f} req/s  p99 {row['p99_us']:>8.0f}us  "
             f"cpu {row.get('cpu_us_per_req', float('nan')):6.2f}us/req")
        if is_number(row.get("syscalls_per_req")):   # alternating runs: known at the end of the case
            s += f"  sys {row['syscalls_per_req']:5.2f}/req"
    else:
        s = ""
    if row["status"] != "ok":
        s += f"  ERROR: {row['error']}"
    return s


def _mmss(seconds):
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def expected_seconds(case, a):
    if case.workload == "echo":
        return a.warmup + a.duration + 0.25 + case.connections / 20000
    if case.workload == "http":
        return loads.wrk_seconds(a.duration) + 0.3 + case.connections / 20000
    return a.hold_seconds + 0.6 + case.connections / 8000


def alternates(case, a):
    """Echo always, HTTP with duet-load's HTTP mode: all servers up, one load alternating.

    Churn and pipelined HTTP are duet-load's alone (wrk does neither), so they alternate whatever --http-load says.
    """
    return (case.workload == "echo" or case.churn or case.inflight > 1
            or (case.workload == "http" and a.http_load == "duet-load"))


@dataclass
class Alternating:
    """A plan item: one round of one case, every config's server up at once, one load taking turns."""
    case: Case
    configs: list   # [Config]
    round: object   # 1, 2, ...; or "perf" for the extra round with perf counting every server's system calls

    def units(self, a):
        """(progress steps, expected seconds) for the progress line's ETA."""
        return 1, alternate.expected_seconds(self.case, self.configs, a)

    def run(self, ctx, on_row, progress):
        alternate.run_round(ctx, self.case, self.configs, self.round, ctx.args.rounds, on_row, progress)


@dataclass
class Single:
    """A plan item: one config's server alone under the load (wrk, the RSS holds), one round."""
    case: Case
    config: Config
    round: object   # 1, 2, ...; or "perf" for the extra round with perf counting its system calls

    def units(self, a):
        return 1, expected_seconds(self.case, a)

    def run(self, ctx, on_row, progress):
        perf = self.round == "perf"
        tag = "perf" if perf else (f"r{self.round}/{ctx.args.rounds}" if self.case.workload != "hold" else "rss")
        progress.start(f"{tag} {self.case.id:<22} {self.config.name}")
        row = run_one(ctx, self.config, self.case, 0 if perf else self.round, perf=perf)
        if perf:
            row["round"] = "perf"
        progress.finish(row, expected_seconds(self.case, ctx.args))
        on_row(row)


def make_plan(cases, hold_cases, configs, a):
    """The plan items in the order they run, and the (config, case, reason) pairs that cannot run."""
    plan, skips = [], []

    def runnable(case):
        out = []
        for config in configs:
            if not config.applies_to(case):
                continue
            reason = config.skip_reason(case)
            if reason:
                skips.append((config, case, reason))
            else:
                out.append(config)
        return out

    # Rounds outermost: round 1 of every case, then round 2 of every case, and so on. A case's rounds are
    # then spread over the whole sweep instead of running back to back within a few seconds, so a slow
    # stretch of the host (its other tenants, which we cannot see) lands in one round of several cases,
    # where each case's median sets it aside, instead of in every round of the one case that ran during it.
    # Case by case, two default runs disagreed by 10-12% on a few ratios whose rounds all agreed with
    # each other (docs/results/2026-11-30-default-f and -g: echo c1 p99, echo c1000 req/s).
    runnable_by_case = [(case, runnable(case)) for case in cases]
    for rnd in range(1, a.rounds + 1):
        for case, ok in runnable_by_case:
            if not ok:
                continue
            if alternates(case, a):
                plan.append(Alternating(case, ok, rnd))
            else:
                plan += [Single(case, config, rnd) for config in ok]
    # RSS per idle connection: once per config, after the rounds (it is not a timing).
    for case in hold_cases:
        plan += [Single(case, config, 1) for config in runnable(case)]
    if a.perf:
        ref = _perf_case(cases)
        if ref:
            ok = [c for c in configs if c.applies_to(ref) and not c.skip_reason(ref)]
            if alternates(ref, a):
                plan.append(Alternating(ref, ok, "perf"))
            else:
                plan += [Single(ref, config, "perf") for config in ok]
    return plan, skips


def run_all(ctx, cases, hold_cases, configs, on_row):
    """Case by case: alternating rounds (alternate.py), or for wrk one run per config per round (A B C A B C)."""
    a = ctx.args
    plan, skips = make_plan(cases, hold_cases, configs, a)
    for config, case, reason in skips:
        row = base_row(config, case, 1)
        row.update(status="skipped", error=reason)
        on_row(row)
    units = [item.units(a) for item in plan]
    progress = Progress(sum(n for n, _ in units), sum(seconds for _, seconds in units))
    rows, seconds_per_round = [], {}

    def record(row):
        rows.append(row)
        on_row(row)

    def is_timed(item):   # a timed round; the others are the RSS holds and the perf round
        return isinstance(item.round, int) and item.case.workload != "hold"

    timed = [item for item in plan if is_timed(item)]
    after = [item for item in plan if not is_timed(item)]
    started = time.monotonic()
    for item in timed:
        t0 = time.monotonic()
        item.run(ctx, record, progress)
        if isinstance(item, Alternating):
            seconds_per_round[item.case.id] = max(seconds_per_round.get(item.case.id, 0), time.monotonic() - t0)
    budget = a.extra_seconds if a.extra_seconds is not None else EXTRA_SHARE * (time.monotonic() - started)
    extra_rounds(ctx, [item for item in timed if isinstance(item, Alternating)], rows, seconds_per_round, budget,
                 record, progress)
    for item in after:   # after every timed round, the extra ones too
        item.run(ctx, record, progress)


# What the extra rounds may add to the planned rounds' wall time unless --extra-seconds says: the default
# suite's 172 s become at most about 4.3 minutes.
EXTRA_SHARE = 0.5


def extra_rounds(ctx, timed, rows, seconds_per_round, budget, on_row, progress):
    """More rounds for the cases whose ratios are not yet precise (precision.py), pass after pass, worst first.

    timed: the Alternating items that ran (a case's configs come from them);
    seconds_per_round: the longest round of each case so far, the cost of one
    more. A case whose next round would take the extra rounds past
    `budget` seconds is passed over; a pass that runs nothing ends it.
    """
    a = ctx.args
    if a.precision <= 0 or budget <= 0:
        return
    items = {}
    for item in timed:
        items.setdefault(item.case.id, item)
    cases = [item.case for item in items.values()]
    configs = []
    for item in items.values():
        configs += [c for c in item.configs if c not in configs]
    spent = 0.0
    while True:
        ran = False
        for case, _, joining in precision.next_pass(rows, cases, configs, a):
            # A round's time goes with its servers: the case's longest full round, scaled to the ones that run.
            full = len(items[case.id].configs)
            cost = seconds_per_round.get(case.id, 0.0) * len(joining) / full
            if spent + cost > budget:
                continue
            item = Alternating(case, joining, precision.rounds_run(Summary(rows, configs, [case]), case) + 1)
            progress.total += 1
            progress.expected_total += cost
            t0 = time.monotonic()
            item.run(ctx, on_row, progress)
            took = time.monotonic() - t0
            seconds_per_round[case.id] = max(seconds_per_round.get(case.id, 0.0), took * full / len(joining))
            spent += took
            ran = True
        if not ran:
            return


def _perf_case(cases):
    echo = [c for c in cases if c.workload == "echo" and c.inflight == 1]
    for c in echo:
        if c.connections == 100 and c.size == 128:
            return c
    return echo[0] if echo else (cases[0] if cases else None)
