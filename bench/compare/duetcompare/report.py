"""results.csv (every run, every metric), report.md, and the table printed at the end."""
import csv
import os

from . import loads, precision
from .outcome import counted_syscall_kinds
from .summary import Stat, Summary, fmt, fmt_ratio, fmt_stat, is_num


def csv_columns(kinds):
    """CSV columns in a stable order, the system calls by kind (as the servers name them) among them.

    Anything else a row has is appended after them.
    """
    return [
        "round", "case", "workload", "connections", "size", "inflight", "threads", "accept", "config", "kind",
        "mode", "status", "error", "duration_s", "warmup_s", "requests", "rps", "bytes_per_s", "p50_us", "p90_us",
        "p99_us", "p999_us", "max_us", "load_errors", "mismatches", "connect_errors", "connected",
        "server_requests", "server_cpu_s", "cpu_us_per_req", "load_cpu_s", "load_cpu_us_per_req", "load_wall_s",
        "syscalls", "syscalls_per_req"] + [f"sys_{k}_per_req" for k in kinds] + [
        "wakeups", "wakeups_per_req", "events", "events_per_wakeup", "tasks", "sqes", "cqes", "enters",
        "sqes_per_enter", "cqes_per_enter", "enobufs", "recv_rearms", "cq_overflows", "send_zc"] + [
        f"sys_{k}" for k in kinds] + [
        "accepted", "closed", "resets", "bytes_in", "bytes_out", "response_bytes", "perf_syscalls",
        "perf_syscalls_per_req", "rss_before", "rss_after", "rss_per_conn", "error_detail", "server_command",
        "load_command", "latency_samples", "min_us",
    ]
# The latency histograms (a few KiB per row) go to their own file beside results.csv, keyed like its rows:
# results.csv stays small enough to read and to commit; --compare-with reads both (repeat.load_rows).
HIST_FILE = "latency_hist.csv"
HIST_KEYS = ("round", "case", "config")
# The histogram columns: the whole run's, and the /hello group's in a /hello-beside-files case (beside.py).
HIST_COLUMNS = ("latency_hist", "probe_latency_hist")


def write_csv(path, rows):
    first = csv_columns(counted_syscall_kinds(rows))
    extra = sorted({k for r in rows for k in r} - set(first) - set(HIST_COLUMNS))
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=first + extra, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    with_hist = [r for r in rows if any(r.get(k) for k in HIST_COLUMNS)]
    if with_hist:
        # The probe column only when a row has it: a run without beside cases writes the file as before.
        columns = [k for k in HIST_COLUMNS if any(r.get(k) for r in with_hist)]
        with open(os.path.join(os.path.dirname(path), HIST_FILE), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(HIST_KEYS + tuple(columns))
            for r in with_hist:
                w.writerow([r.get(k, "") for k in HIST_KEYS] + [r.get(k, "") for k in columns])


def main_uring(configs):
    names = [c.name for c in configs]
    if "uring" in names:
        return "uring"
    return next((n for n in names if n.startswith("uring")), None)


# ---------------------------------------------------------------- tables

def case_table(s, case, configs, markdown):
    """One row per config: throughput, p99, CPU and syscalls per request, events per wake-up, ratios to epoll."""
    head = ["config", "req/s median [min–max]", "p99 µs", "p99 rests on", "CPU µs/req", "syscalls/req",
            "events/wake-up", "req/s ×epoll", "CPU/req ×epoll", "runs", "errors"]
    lines = []
    for cfg in configs:
        runs = s.runs(case.id, cfg.name)
        if not runs:
            continue
        errs = s.errors(case.id, cfg.name)
        ok = len([r for r in runs if "rps" in r])
        base = "epoll" if cfg.name != "epoll" and s.has("epoll") else None
        lines.append([
            cfg.name,
            fmt_stat(s.stat(case.id, cfg.name, "rps"), 0),
            p99_cell(s.p99(case.id, cfg.name), markdown),
            s.p99(case.id, cfg.name).describe() if s.p99(case.id, cfg.name).rounds else "–",
            fmt(s.stat(case.id, cfg.name, "cpu_us_per_req").median, 2),
            fmt(s.stat(case.id, cfg.name, "syscalls_per_req").median, 2),
            fmt(s.stat(case.id, cfg.name, "events_per_wakeup").median, 1),
            fmt_ratio(s.ratio(case.id, cfg.name, base, "rps"), spread=markdown) if base else "",
            fmt_ratio(s.ratio(case.id, cfg.name, base, "cpu_us_per_req"), spread=markdown) if base else "",
            f"{ok}/{len(runs)}",
            (f"{len(errs)}: {errs[0]['error'][:70]}" if errs else "0"),
        ])
    return render(head, lines, markdown)


def p99_cell(p, markdown=True):
    """A pooled p99 (latency.py), or that it has not enough samples behind it (the value in brackets)."""
    if not p.rounds:
        return "–"
    if p.enough:
        return fmt(p.value_us, 0)
    return f"{'*' if markdown else ''}few samples{'*' if markdown else ''} ({fmt(p.value_us, 0)})"


def p99_ratio_cell(s, case_id, config, base, spread=True):
    """Pooled p99 ratio [per-round min–max], or why there is none."""
    from .latency import NOT_ENOUGH
    ratio, per_round, _, _ = s.p99_ratio(case_id, config, base)
    if not per_round:
        return "–"
    if not is_num(ratio):
        return NOT_ENOUGH
    if not spread or len(per_round.values) == 1:
        return f"{ratio:.2f}×"
    return f"{ratio:.2f}× [{per_round.lo:.2f}–{per_round.hi:.2f}]"


def render(head, lines, markdown):
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        out += ["| " + " | ".join(str(c) for c in l) + " |" for l in lines]
        return "\n".join(out)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *lines)] if lines else [len(h) for h in head]
    def row(cells):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([row(head)] + [row(l) for l in lines])


