"""One case, every config at once: all servers up, one duet-load alternating.

Why: on a shared machine the speed of memory and caches drifts by several
times over seconds (other tenants of the host). Two servers measured one
after the other for a second each were measured on two different machines,
and their ratio moved by 20% from one sweep to the next. So for a case,
duet-compare starts every config's server (all pinned to the server CPU; the
idle ones sleep), and one duet-load per round loads them in turn, 0.25 s at a
time, in serpentine order (A B C, C B A, ...). Each server meets the same mix
of good and bad moments, and the ratios hold still.

duet-load reads each server's CPU time (its process CPU clock, in ns, exited
threads included) at the edges of every measured window, so CPU per request
covers exactly the requests counted. The loops' own counters (--stats, printed at exit) cover
the server's whole life, one round, and are divided by the requests it
handled over the same span.

The load keeps connections to every server open at once, so a case only
alternates among as many servers as fit in the load's descriptor budget;
beyond that (10,000 connections) the servers run in groups, one after another
inside each round.
"""
import resource
import subprocess
import time

from . import loads, outcome, pagecache, procs, servers

# Descriptors the load may use for connections (RLIMIT_NOFILE is 20,000 here).
LOAD_FD_BUDGET = 18000


def groups(configs, case, per_slice=False):
    """Splits configs into groups whose connections fit in one load process.

    per_slice: the load opens a server's connections only for its slices
    (duet-load --connect-per-slice), so one group holds them all.
    """
    if per_slice:
        return [configs]
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        limit = min(hard if hard != resource.RLIM_INFINITY else 10 ** 6, 1 << 20)
    except (ValueError, OSError):
        limit = 20000
    budget = max(case.connections, min(LOAD_FD_BUDGET, limit - 2000))
    per = max(1, budget // max(1, case.connections))
    return [configs[i:i + per] for i in range(0, len(configs), per)]


def expected_seconds(case, configs, a):
    """A rough wall-time guess for one round of `case` (for the progress ETA)."""
    t = loads.slicing(case, a)
    drain = 0.005 + case.connections * 2e-5 * (case.size / 4096 + 1)
    per_config = t.warmup + t.duration + (t.slices - 1) * t.slice_warmup + t.slices * drain
    connect = case.connections / 15000 * len(configs)
    return len(configs) * per_config + connect + 0.1 * len(groups(configs, case))


def run_round(ctx, case, configs, rnd, rounds, on_row, progress):
    """Runs round `rnd` of `rounds` of `case` over `configs` ("perf": the extra perf round); one row per config.

    Every round starts fresh servers: a server that falls into a slow pattern
    (a batching regime, a memory layout) then counts for one round, not for
    the whole sweep, and the median over rounds sets it aside.
    """
    perf = rnd == "perf"
    tag = "perf" if perf else (f"r{rnd}/{rounds}" if rnd <= rounds else f"r{rnd}+")   # r5+: an extra round
    progress.start(f"{tag} {case.id:<22} {len(configs)} servers alternating")
    round_rows = _fresh_round(ctx, case, configs, rnd, perf)
    progress.finish_round([r for r in round_rows if r["status"] != "skipped"],
                          expected_seconds(case, configs, ctx.args))
    for row in round_rows:
        on_row(row)


def turn_order(started, rnd):
    """The servers in the order the load visits them in round `rnd`: the list rotated by one per round.

    duet-load visits its targets in serpentine order (A B C, C B A, ...), so
    within a round each position has its own neighbours and its own gaps
    between a server's slices (the first server's two slices are the round's
    first and last; the middle one's are back to back). Rotating the start
    each round moves every server through the positions instead of leaving
    one always first.
    """
    if not started or not isinstance(rnd, int):
        return list(started)
    k = (rnd - 1) % len(started)
    return started[k:] + started[:k]


def _fresh_round(ctx, case, configs, rnd, perf):
    """Starts every config's server, runs the load over them, stops them; returns the rows."""
    started, by_name = [], {}
    for config in configs:
        server, err = servers.start(config, case, ctx.build, ctx.server_cpus)
        if err:
            row = outcome.base_row(config, case, rnd)
            row.update(status="error", error=err,
                       server_command=" ".join(servers.command(config, case, ctx.build, ctx.server_cpus, None)))
            by_name[config.name] = row
        else:
            started.append((config, server))
    reads0 = {config.name: procs.storage_read_bytes(server.pid) for config, server in started}
    dropper = None
    perfs = {}
    if perf:
        perfs = {config.name: procs.SyscallCount(server.pid) for config, server in started}
        time.sleep(0.3)   # let perf attach before the first request
    try:
        dropper = _prepare_cache(ctx, case)
        per_slice = connect_per_slice(ctx, started, case)
        for group in groups(turn_order(started, rnd), case, per_slice):
            for config, row in _round(ctx, case, group, rnd, per_slice):
                by_name[config.name] = row
    finally:
        if dropper:
            procs.stop(dropper, timeout=5)
        for name, count in perfs.items():
            syscalls = count.finish()
            if name in by_name:
                by_name[name]["perf_syscalls"] = syscalls
        for config, server in started:
            reads1 = procs.storage_read_bytes(server.pid)
            stopped = server.stop()
            row = by_name.get(config.name)
            if row is None:
                continue
            if outcome.is_number(reads0.get(config.name)) and outcome.is_number(reads1):
                row["storage_read_bytes"] = reads1 - reads0[config.name]
            outcome.record_stop(row, config, case, server, stopped)
            outcome.derive_counters(row, stopped[0], case, config)
    return [by_name[c.name] for c in configs if c.name in by_name]


def _prepare_cache(ctx, case):
    """Static file cases: the file's pages dropped (cold, and a helper keeps dropping them) or read (warm).

    Returns the helper process of a cold round (stopped after the load), or None.
    """
    path = case.file_path
    if not path:
        return None
    if case.cache == "warm":
        pagecache.warm(path)
        return None
    pagecache.drop(path)
    every = getattr(ctx.args, "cold_drop_every", pagecache.DROP_EVERY)
    if every <= 0:
        return None
    return procs.spawn(pagecache.dropper_command(ctx.load_cpus, path, every), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def connect_per_slice(ctx, configs, case):
    """True when every server's connections at once would not fit and duet-load can connect per slice."""
    return "--connect-per-slice" in ctx.load_features and len(groups(configs, case)) > 1


def _round(ctx, case, group, rnd, per_slice=False):
    """One duet-load run over `group` [(config, server)]; returns [(config, row)]."""
    a = ctx.args
    t = loads.slicing(case, a)
    cmd = loads.alternate_command(ctx.build, ctx.load_cpus, ctx.server_cpus, [s for _, s in group], case, a,
                                  per_slice)
    out_rows = []
    for config, server in group:
        row = outcome.base_row(config, case, rnd)
        row["server_command"] = " ".join(server.command)
        row["load_command"] = " ".join(cmd)
        row["duration_s"], row["warmup_s"] = t.duration, t.warmup
        out_rows.append((config, server, row))
    # --connect-per-slice connects every connection again in each slice (~3 s for 10,000 here).
    connect = case.connections / 2000 if per_slice else 0
    limit = len(group) * (t.warmup + t.duration + t.slices * (t.slice_warmup + 1.0 + connect)) + 60
    load = procs.spawn(cmd, stderr=subprocess.PIPE)
    out, err, killed = procs.communicate(load, limit)
    problem = f"load did not finish within {limit:.0f}s: killed" if killed else ""
    try:
        by_port = loads.parse_alternate(out, case.probe)
    except ValueError as e:
        by_port, problem = {}, problem or str(e)
    first_err = next((l for l in err.splitlines() if l.strip()), "")
    result = []
    for config, server, row in out_rows:
        m = by_port.get(server.port)
        if problem:
            row.update(status="error", error=problem)
        elif not server.alive():
            row.update(status="error", error=f"server died during the load (exit {server.proc.poll()})")
        if m is None:
            if row["status"] == "ok":
                row.update(status="error", error=f"no result line for port {server.port}; load exit "
                                                 f"{load.returncode}" + (f": {first_err[:160]}" if first_err else ""))
            result.append((config, row))
            continue
        row.update(m)
        messages = m.get("requests") or 0
        if messages and outcome.is_number(m.get("server_cpu_s")):
            row["cpu_us_per_req"] = m["server_cpu_s"] * 1e6 / messages
            row["load_cpu_us_per_req"] = m["load_cpu_s"] * 1e6 / messages
            if outcome.is_number(m.get("server_cpus_busy_s")):
                row["cpu_busy_us_per_req"] = m["server_cpus_busy_s"] * 1e6 / messages
                row["softirq_us_per_req"] = m["server_cpus_softirq_s"] * 1e6 / messages
        row["load_wall_s"] = m.get("measured_s", t.duration)
        if not messages and row["status"] == "ok":
            row.update(status="error", error="no request completed in the measured windows (stalled)")
        if m["load_errors"] and row["status"] == "ok":
            row.update(status="error", error=f"load errors: {m['error_detail']}")
        result.append((config, row))
    return result

