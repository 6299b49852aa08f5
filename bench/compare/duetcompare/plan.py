"""What to run: the cases (workloads) and the configs (servers), from the options.

A *case* is one load shape (echo 100 connections x 128 B, HTTP /hello with
1,000 connections, ...). A *config* is one server set-up (a backend with its
flags, a raw baseline, nginx). Every config runs every case it can, and the
runner interleaves configs inside each case, round after round.
"""
import argparse
import dataclasses
import itertools
import os

from . import beside, models, precision, suites, variants
from .case import Case  # noqa: F401  (plan.Case: the tests and callers name it here)
from .servers import Config, find_nginx

DUET_BACKENDS = ("epoll", "poll", "select", "uring")
RAW_BASELINES = ("raw-epoll", "raw-uring")


def int_list(text):
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def str_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def size_list(text):
    out = []
    for x in str_list(text):
        mult = 1
        if x[-1] in "kK":
            mult, x = 1024, x[:-1]
        elif x[-1] in "mM":
            mult, x = 1024 * 1024, x[:-1]
        try:
            out.append(int(x) * mult)
        except ValueError:
            raise argparse.ArgumentTypeError(f"bad size {x!r} (e.g. 128,16k)")
    return out


def stream_spec(text):
    """"CONNS:INFLIGHT:SIZE" or "off" (an empty tuple: no streaming case)."""
    if text in ("off", "none", ""):
        return ()
    try:
        c, k, s = text.split(":")
        return int(c), int(k), size_list(s)[0]
    except (ValueError, IndexError):
        raise argparse.ArgumentTypeError(f"expected CONNS:INFLIGHT:SIZE or off, got {text!r}")


