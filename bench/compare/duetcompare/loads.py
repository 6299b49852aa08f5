"""The load: duet-load for echo, HTTP and idle-connection holds; wrk for HTTP on request.

Each function returns the command to run (pinned to the load CPUs) or turns
the program's output into a flat dict with the same keys for both tools:
requests, rps, p50_us ... max_us, load_errors, plus what else the tool says.
"""
import json
import math
import os
import subprocess
from dataclasses import dataclass

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK_SCRIPT = os.path.join(HERE, "wrk_json.lua")


def echo_command(build, load_cpus, port, case, duration, warmup):
    cmd = ["taskset", "-c", load_cpus, os.path.join(build, "bench", "load", "duet-load"),
           "--host", "127.0.0.1", "--port", str(port), "-c", str(case.connections), "-s", str(case.size),
           "-k", str(case.inflight), "-d", f"{duration:g}", "-w", f"{warmup:g}"]
    if case.load_threads > 1:
        cmd += ["-t", str(case.load_threads)]
    return cmd


def features(build):
    """The duet-load options this build knows among the ones duet-compare can use (read from its --help).

    --churn (connect, one request, close) and --connect-per-slice (open a
    server's connections when its slice starts, close them when it ends, so
    10,000 connections fit for every server) came later than the rest: an
    older duet-load skips the churn cases with a note, and 10,000 connections
    fall back to groups of servers.
    """
    path = os.path.join(build, "bench", "load", "duet-load")
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
        text = r.stdout + r.stderr
    except (OSError, subprocess.SubprocessError):
        return set()
    return {f for f in ("--churn", "--connect-per-slice", "--http-mix") if f in text}


# From this many connections a closed-loop round trip takes longer than a 0.25 s slice (10,000 messages in
# flight at ~20,000/s: 0.5 s), so no message would start and end inside one window: slices become 1 s.
MANY_CONNECTIONS = 5000


@dataclass
class Slicing:
    """How one server's time in a round is cut: measured seconds, warm-up, slice length, each slice's ramp."""
    duration: float
    warmup: float
    slice: float
    slice_warmup: float

    @property
    def slices(self):
        return max(1, round(self.duration / self.slice)) if self.slice > 0 else 1


def slicing(case, a):
    """The options' slicing, stretched for a case with MANY_CONNECTIONS or more."""
    if case.connections < MANY_CONNECTIONS:
        return Slicing(a.duration, a.warmup, a.slice, a.slice_warmup)
    cut = max(a.slice, 1.0) if a.slice > 0 else 0
    return Slicing(max(a.duration, cut), max(a.warmup, 0.2), cut, max(a.slice_warmup, 0.2))


def alternate_command(build, load_cpus, server_cpus, servers, case, a, per_slice=False):
    """One duet-load loading every server in `servers` in alternating slices (see alternate.py).

    per_slice: each server's connections exist only during its slices (--connect-per-slice).
    """
    t = slicing(case, a)
    cmd = ["taskset", "-c", load_cpus, os.path.join(build, "bench", "load", "duet-load"),
           "--host", "127.0.0.1", "--port", ",".join(str(s.port) for s in servers),
           "--server-pid", ",".join(str(s.pid) for s in servers), "--server-cpus", server_cpus,
           "-c", str(case.connections), "-k", str(case.inflight), "-d", f"{t.duration:g}", "-w", f"{t.warmup:g}",
           "--slice", f"{t.slice:g}", "--slice-warmup", f"{t.slice_warmup:g}"]
    cmd += ["--http", case.path] if case.workload == "http" else ["-s", str(case.size)]
    if case.probe:   # /hello beside files: some of the connections GET the probe path, timed apart
        cmd += ["--http-mix", f"{case.probe}:{case.probe_connections}"]
    if case.churn:
        cmd += ["--churn"]
    if per_slice:
        cmd += ["--connect-per-slice"]
    if case.load_threads > 1:
        cmd += ["-t", str(case.load_threads)]
    return cmd


def parse_alternate(stdout, probe=""):
    """duet-load's lines, one per server -> {port: metrics}.

    probe: the path of an --http-mix group (beside.py): its figures become probe_* metrics and the other
    group's file_* ones; the usual metrics stay the whole run's.
    """
    out = {}
    for line in stdout.splitlines():
        if line.startswith("{") and '"port"' in line:
            r = json.loads(line)
            m = _metrics(r)
            for k in ("server_cpu_s", "load_cpu_s", "server_cpus_busy_s", "server_cpus_softirq_s", "slices"):
                if k in r:
                    m[k] = r[k]
            if r.get("mode") in ("http", "http-churn"):
                m["response_bytes"] = r.get("response_bytes", 0)
            m["measured_s"] = r.get("duration_s")
            if probe:
                m.update(group_metrics(r, probe))
            out[r["port"]] = m
    return out


