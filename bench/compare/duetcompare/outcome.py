"""One run's row of results.csv: what ran, how it ended, and its figures per request from the server's counters.

A run is measured one of two ways: alternating (alternate.py: every config's
server up, one duet-load taking turns) or one server at a time (runner.py:
wrk, the RSS holds). Both fill their rows through this module, so a row
means the same whichever way it was measured, and neither of the two needs
the other.
"""
from . import servers

# The thread-per-connection baselines' counters of connections they could not serve (--stats).
REFUSALS = ("peak_threads", "refused_no_thread", "refused_no_fd")

# The loops' counters (--stats) copied into the row as they are (besides the system calls by kind).
COPIED = ("syscalls", "wakeups", "events", "tasks", "sqes", "cqes", "enters", "enobufs", "recv_rearms",
          "cq_overflows", "send_zc", "accepted", "closed", "resets", "bytes_in", "bytes_out")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def base_row(config, case, rnd):
    return {
        "round": rnd, "case": case.id, "workload": case.workload, "connections": case.connections,
        "size": case.size, "inflight": case.inflight, "threads": case.threads,
        "accept": case.accept if case.threads else "", "config": config.name, "kind": config.kind,
        "status": "ok", "error": "",
    }


def record_stop(row, config, case, server, stopped):
    """What the server left as it stopped: its mode, a bad exit, the thread baselines' refusals, where a failed run stopped.

    stopped: what Server.stop() returned, (stats, mode, problem).
    """
    stats, mode, problem = stopped
    row["mode"] = mode or config.name
    if problem and row["status"] == "ok":
        row.update(status="error", error=problem)
    keep_refusals(row, stats)
    if row["status"] == "error":
        row["error"] = where_it_stopped(row, case, server.said())


def keep_refusals(row, stats):
    """Copies the thread baselines' peak thread count and refusals into the row."""
    for k in REFUSALS:
        if k in (stats or {}):
            row[k] = stats[k]


def where_it_stopped(row, case, said):
    """A failed run's error, with how far the server got and what it said on stderr.

    The thread-per-connection server may stop short of 10,000 connections (it
    cannot create more threads, or runs out of descriptors or memory; it then
    closes new connections and serves the rest): the report says where and
    why, not only that the load saw errors. Where: its peak thread count and
    refusals when it counts them, else the connections the load had open.
    """
    error = row.get("error", "")
    refused = sum(row.get(k, 0) or 0 for k in REFUSALS[1:] if is_number(row.get(k)))
    connected = row.get("connected")
    if refused and is_number(row.get("peak_threads")) and "stopped at" not in error:
        error = (f"stopped at {row['peak_threads']:,} threads for {case.connections:,} connections "
                 f"({refused:,} refused: no thread {row.get('refused_no_thread', 0):,}, no descriptor "
                 f"{row.get('refused_no_fd', 0):,}): {error}")
    elif is_number(connected) and 0 < case.connections and connected < case.connections \
            and "connected" not in error and "stopped at" not in error:
        error = f"stopped at {connected:,} of {case.connections:,} connections: {error}"
    if said and said not in error:
        error += f"; the server said: {said}"
    return error


def served_by_counters(stats, case, row):
    """The requests a server's counters say it handled over its whole run.

    Churn: connections accepted (one request each; the raw baselines count no
    accepts, so their echo falls through to bytes). Echo: bytes in / message
    size. HTTP: bytes out / response size (the load's, in the row).
    """
    if case.churn and stats.get("accepted"):
        return stats["accepted"]
    if case.workload == "echo":
        return stats.get("bytes_in", 0) / case.size if case.size else 0
    size = row.get("response_bytes")
    return stats.get("bytes_out", 0) / size if is_number(size) and size else 0


def derive_counters(row, stats, case, config, whole_run_requests=None):
    """The server's counters (--stats) into the row, and per request; returns the requests they span (0: none).

    The counters span the server's whole run, so they are divided by what it
    handled over that run (served_by_counters), not by the load's measured
    windows. nginx, and a thread baseline without --stats, count nothing of
    their own: when the load ran that server alone (whole_run_requests, its
    count over the same span) that count stands in; an alternating load
    counts only its windows, so then only the storage reads are per request.
    """
    counts_nothing = config.kind == "nginx" or (config.kind == "thread" and not stats)
    if not stats and not counts_nothing and row["status"] == "ok":
        row.update(status="error", error="the server printed no stats")
    if stats:
        served = served_by_counters(stats, case, row)
    elif whole_run_requests is not None:
        served = whole_run_requests
    else:
        if counts_nothing:
            reads = row.get("storage_read_bytes")
            if is_number(reads) and row.get("requests"):
                row["storage_read_bytes_per_req"] = reads / row["requests"]
        return 0
    _per_request(row, stats, served)
    return served


def _per_request(row, stats, served):
    """Copies the counters into the row and divides them by `served`, the requests they span."""
    row["server_requests"] = round(served)
    for k in COPIED:
        if k in stats:
            row[k] = stats[k]
    kinds = servers.syscall_kinds(stats)
    for kind in kinds:
        row["sys_" + kind] = stats["sys_" + kind]
    if not served:
        return
    if is_number(row.get("storage_read_bytes")):
        row["storage_read_bytes_per_req"] = row["storage_read_bytes"] / served
    if "syscalls" in stats:
        row["syscalls_per_req"] = stats["syscalls"] / served
        for kind in kinds:
            row[f"sys_{kind}_per_req"] = stats["sys_" + kind] / served
    if stats.get("wakeups"):
        row["events_per_wakeup"] = stats.get("events", 0) / stats["wakeups"]
        row["wakeups_per_req"] = stats["wakeups"] / served
    if stats.get("enters"):
        row["sqes_per_enter"] = stats.get("sqes", 0) / stats["enters"]
        row["cqes_per_enter"] = stats.get("cqes", 0) / stats["enters"]
    if is_number(row.get("perf_syscalls")):
        row["perf_syscalls_per_req"] = row["perf_syscalls"] / served


def counted_syscall_kinds(rows):
    """The system-call kinds the rows' servers counted (their sys_<kind> columns), in the order the servers print them."""
    kinds = {}
    for row in rows:
        for key in row:
            if key.startswith("sys_") and not key.endswith("_per_req"):
                kinds.setdefault(key[len("sys_"):])
    return list(kinds)