def console_summary(s, cases, configs, skipped, wall):
    out = []
    for case in cases:
        if not any(s.runs(case.id, c.name) for c in configs):
            continue
        out.append(f"\n== {case.id}")
        out.append(case_table(s, case, configs, markdown=False))
    hold = rss_lines(s, configs)
    if hold:
        out.append("\n== RSS per idle connection")
        out.append(render(["config", "connections", "RSS before", "RSS after", "bytes/conn", "status"], hold, False))
    # Raw baselines not serving HTTP is by design; say only what a reader could not guess.
    notable = sorted({f"{r['config']} {r['case']}: {r['error']}" for r in skipped if "does not serve" not in r["error"]})
    if notable:
        out.append("\nskipped: " + "; ".join(notable))
    out.append(f"\n(ratios ×epoll: pair by pair within a round, then the median; wall time {wall / 60:.1f} min)")
    return "\n".join(out)


def rss_lines(s, configs):
    lines = []
    for (case_id, cfg), runs in s.by.items():
        if not case_id.startswith("hold"):
            continue
        for r in runs:
            lines.append([cfg, r["connections"], _mib(r.get("rss_before")), _mib(r.get("rss_after")),
                          fmt(r.get("rss_per_conn"), 0), r["status"] + (": " + r["error"] if r["error"] else "")])
    order = {c.name: i for i, c in enumerate(configs)}
    return sorted(lines, key=lambda l: order.get(l[0], 99))


def _mib(v):
    return f"{v / 1048576:.1f} MiB" if is_num(v) else "–"


# ---------------------------------------------------------------- targets

