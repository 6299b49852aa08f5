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
import os
import re
import resource
import signal
import subprocess
import sys
import time

from . import loads, procs, servers

HOLDING = re.compile(r'"event"\s*:\s*"holding"')
SYSCALL_KINDS = ("wait", "read", "write", "accept", "close", "control", "wakeup")


class Context:
    def __init__(self, args, build):
        self.args = args
        self.build = build
        self.server_cpus = args.server_cpus
        self.load_cpus = args.load_cpus
        self.load_features = set()   # duet-load options this build knows (loads.features)


def base_row(config, case, rnd):
    return {
        "round": rnd, "case": case.id, "workload": case.workload, "connections": case.connections,
        "size": case.size, "inflight": case.inflight, "threads": case.threads,
        "accept": case.accept if case.threads else "", "config": config.name, "kind": config.kind,
        "status": "ok", "error": "",
    }


def run_one(ctx, config, case, rnd, perf=False):
    row = base_row(config, case, rnd)
    a = ctx.args
    server, err = servers.start(config, case, ctx.build, ctx.server_cpus)
    if err:
        row.update(status="error", error=err)
        row["server_command"] = " ".join(servers.command(config, case, ctx.build, ctx.server_cpus, None))
        return row
    row["server_command"] = " ".join(server.command)
    stats, mode, problem = {}, "", ""
    try:
        if case.workload == "hold":
            _hold(ctx, server, case, row)
        else:
            _load(ctx, server, case, row, perf)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        row.update(status="error", error=f"{type(e).__name__}: {e}")
    finally:
        stats, mode, problem = server.stop()
    row["mode"] = mode or config.name
    if problem and row["status"] == "ok":
        row.update(status="error", error=problem)
    from .alternate import keep_refusals, where_it_stopped
    keep_refusals(row, stats)
    if row["status"] == "error":
        row["error"] = where_it_stopped(row, case, server.said())
    if case.workload != "hold":
        _derive(row, stats, case, config)
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
    perf_proc, perf_out = None, None
    if perf:
        perf_out = f"/tmp/duet-compare-perf-{os.getpid()}.txt"
        perf_proc = procs.spawn(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", str(server.pid),
                                 "-o", perf_out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)  # let perf attach before the first request
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu0 = procs.cpu_seconds(server.pid)
    t0 = time.monotonic()
    load = procs.spawn(cmd, stderr=subprocess.PIPE)
    try:
        out, err = load.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        load.kill()
        out, err = load.communicate()
        row.update(status="error", error=f"load did not finish within {limit:.0f}s: killed")
    procs.forget(load)
    wall = time.monotonic() - t0
    alive = server.alive()
    cpu1 = procs.cpu_seconds(server.pid) if alive else float("nan")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    row["server_cpu_s"] = cpu1 - cpu0
    row["load_cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    row["load_wall_s"] = wall
    if perf_proc:
        procs.stop(perf_proc, sig=signal.SIGINT, timeout=10)
        row["perf_syscalls"] = perf_count(perf_out)
    if not alive:
        row.update(status="error", error=f"server died during the load (exit {server.proc.poll()})")
    try:
        metrics = loads.parse_echo(out) if case.workload == "echo" else loads.parse_wrk(out)
    except (ValueError, KeyError) as e:
        if row["status"] == "ok":
            first = (err or "").strip().splitlines()
            row.update(status="error", error=f"{e}; load exit {load.returncode}"
                                             + (f": {first[0][:160]}" if first else ""))
        return
    row.update(metrics)
    if not metrics["requests"] and row["status"] == "ok":
        # No error anywhere, yet nothing completed: a stall. Never a silent zero.
        row.update(status="error", error="no request completed in the measured window (stalled)")
    if metrics["load_errors"] and row["status"] == "ok":
        row.update(status="error", error=f"load errors: {metrics['error_detail']}")


def perf_count(path):
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and "raw_syscalls:sys_enter" in line:
                    return int(parts[0]) if parts[0].isdigit() else ""
    except OSError:
        return ""
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
    return ""


def _hold(ctx, server, case, row):
    a = ctx.args
    cmd = loads.hold_command(ctx.build, ctx.load_cpus, server.port, case.connections, a.hold_seconds)
    row["load_command"] = " ".join(cmd)
    rss0 = procs.rss_bytes(server.pid)
    load = procs.spawn(cmd, stderr=subprocess.PIPE)
    m, lines = procs.read_lines_until(load, HOLDING, timeout=60)
    rss1 = procs.rss_bytes(server.pid) if (m and server.alive()) else 0
    try:
        out, err = load.communicate(timeout=a.hold_seconds + 30)
    except subprocess.TimeoutExpired:
        load.kill()
        out, err = load.communicate()
    procs.forget(load)
    out = "\n".join(lines) + "\n" + (out or "")
    final = [l for l in out.splitlines() if '"mode":"hold"' in l.replace(" ", "")]
    connected = 0
    if final:
        import json
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


def _derive(row, stats, case, config):
    """Per-request figures from the server's counters and CPU time."""
    if not stats and config.kind not in ("nginx", "thread"):
        if row["status"] == "ok":
            row.update(status="error", error="the server printed no stats")
    if case.workload == "echo":
        served = stats.get("bytes_in", 0) / case.size if case.size else 0
    elif stats and row.get("response_bytes"):
        served = stats.get("bytes_out", 0) / row["response_bytes"]
    else:
        served = row.get("requests", 0)   # nginx: no counters of its own; wrk's count
    if served and is_number(row.get("server_cpu_s")):
        row["cpu_us_per_req"] = row["server_cpu_s"] * 1e6 / served
    if served and "load_cpu_s" in row:
        row["load_cpu_us_per_req"] = row["load_cpu_s"] * 1e6 / served
    derive_counters(row, stats, served)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def derive_counters(row, stats, served):
    """The loops' counters (--stats) per request; `served` is the requests they span."""
    row["server_requests"] = round(served)
    for k in ("syscalls", "wakeups", "events", "tasks", "sqes", "cqes", "enters", "enobufs", "recv_rearms",
              "cq_overflows", "send_zc", "accepted", "closed", "resets", "bytes_in", "bytes_out"):
        if k in stats:
            row[k] = stats[k]
    for kind in SYSCALL_KINDS:
        if "sys_" + kind in stats:
            row["sys_" + kind] = stats["sys_" + kind]
    if not served:
        return
    if is_number(row.get("storage_read_bytes")):
        row["storage_read_bytes_per_req"] = row["storage_read_bytes"] / served
    if "syscalls" in stats:
        row["syscalls_per_req"] = stats["syscalls"] / served
        for kind in SYSCALL_KINDS:
            if "sys_" + kind in stats:
                row[f"sys_{kind}_per_req"] = stats["sys_" + kind] / served
    if stats.get("wakeups"):
        row["events_per_wakeup"] = stats.get("events", 0) / stats["wakeups"]
        row["wakeups_per_req"] = stats["wakeups"] / served
    if stats.get("enters"):
        row["sqes_per_enter"] = stats.get("sqes", 0) / stats["enters"]
        row["cqes_per_enter"] = stats.get("cqes", 0) / stats["enters"]
    if is_number(row.get("perf_syscalls")):
        row["perf_syscalls_per_req"] = row["perf_syscalls"] / served


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


def run_all(ctx, cases, hold_cases, configs, on_row):
    """Case by case: alternating rounds (alternate.py), or for wrk one run per config per round (A B C A B C)."""
    from . import alternate
    a = ctx.args
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

    for case in cases:
        ok = runnable(case)
        if not ok:
            continue
        if alternates(case, a):
            plan.append(("alternate", case, ok, False))
        else:
            for rnd in range(1, a.rounds + 1):
                plan += [("single", case, config, rnd) for config in ok]
    # RSS per idle connection: once per config, after the rounds (it is not a timing).
    for case in hold_cases:
        plan += [("single", case, config, 1) for config in runnable(case)]
    if a.perf:
        ref = _perf_case(cases)
        if ref:
            ok = [c for c in configs if c.applies_to(ref) and not c.skip_reason(ref)]
            if alternates(ref, a):
                plan.append(("alternate", ref, ok, True))
            else:
                plan += [("single", ref, config, "perf") for config in ok]
    for config, case, reason in skips:
        row = base_row(config, case, 1)
        row.update(status="skipped", error=reason)
        on_row(row)

    def units(item):
        kind, case, what, perf = item
        if kind == "alternate":
            n = 1 if perf else a.rounds
            return n, n * alternate.expected_seconds(case, what, a)
        return 1, expected_seconds(case, a)
    total = sum(units(item)[0] for item in plan)
    progress = Progress(total, sum(units(item)[1] for item in plan))
    for kind, case, what, extra in plan:
        if kind == "alternate":
            alternate.run_case(ctx, case, what, 1 if extra else a.rounds, on_row, progress, perf=extra)
            continue
        config, rnd = what, extra
        perf = rnd == "perf"
        tag = "perf" if perf else (f"r{rnd}/{a.rounds}" if case.workload != "hold" else "rss")
        progress.start(f"{tag} {case.id:<22} {config.name}")
        row = run_one(ctx, config, case, 0 if perf else rnd, perf=perf)
        if perf:
            row["round"] = "perf"
        progress.finish(row, expected_seconds(case, a))
        on_row(row)


def _perf_case(cases):
    echo = [c for c in cases if c.workload == "echo" and c.inflight == 1]
    for c in echo:
        if c.connections == 100 and c.size == 128:
            return c
    return echo[0] if echo else (cases[0] if cases else None)