def group_metrics(r, probe):
    """From a line's "groups" (duet-load --http-mix): probe_* for the probe path's group, file_* for the other.

    Raises ValueError if the line has no group for the probe (a duet-load without --http-mix).
    """
    groups = r.get("groups") or {}
    if probe not in groups:
        raise ValueError(f"duet-load printed no group for {probe} (no --http-mix?)")
    out = {}
    for path, g in groups.items():
        prefix = "probe_" if path == probe else "file_"
        out.update({prefix + "requests": g.get("messages", 0), prefix + "rps": g.get("msgs_per_s", 0.0),
                    prefix + "p50_us": g.get("p50_us"), prefix + "p99_us": g.get("p99_us"),
                    prefix + "max_us": g.get("max_us"), prefix + "latency_samples": g.get("latency_samples", 0),
                    prefix + "errors": g.get("errors", 0)})
        if prefix == "probe_":
            out["probe_latency_hist"] = g.get("latency_hist", "")
    return out


def hold_command(build, load_cpus, port, connections, hold_seconds):
    return ["taskset", "-c", load_cpus, os.path.join(build, "bench", "load", "duet-load"),
            "--host", "127.0.0.1", "--port", str(port), "-c", str(connections), "-s", "128",
            "-d", f"{hold_seconds:g}", "--hold"]


def wrk_seconds(duration):
    # wrk takes whole seconds only.
    return max(1, int(math.ceil(duration)))


def wrk_command(load_cpus, port, case, duration):
    return ["taskset", "-c", load_cpus, "wrk", "-t", str(max(1, case.load_threads)), "-c", str(case.connections),
            "-d", f"{wrk_seconds(duration)}s", "--timeout", "5s", "-s", WRK_SCRIPT,
            f"http://127.0.0.1:{port}{case.path}"]


def parse_echo(stdout):
    """duet-load's JSON line -> metrics. Raises ValueError if there is none."""
    line = [l for l in stdout.splitlines() if l.startswith("{") and '"mode"' in l]
    if not line:
        raise ValueError("duet-load printed no result line")
    return _metrics(json.loads(line[-1]))


def _metrics(r):
    errors = r.get("errors", 0) + r.get("mismatches", 0) + r.get("connect_errors", 0)
    # Churn counts whole connections (connect, one request, close): per connection is the unit.
    churn = str(r.get("mode", "")).endswith("-churn")
    requests = r.get("connections_made", 0) if churn else r.get("messages", 0)
    rate = r.get("connections_per_s", 0.0) if churn else r.get("msgs_per_s", 0.0)
    return {
        "requests": requests, "rps": rate, "bytes_per_s": r.get("bytes_per_s", 0.0),
        "p50_us": r.get("p50_us"), "p90_us": r.get("p90_us"), "p99_us": r.get("p99_us"),
        "p999_us": r.get("p999_us"), "max_us": r.get("max_us"),
        # What the percentiles rest on, and the buckets, so the rounds can be pooled (latency.py).
        "latency_samples": r.get("latency_samples", requests), "min_us": r.get("min_us"),
        "latency_hist": r.get("latency_hist", ""),
        "load_errors": errors, "mismatches": r.get("mismatches", 0), "connect_errors": r.get("connect_errors", 0),
        "connected": r.get("connected", 0),
        "error_detail": ", ".join(f"{k}={r[k]}" for k in ("errors_reset", "errors_eof", "errors_short",
                                                             "errors_other", "bad_status", "protocol_errors",
                                                             "drain_timeouts", "connect_refused", "connect_timeout",
                                                             "mismatches") if r.get(k)),
    }


def parse_wrk(stdout):
    """The DUET-JSON line our wrk script prints -> metrics."""
    line = [l for l in stdout.splitlines() if l.startswith("DUET-JSON ")]
    if not line:
        raise ValueError("wrk printed no result line")
    r = json.loads(line[-1][len("DUET-JSON "):])
    secs = r["duration_us"] / 1e6 if r["duration_us"] else float("nan")
    errs = {k: r[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout") if r[k]}
    return {
        "requests": r["requests"], "rps": r["requests"] / secs, "bytes_per_s": r["bytes"] / secs,
        "p50_us": r["p50_us"], "p90_us": r["p90_us"], "p99_us": r["p99_us"], "p999_us": r["p999_us"],
        "max_us": r["max_us"], "load_errors": sum(errs.values()), "mismatches": 0,
        "connect_errors": r["err_connect"], "connected": "",
        "response_bytes": r["bytes"] / r["requests"] if r["requests"] else 0,
        "error_detail": ", ".join(f"{k[4:]}={v}" for k, v in errs.items()),
    }