def targets(s, cases, configs):
    """The issue's goals, each with what was measured and, if missed, by how much."""
    uring = main_uring(configs)
    timed = [c for c in cases if c.workload in ("echo", "http")]
    echo = [c for c in cases if c.workload == "echo"]
    out = []

    def pct(x):
        if x < 0.1:
            return "<0.1%"
        return f"{x:.1f}%" if x < 10 else f"{x:.0f}%"

    def verdict_ge(value, goal, unit="×"):
        if not is_num(value):
            return "not measured"
        return "met" if value >= goal else f"**missed by {pct((goal - value) / goal * 100)}** (short of {goal:g}{unit})"

    def verdict_le(value, goal, unit="×"):
        if not is_num(value):
            return "not measured"
        return "met" if value <= goal else f"**missed by {pct((value - goal) / goal * 100)}** (over {goal:g}{unit})"

    # 1. Framework overhead against the raw loops: requests per CPU-second, duet / raw.
    rows = []
    for duet_cfg, raw_cfg in (("epoll", "raw-epoll"), (uring, "raw-uring")):
        if not duet_cfg or not s.has(duet_cfg) or not s.has(raw_cfg):
            continue
        for c in echo:
            eff = s.ratio(c.id, duet_cfg, raw_cfg, "cpu_us_per_req", invert=True)
            thr = s.ratio(c.id, duet_cfg, raw_cfg, "rps")
            rows.append([f"{duet_cfg} / {raw_cfg}", c.id, fmt_ratio(eff), fmt_ratio(thr), verdict_ge(eff.median, 0.97)])
    if rows:
        out.append(("Framework ≥ 0.97× its raw baseline (requests per server CPU-second; throughput shown beside)",
                    ["pair", "case", "per-CPU ratio", "throughput ratio", "verdict (per CPU)"], rows))

    if uring and s.has("epoll") and s.has(uring):
        rows = []
        for c in timed:
            r = s.ratio(c.id, uring, "epoll", "cpu_us_per_req")
            rows.append([c.id, fmt_ratio(r), verdict_le(r.median, 1.0)])
        out.append((f"{uring} CPU per request ≤ epoll's", ["case", f"CPU/req {uring}/epoll", "verdict"], rows))

        rows = []
        for c in timed:
            r = s.ratio(c.id, uring, "epoll", "syscalls_per_req")
            rows.append([c.id, fmt_ratio(r), verdict_le(r.median, 0.5)])
        out.append((f"{uring} system calls per request ≤ half of epoll's",
                    ["case", f"syscalls/req {uring}/epoll", "verdict"], rows))

        rows = []
        for label, pick in (("streaming (several messages in flight)", lambda c: c.workload == "echo" and c.inflight > 1),
                            ("large messages (≥ 16 KiB)", lambda c: c.workload == "echo" and c.size >= 16384),
                            ("10,000 connections", lambda c: c.workload in ("echo", "http") and c.connections >= 10000)):
            chosen = [c for c in timed if pick(c)]
            if not chosen:
                rows.append([label, "–", "not measured in this run"
                             + (" (add 10000 to --connections)" if "10,000" in label else "")])
            for c in chosen:
                r = s.ratio(c.id, uring, "epoll", "cpu_us_per_req", invert=True)
                rows.append([f"{label}: {c.id}", fmt_ratio(r), verdict_ge(r.median, 1.2)])
        out.append((f"{uring} ≥ 1.2× epoll's requests per CPU-second in streaming, large-message and "
                    f"10k-connection cases", ["case", f"per-CPU {uring}/epoll", "verdict"], rows))

    rows = []
    order = {c.name: i for i, c in enumerate(configs)}
    for (case_id, cfg), runs in sorted(s.by.items(), key=lambda kv: order.get(kv[0][1], 99)):
        if case_id.startswith("hold"):
            v = Stat(r.get("rss_per_conn") for r in runs).median
            rows.append([cfg, fmt(v, 0), verdict_le(v / 1024, 1.0, " KiB") if is_num(v) else "not measured"])
    if rows:
        out.append(("RSS per idle connection ≤ 1 KiB", ["config", "bytes per connection", "verdict"], rows))
    return out


def variant_tables(s, cases, configs):
    """Each variant against the default config of its backend (uring-bundle / uring), pair by pair.

    This is the table a switch's default is chosen from: one switch flipped,
    everything else the same, both measured in the same slices.
    """
    pairs = [(c.name, c.backend) for c in configs if c.variant and s.has(c.name) and s.has(c.backend)]
    if not pairs:
        return []
    md = ["## Variants against their backend's default\n",
          "Each variant's figure over its backend's default config's (the same round, the same slices): "
          "median [min–max] over rounds; below 1.0 the variant is cheaper (CPU) or quicker (p99).\n"]
    for metric, title in (("cpu_us_per_req", "CPU per request"), ("p99_us", "p99 latency")):
        head = ["case"] + [f"{v} / {b}" for v, b in pairs]
        lines = [[case.id] + [p99_ratio_cell(s, case.id, v, b) if metric == "p99_us"
                              else fmt_ratio(s.ratio(case.id, v, b, metric)) for v, b in pairs]
                 for case in cases if case.workload != "hold"]
        md.append(f"### {title}\n")
        md.append(render(head, lines, True) + "\n")
    return md