def parser():
    p = argparse.ArgumentParser(
        prog="duet-compare",
        description="Interleaved comparison of duet's backends (epoll, poll, select, io_uring) against each "
                    "other and against raw baselines: throughput, latency, server CPU per request, system calls "
                    "per request, events per wake-up, RSS per idle connection. The report opens with a verdict: "
                    "per regime, which model wins on CPU per request and on p99, by how much, how sure. With no "
                    "arguments: the default suite (about 4 minutes on 2 cores).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("where")
    g.add_argument("--build", default=None, help="build directory holding apps/ and bench/ (default: build/ at the "
                   "repository top, else the newest build*/ with duet-echo)")
    g.add_argument("--out", default=None, help="results directory (default: results/<timestamp> at the repository top)")
    g.add_argument("--server-cpus", default="0", help="taskset CPU list for the server")
    g.add_argument("--load-cpus", default="1", help="taskset CPU list for the load generator")

    g = p.add_argument_group("how long")
    g.add_argument("--duration", type=float, default=0.5, help="measured seconds per config per round (with "
                   "--http-load wrk: wrk's run, rounded up to whole seconds)")
    g.add_argument("--warmup", type=float, default=0.1, help="unmeasured seconds before each config's first slice "
                   "in a round")
    g.add_argument("--slice", type=float, default=0.25, help="measured seconds per slice: the load alternates "
                   "between the servers this often (0: each server once per round, for --duration)")
    g.add_argument("--slice-warmup", type=float, default=0.05, help="unmeasured seconds at the start of every "
                   "later slice (the connections ramp up again)")
    g.add_argument("--rounds", type=int, default=4, help="rounds; each round measures every config once per case "
                   "(the ratios' min-max is over rounds)")
    g.add_argument("--precision", type=float, default=precision.DEFAULT_PRECISION, metavar="FRACTION",
                   help="after --rounds, one more round at a time for every alternating case whose least precise "
                        "ratio (req/s or CPU per request over epoll) has a standard error above this (0.03: +-3%%; "
                        "0: no extra rounds; needs --rounds 3 or more)")
    g.add_argument("--max-rounds", type=int, default=16, help="rounds a case may reach with --precision")
    g.add_argument("--extra-seconds", type=float, default=None, help="wall time the extra rounds of --precision "
                   "may use in all (default: half the time the --rounds took)")
    g.add_argument("--quick", action="store_true", help="CI smoke run: 1 round, short runs, few cases (seconds)")

    g = p.add_argument_group("what (cases)")
    g.add_argument("--suite", default="default", choices=suites.SUITES,
                   help="default: every regime once at a modest size (about 4 min on 2 cores); full: every regime "
                        "at every size, 10,000 connections, every engine switch flipped as a variant column")
    g.add_argument("--connections", type=int_list, default=None,
                   help="echo connection counts: the echo cases become --connections x --sizes instead of the "
                        "suite's (default with --sizes: 1,100,1000)")
    g.add_argument("--sizes", type=size_list, default=None,
                   help="echo message sizes (128,16k,256k), with --connections (default with --connections: 128,16k)")
    g.add_argument("--stream", type=stream_spec, default=None,
                   help="the streaming echo case CONNS:INFLIGHT:SIZE instead of the suite's, or off")
    g.add_argument("--http-connections", type=int_list, default=None,
                   help="HTTP keep-alive connection counts instead of the suite's (empty: none)")
    g.add_argument("--hold", type=int, default=None, help="idle connections held for RSS per connection (0: off; "
                   "default: the suite's, 10000)")
    g.add_argument("--hold-seconds", type=float, default=0.3, help="how long the idle connections are held")
    g.add_argument("--threads", type=int_list, default=[0], help="server I/O thread counts, e.g. 0,2 (0: one loop)")
    g.add_argument("--accept", default="main", choices=["main", "reuseport"], help="threading model with --threads")
    g.add_argument("--load-threads", type=int, default=1, help="duet-load / wrk threads")
    g.add_argument("--http-load", default="duet-load", choices=["duet-load", "wrk"],
                   help="HTTP load: duet-load's HTTP mode (alternating like echo) or wrk (one server at a time, "
                        "whole seconds)")
    g.add_argument("--cold-drop-every", type=float, default=0.001, metavar="SECONDS",
                   help="static file cases with a cold page cache: the file's pages are dropped before each round "
                        "and again this often during it (0: before each round only)")
    g.add_argument("--only", type=str_list, default=[],
                   help="case groups to run, from " + ",".join(suites.GROUPS))

    g = p.add_argument_group("which servers (configs)")
    g.add_argument("--backends", type=str_list, default=None,
                   help="duet backends and raw baselines; epoll-et adds edge-triggered epoll (default: "
                        + ",".join(DUET_BACKENDS + RAW_BASELINES) + "; with --suite models: epoll,uring)")
    g.add_argument("--variant", type=variants.parse, action="append", default=[], metavar="NAME=SERVER-FLAGS",
                   help="repeatable: a config running the duet app with these flags, a column in every table, "
                        "e.g. \"uring-bundle=--backend uring --recv-bundle on\"; skipped with a note if the server "
                        "does not know a flag or will not start with them")
    g.add_argument("--taskrun", type=str_list, default=["auto"],
                   help="uring task-run modes, each its own config (e.g. defer,coop,plain -> uring-defer ...)")
    g.add_argument("--wakeup", type=str_list, default=["eventfd"], help="uring wake-ups: eventfd,msgring")
    g.add_argument("--wait-batch", type=int_list, default=[1], help="uring completions per io_uring_enter, e.g. 1,16")
    g.add_argument("--wait-timeout-us", type=int, default=50, help="with --wait-batch > 1: the wait's time cap")
    g.add_argument("--send-zc", type=int_list, default=[0], help="uring SEND_ZC thresholds, e.g. 0,4096")
    g.add_argument("--buffer-size", type=size_list, default=[0],
                   help="uring provided-buffer sizes, e.g. 4k,16k (0: the server's default, 16 KiB)")
    g.add_argument("--sqpoll", action="store_true", help="also run uring with SQPOLL (a kernel thread polls)")
    g.add_argument("--raw-taskrun", type=str_list, default=["auto"], help="raw-uring task-run modes")
    g.add_argument("--nginx", action="store_true", help="insist on nginx (1 worker, return 200) as an HTTP "
                   "reference: a note if it is not installed (every suite adds it when installed)")
    g.add_argument("--no-nginx", action="store_true", help="leave nginx out even when it is installed")

    g = p.add_argument_group("checks and output")
    g.add_argument("--perf", action="store_true", help="in round 1, count system calls with perf stat "
                   "(raw_syscalls:sys_enter) beside the loops' own counters")
    g.add_argument("--compare-with", default=None, metavar="DIR",
                   help="an earlier run's results directory (or results.csv): report how far each ratio moved")
    g.add_argument("--targets", action="store_true", help="add the issue's targets (our goals, each met or missed "
                   "by how much) to the report")
    g.add_argument("--no-plots", action="store_true", help="skip gnuplot")
    g.add_argument("--dry-run", action="store_true", help="print the plan and the commands, run nothing")
    return p


def apply_quick(a):
    """CI smoke run: one small case per group, one round, short slices."""
    a.rounds = 1
    a.precision = 0
    a.duration = min(a.duration, 0.3)
    a.warmup = min(a.warmup, 0.1)
    a.slice = min(a.slice, 0.1)
    a.connections = a.connections or [100]
    a.sizes = a.sizes or [128]
    a.stream = a.stream if a.stream is not None else (10, 4, 128)
    a.http_connections = a.http_connections if a.http_connections is not None else [100]
    a.quick_groups = {"large": [], "pipeline": [suites.http(10, 4)],
                      "churn": [suites.churn_echo(10), suites.churn_http(10)]}
    a.hold = min(a.hold if a.hold is not None else 1000, 1000)
    a.hold_seconds = 0.1


def make_cases(a):
    """The suite's cases, with each group an option names replaced by the option's; then --only, --threads."""
    groups, hold = suites.cases(a.suite)
    groups.update(getattr(a, "quick_groups", {}))
    if a.connections is not None or a.sizes is not None:
        groups["echo"] = [suites.echo(c, s) for s in (a.sizes or [128, 16384]) for c in (a.connections or [1, 100, 1000])]
        groups["large"] = []
    if a.stream is not None:
        groups["stream"] = [suites.echo(a.stream[0], a.stream[2], a.stream[1])] if a.stream else []
    if a.http_connections is not None:
        groups["http"] = [suites.http(c) for c in a.http_connections]
    if a.hold is not None:
        hold = a.hold
    unknown = set(a.only) - set(suites.GROUPS)
    if unknown:
        raise SystemExit(f"duet-compare: --only {','.join(sorted(unknown))}: choose from {','.join(suites.GROUPS)}")
    want = set(a.only) if a.only else set(suites.GROUPS)
    cases = []
    for threads in a.threads:
        for group in suites.GROUPS:
            if group in want and group in groups:
                cases += [dataclasses.replace(c, threads=threads, accept=a.accept, load_threads=a.load_threads)
                          for c in groups[group]]
    holds = [Case("hold", hold, size=128)] if ("hold" in want and hold > 0) else []
    return cases, holds


def make_configs(a, help_text="", found=None):
    """The configs in column order. epoll first: everything is compared with it.

    `help_text` is the server's --help: the full suite's switch variants read
    their defaults from it, and variants whose flags it lacks are skipped.
    `found` (models.probe): which models' programs and flags this build has,
    for the suites with models (models, full).
    """
    configs, notes = [], []
    backends = a.backends if a.backends is not None else suites.default_backends(a.suite)
    for name in backends:
        if name in ("epoll", "poll", "select"):
            configs.append(Config(name, "duet", name))
        elif name == "epoll-et":
            configs.append(Config(name, "duet", "epoll", ["--edge-triggered"]))
        elif name == "uring":
            configs.extend(uring_configs(a))
        elif name == "raw-epoll":
            configs.append(Config(name, "raw", "epoll", workloads=("echo", "hold")))
        elif name == "raw-uring":
            for t in a.raw_taskrun:
                suffix = "" if t == "auto" else "-" + t
                args = [] if t == "auto" else ["--taskrun", t]
                configs.append(Config("raw-uring" + suffix, "raw", "uring", args, workloads=("echo", "hold")))
        else:
            raise SystemExit(f"duet-compare: unknown backend {name!r} (choose from "
                             f"{','.join(DUET_BACKENDS + RAW_BASELINES)},epoll-et)")
    if (a.nginx or suites.wants_nginx(a.suite)) and not a.no_nginx:
        path = find_nginx()
        if path:
            configs.append(Config("nginx", "nginx", path, workloads=("http",)))
        else:
            notes.append("nginx is not installed (apt-get install nginx-light): no nginx reference beside HTTP.")
    if suites.wants_models(a.suite):
        # found None: nobody asked the build (a caller that only plans): the callback servers only, silently.
        configs, more = models.configs(configs, found or {})
        notes += more if found is not None else []
        # /hello beside files: epoll and uring with each --file-io (found None: nobody asked the build).
        configs, more = beside.file_io_configs(configs, found.get("http") if found is not None else None)
        notes += more
    wanted = list(a.variant)
    if suites.wants_switch_variants(a.suite):
        switched, more = variants.switch_variants(help_text)
        notes += more
        wanted += [v for v in switched if v.name not in {w.name for w in wanted}]
    kept, more = variants.screen_flags(wanted, help_text)
    notes += more
    taken = {c.name for c in configs}
    for v in kept:
        if v.name in taken:
            raise SystemExit(f"duet-compare: --variant {v.name}: that name is already a config")
        taken.add(v.name)
        configs.append(v)
    configs.sort(key=lambda c: c.name != "epoll")  # stable: epoll first, the rest in the order asked
    return configs, notes


def uring_configs(a):
    sqpoll = [False, True] if a.sqpoll else [False]
    out = []
    for taskrun, wakeup, batch, zc, bufsize, sq in itertools.product(a.taskrun, a.wakeup, a.wait_batch, a.send_zc,
                                                                     a.buffer_size, sqpoll):
        parts, args = [], []
        if taskrun != "auto":
            parts.append(taskrun)
            args += ["--taskrun", taskrun]
        if wakeup != "eventfd":
            parts.append(wakeup)
            args += ["--wakeup", wakeup]
        if batch > 1:
            parts.append(f"batch{batch}")
            args += ["--wait-batch", str(batch), "--wait-timeout-us", str(a.wait_timeout_us)]
        if zc > 0:
            parts.append(f"zc{zc}")
            args += ["--send-zc", str(zc)]
        if bufsize > 0:
            parts.append(f"buf{bufsize}")
            args += ["--buffer-size", str(bufsize)]
        if sq:
            parts.append("sqpoll")
            args += ["--sqpoll"]
        out.append(Config("-".join(["uring"] + parts), "duet", "uring", args))
    return out


def find_build(requested, top):
    if requested:
        return os.path.abspath(requested)
    def has_echo(d):
        return os.access(os.path.join(d, "apps", "echo", "duet-echo"), os.X_OK)
    default = os.path.join(top, "build")
    if has_echo(default):
        return default
    candidates = [os.path.join(top, d) for d in os.listdir(top) if d.startswith("build")]
    candidates = [d for d in candidates if has_echo(d)]
    if candidates:
        return max(candidates, key=lambda d: os.path.getmtime(os.path.join(d, "apps", "echo", "duet-echo")))
    return default