def targets_markdown(s, cases, configs):
    """The issue's targets (--targets): our goals, not the reader's question, so not in the default report."""
    md = ["## Targets\n"]
    goals = targets(s, cases, configs)
    if not goals:
        md.append("Not enough configurations ran to check the targets (they need epoll, uring and the raw baselines).\n")
    for title, head, lines in goals:
        missed = sum(1 for l in lines if "missed" in l[-1])
        md.append(f"### {title}\n")
        md.append(f"{'All met.' if not missed else f'Missed in {missed} of {len(lines)}.'}\n")
        md.append(render(head, lines, True) + "\n")
    return "\n".join(md)


# ---------------------------------------------------------------- report.md

def write_markdown(path, ctx, info, rows, cases, hold_cases, configs, notes, wall, argv, plots, interrupted,
                   changes=None, verdict_md=""):
    s = Summary(rows, configs, cases + hold_cases)
    a = ctx.args
    uring = main_uring(configs)
    skipped = [r for r in rows if r["status"] == "skipped"]
    md = []
    md.append("# duet-compare report\n")
    if interrupted:
        md.append("**Interrupted before the end: the tables hold the runs that finished.**\n")
    md.append(f"Command: `{' '.join(argv)}`  \nWall time: {wall / 60:.1f} min ({wall:.0f} s)  \n"
              f"Read with [docs/reading-the-report.md](../../docs/reading-the-report.md).\n")
    if verdict_md:
        md.append(verdict_md)

    md.append("## Machine and method\n")
    md.append(f"- CPU: {info['cpu']} ({info['cpus']} CPUs), memory {info['memory']}; {info['distro']}; "
              f"kernel {info['kernel']} (kernel.io_uring_disabled={info['io_uring_disabled']})")
    md.append(f"- {info['liburing']}; {info['compiler']}; {info['wrk']}; RLIMIT_NOFILE {info['nofile']}; "
              f"source {info['git']}; build `{ctx.build}`")
    md.append(f"- Pinning: server on CPU {a.server_cpus} (`taskset -c {a.server_cpus}`), load on CPU {a.load_cpus} "
              f"(`taskset -c {a.load_cpus}`), every run")
    if a.http_load == "wrk":
        http_how = (f"HTTP: wrk for {max(1, int(-(-a.duration // 1)))} s per server per round (whole seconds), "
                    f"`wrk -t{a.load_threads}`, GET /hello, keep-alive, servers one after another (A B C A B C)")
    else:
        http_how = ("HTTP: duet-load's HTTP mode (keep-alive GET /hello, one request in flight per connection), "
                    "alternating like echo")
    md.append(f"- Alternating slices: for each case and round every server starts fresh and runs at once "
              f"(the idle ones sleep), and one duet-load loads them in turn, {a.slice:g} s measured at a time, "
              f"in serpentine order (A B C, C B A, ...) starting one server further each round, with {a.slice_warmup:g} s unmeasured at the start of "
              f"each slice and a drain at its end; {a.warmup:g} s of warm-up before each server's first slice; {a.duration:g} s measured "
              f"per server per round, {a.rounds} rounds, rounds outermost (round 1 of every case, then round 2, "
              f"...: a case's rounds are spread over the sweep). On a shared machine the speed of memory and caches "
              f"drifts by several times over seconds, so servers measured one after another are measured on "
              f"different machines; alternating every {a.slice:g} s gives them the same mix. A case whose "
              f"connections for every server exceed what one load process may open (18,000 descriptors here, "
              f"e.g. 10,000 connections) opens each server's connections only for its slices "
              f"(duet-load --connect-per-slice), or with an older duet-load alternates among as many servers "
              f"as fit, group after group; from {loads.MANY_CONNECTIONS:,} connections a slice is at least 1 s "
              f"(a closed-loop round trip with 10,000 connections takes longer than 0.25 s). "
              f"{http_how}.")
    md.append("- Medians with [min–max] over rounds. Ratios (×epoll, uring/epoll, duet/raw) are taken pair by pair "
              "inside a round, then the median [min–max].")
    md += precision.markdown(rows, cases, configs, a)
    md.append("- Server CPU per request: the server's CPU time (all threads, exited ones included: the "
              "process's CPU clock in nanoseconds, the same time utime+stime report in ticks), read by duet-load at the "
              "edges of every measured window, divided by the requests completed inside the windows. System "
              "calls, wake-ups and events per request: the loops' own counters (`--stats`, printed at exit) over "
              "the server's life (one round: fresh servers every round), divided by the requests it handled "
              "over the same span (echo: bytes_in / size; HTTP: bytes_out / response size). Throughput and "
              "latency: the measured windows. results.csv also has the server CPU's busy time per request "
              "including softirq (cpu_busy_us_per_req, from /proc/stat in ticks): with IRQ time accounting, "
              "loopback TCP work done in softirq is charged to the CPU rather than to the process.")
    if hold_cases:
        h = hold_cases[0]
        md.append(f"- RSS per idle connection: VmRSS before `duet-load --hold -c {h.connections}` and once every "
                  f"connection has made one 128-byte round trip, divided by {h.connections}; once per config.")
    md.append("")

    md.append("## Summary\n")
    for case in cases:
        if not any(s.runs(case.id, c.name) for c in configs):
            continue
        md.append(f"### {case.id}\n")
        if case.churn:
            md.append("Counted per connection (connect, one request, close): req/s is connections per second, "
                      "CPU and system calls are per connection.\n")
        md.append(case_table(s, case, configs, markdown=True) + "\n")

    if uring and s.has("epoll") and s.has(uring):
        md.append(f"## Ratios {uring}/epoll\n")
        head = ["case", "req/s", "p99", "CPU/req", "syscalls/req", "wake-ups/req"]
        lines = []
        for case in cases:
            lines.append([case.id] + [p99_ratio_cell(s, case.id, uring, "epoll") if m == "p99_us"
                                      else fmt_ratio(s.ratio(case.id, uring, "epoll", m))
                                      for m in ("rps", "p99_us", "cpu_us_per_req", "syscalls_per_req",
                                                "wakeups_per_req")])
        md.append(render(head, lines, True) + "\n")
        others = [c.name for c in configs if c.name not in ("epoll",)]
        if len(others) > 1:
            md.append("### Every config against epoll: CPU per request\n")
            lines = [[case.id] + [fmt_ratio(s.ratio(case.id, o, "epoll", "cpu_us_per_req"), spread=False)
                                  for o in others] for case in cases]
            md.append(render(["case"] + others, lines, True) + "\n")

    md += variant_tables(s, cases, configs)

    if changes is not None:
        from . import repeat
        md.append("## Against the earlier run\n")
        md.append(f"`--compare-with {a.compare_with}`: {repeat.summary_line(changes)}. Ratio by ratio "
                  f"(req/s and CPU: medians of the per-round pairs; p99: the ratio of the p99s over every round "
                  f"pooled), largest change first; \"agrees\" means the larger over the smaller is within "
                  f"{repeat.TOLERANCE * 100:.0f}%; a p99 ratio where either run's p99 rests on too few samples, or is "
                  f"too imprecise for a 10% check (its 95% interval reaches further than 5%, or the run's own "
                  f"per-round p99 ratios spread further than {repeat.TOLERANCE * 100:.0f}% from their median), is "
                  f"listed last and not counted.\n")
        if changes:
            md.append(render(["case", "config", "ratio", "earlier", "now", "change", "agrees"],
                             repeat.table(changes), True) + "\n")

    if a.targets:
        md.append(targets_markdown(s, cases, configs))

    rl = rss_lines(s, configs)
    if rl:
        md.append("## RSS per idle connection\n")
        md.append(render(["config", "connections", "RSS before", "RSS after", "bytes/conn", "status"], rl, True) + "\n")

    md.append("## System calls per request, by kind (medians)\n")
    kinds = counted_syscall_kinds(rows)
    head = ["case", "config"] + list(kinds) + ["total", "sqes/enter", "cqes/enter", "ENOBUFS"]
    lines = []
    for case in cases:
        for cfg in configs:
            runs = s.runs(case.id, cfg.name)
            if not runs or cfg.kind == "nginx":
                continue
            lines.append([case.id, cfg.name] + [fmt(s.stat(case.id, cfg.name, f"sys_{k}_per_req").median, 2)
                                                for k in kinds]
                         + [fmt(s.stat(case.id, cfg.name, "syscalls_per_req").median, 2),
                            fmt(s.stat(case.id, cfg.name, "sqes_per_enter").median, 1),
                            fmt(s.stat(case.id, cfg.name, "cqes_per_enter").median, 1),
                            fmt(s.stat(case.id, cfg.name, "enobufs").median, 0)])
    md.append(render(head, lines, True) + "\n")
    md.append("(raw baselines count only their total; nginx has no counters.)\n")

    perf = [r for r in rows if r.get("round") == "perf"]
    if perf:
        md.append("## System calls checked with perf\n")
        md.append("`perf stat -e raw_syscalls:sys_enter -p PID` over the load run, against the loops' own count; "
                  "one extra run per config (not in the medians).\n")
        lines = [[r["case"], r["config"], fmt(r.get("perf_syscalls_per_req"), 2), fmt(r.get("syscalls_per_req"), 2),
                  fmt(r["perf_syscalls_per_req"] / r["syscalls_per_req"], 2)
                  if is_num(r.get("perf_syscalls_per_req")) and is_num(r.get("syscalls_per_req"))
                  and r["syscalls_per_req"] else "–", r["status"]] for r in perf]
        md.append(render(["case", "config", "perf syscalls/req", "loop's syscalls/req", "perf/loop", "status"],
                         lines, True) + "\n")

    busy = []   # (server share of a CPU, load share of a CPU) per case/config, medians
    for case in cases:
        for cfg in configs:
            srv = s.stat(case.id, cfg.name, "server_cpu_s").median
            ld = s.stat(case.id, cfg.name, "load_cpu_s").median
            wall_ = s.stat(case.id, cfg.name, "load_wall_s").median
            if is_num(wall_) and wall_ > 0 and is_num(ld):
                busy.append((srv / wall_ if is_num(srv) else float("nan"), ld / wall_, case.id, cfg.name))
    if busy:
        srv_max = max((b for b in busy if is_num(b[0])), default=None, key=lambda b: b[0])
        ld_max = max(busy, key=lambda b: b[1])
        md.append("## Who is the bottleneck?\n")
        md.append("Share of one CPU used over a load run (median over rounds), busiest case: "
                  + (f"server {srv_max[0] * 100:.0f}% ({srv_max[3]}, {srv_max[2]}), " if srv_max else "")
                  + f"load generator {ld_max[1] * 100:.0f}% ({ld_max[3]}, {ld_max[2]}). "
                  "A side near 100% saturates first; when the load saturates, throughput says little about the "
                  "server and CPU per request is the figure to read. When neither side is near 100% in the "
                  "closed-loop cases, the pinned processes were waiting for their CPU: other work on the "
                  "machine (compiles, the VM's neighbours) shaped the latencies, so read the ratios and the "
                  "per-request costs rather than the absolute throughput. results.csv has server_cpu_s, "
                  "load_cpu_s and load_wall_s per run.\n")

    if plots:
        md.append("## Plots\n")
        for p in plots:
            md.append(f"![{p}]({p}.svg)  ([PNG]({p}.png))\n")

    notes_all = list(notes) + sorted({f"{r['config']} / {r['case']}: {r['error']}" for r in skipped})
    errors = [r for r in rows if r["status"] == "error"]
    if errors:
        notes_all += [f"ERROR round {r['round']} {r['config']} / {r['case']}: {r['error']}" for r in errors]
    if notes_all:
        md.append("## Notes, skips and errors\n")
        md += [f"- {n}" for n in notes_all]
        md.append("")

    md.append("## Exact commands (round 1)\n")
    seen = set()
    md.append("```")
    for r in rows:
        if r.get("round") == 1 and r.get("server_command"):
            key = (r["case"], r["config"])
            if key in seen:
                continue
            seen.add(key)
            md.append(f"# {r['case']} / {r['config']}")
            md.append(r["server_command"])
            if r.get("load_command"):
                md.append(r["load_command"])
    md.append("```")
    with open(path, "w") as f:
        f.write("\n".join(md) + "\n")
    return s
