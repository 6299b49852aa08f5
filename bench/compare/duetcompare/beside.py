"""/hello beside files: does a cold page cache on some connections hurt the others?

Issue 13's target: while other connections read 1 MiB files from a cold page
cache, the p99 of /hello on the remaining connections is no worse than with
a warm cache, on the proactor and on the reactor's worker-pool path. A
regular file is always "ready", so a loop that reads it itself (duet-http
--file-io loop: pread on the loop thread) stalls every connection of that
loop for as long as the disk takes; a loop that hands the read off (--file-io
async: an io_uring read on uring, a worker thread on epoll) keeps answering
/hello meanwhile.

The case: one duet-load per round, some connections GET the file and the
others GET /hello (duet-load --http FILE --http-mix /hello:N), the /hello
connections' latencies counted apart (the line's "groups"). Run once with the
file's pages dropped every millisecond (cold) and once with them read ahead
(warm), like the static file cases (pagecache.py). Each server's /hello p99
cold over warm says whether the cold file hurt the others.

The servers: epoll and uring with --file-io async (where duet-http has the
flag), plus epoll-fileloop and uring-fileloop with --file-io loop, which run
only the file cases. Without the flag (a build from before the async file
reads) epoll and uring read on the loop thread and that is all the case shows.

Cold and warm are two cases, measured one after the other, not alternated
within a round (the page cache is one for every server): their ratio carries
the machine's drift between the two, so only a difference whose 95% intervals
are apart is called.
"""
import math
from types import SimpleNamespace

from .servers import Config
from .summary import is_num
from .variants import knows

PROBE = "/hello"
FILE_IO_BACKENDS = ("epoll", "uring")


# ---------------------------------------------------------------- servers

def file_io_configs(configs, http_help):
    """epoll and uring read files with --file-io async, and a --file-io loop config beside each -> (configs, notes).

    http_help: duet-http --help, or None when nobody asked the build (a caller that only plans: nothing changes).
    """
    if http_help is None:
        return configs, []
    if not knows(http_help, "--file-io"):
        return configs, ["/hello beside files: duet-http has no --file-io in this build: epoll and uring read "
                         "files on the loop thread (pread), so the case shows that path only"]
    out, added = [], []
    for c in configs:
        if c.kind == "duet" and c.name in FILE_IO_BACKENDS:
            per_app = dict(c.per_app)
            per_app["http"] = list(per_app.get("http", [])) + ["--file-io", "async"]
            c = Config(c.name, c.kind, c.backend, list(c.args), c.workloads, c.variant, model=c.model,
                       per_app=per_app, serves_files=c.serves_files, file_io="async")
            api = per_app["http"][:2] if per_app["http"][:1] == ["--api"] else []
            added.append(Config(f"{c.name}-fileloop", "duet", c.backend, list(c.args), ("http",),
                                per_app={"http": api + ["--file-io", "loop"]}, file_io="loop", files_only=True))
        out.append(c)
    return out + added, []


def label(config):
    """"epoll, --file-io loop"; other servers by name (the server's default file reads)."""
    return f"{config.name}, --file-io {config.file_io}" if config.file_io else config.name


# ---------------------------------------------------------------- the /hello group's p99

def probe_rows(rows):
    """A server's rows of a beside case, as rows whose latency is the /hello group's (for latency.p99)."""
    out = []
    for r in rows:
        out.append({"status": r.get("status"), "p99_us": r.get("probe_p99_us"),
                    "latency_hist": r.get("probe_latency_hist", ""),
                    "latency_samples": r.get("probe_latency_samples"), "round": r.get("round")})
    return out


def probe_p99(summary, case, config):
    """The /hello group's p99 over every round pooled, with what it rests on (latency.P99)."""
    from . import latency
    shape = SimpleNamespace(connections=case.probe_connections, inflight=1, churn=False)
    return latency.p99(probe_rows(summary.runs(case.id, config)), shape)


def per_round(summary, cold, warm, config):
    """The /hello p99 cold over warm, round by round (same round number; different moments)."""
    c = {r.get("round"): r.get("probe_p99_us") for r in summary.runs(cold.id, config)}
    w = {r.get("round"): r.get("probe_p99_us") for r in summary.runs(warm.id, config)}
    return [c[k] / w[k] for k in sorted(set(c) & set(w)) if is_num(c[k]) and is_num(w[k]) and w[k] > 0]


def judge(cold, warm):
    """(verdict words, ratio) from the two pooled /hello p99s (latency.P99).

    Not enough samples on either side: no call. 95% intervals apart: the
    cold p99 is higher (cold files hurt /hello, by the ratio) or lower. Else:
    no difference shown.
    """
    from .latency import NOT_ENOUGH
    if not cold.rounds or not warm.rounds:
        return "not measured", math.nan
    if not (cold.enough and warm.enough):
        short = [f"{name}: {p.describe()}" for name, p in (("cold", cold), ("warm", warm)) if not p.enough]
        return f"{NOT_ENOUGH} ({'; '.join(short)})", math.nan
    ratio = cold.value_us / warm.value_us if warm.value_us else math.nan
    bounds = (cold.lo_us, cold.hi_us, warm.lo_us, warm.hi_us)
    if all(is_num(v) for v in bounds):
        if cold.lo_us > warm.hi_us:
            return f"**hurt**: cold p99 {ratio:.2f}× the warm one", ratio
        if cold.hi_us < warm.lo_us:
            return f"not worse (cold p99 lower: {ratio:.2f}×)", ratio
        return f"not worse within the noise ({ratio:.2f}×; the 95% intervals overlap)", ratio
    return f"{ratio:.2f}× (no intervals: an older results.csv; not called)", ratio


# ---------------------------------------------------------------- the report section

def pairs(cases):
    """[(cold case, warm case)] of the beside cases, matched by everything but the cache."""
    beside = [c for c in cases if getattr(c, "probe", "")]
    out = []
    for cold in (c for c in beside if c.cache == "cold"):
        warm = next((c for c in beside if c.cache == "warm" and c.path == cold.path
                     and c.connections == cold.connections and c.probe_connections == cold.probe_connections
                     and c.threads == cold.threads), None)
        if warm:
            out.append((cold, warm))
    return out


def markdown(summary, cases, configs):
    """report.md's section: per server, the /hello p99 warm and cold, the ratio, and whether cold files hurt."""
    from .report import p99_cell, render
    from .summary import fmt
    out = []
    for cold, warm in pairs(cases):
        out.append(f"## {PROBE} beside {cold.path} ({cold.connections - cold.probe_connections} connections read "
                   f"the file, {cold.probe_connections} GET {PROBE})\n")
        out.append(f"Does a cold page cache on the file's connections hurt the others? Per server the p99 of "
                   f"the {PROBE} connections alone (every round pooled) with the file warm (`{warm.id}`) and "
                   f"cold (`{cold.id}`), and cold over warm (per-round range in brackets). \"hurt\" needs the two "
                   f"p99s' 95% intervals apart; a p99 resting on too few load cycles gets no call. Cold and warm "
                   f"ran one after the other, not alternated, so the machine's drift between them is in the "
                   f"ratio. --file-io loop reads the file with pread on the loop thread; async hands it to "
                   f"io_uring (uring) or the worker pool (epoll).\n")
        rows = []
        for c in configs:
            if not (summary.runs(cold.id, c.name) or summary.runs(warm.id, c.name)):
                continue
            pc, pw = probe_p99(summary, cold, c.name), probe_p99(summary, warm, c.name)
            words, _ = judge(pc, pw)
            rounds = per_round(summary, cold, warm, c.name)
            spread = f" [{min(rounds):.2f}–{max(rounds):.2f}]" if rounds else ""
            reads = summary.stat(cold.id, c.name, "storage_read_bytes_per_req").median
            files = summary.stat(cold.id, c.name, "file_rps").median
            files_warm = summary.stat(warm.id, c.name, "file_rps").median
            errs = [r for r in summary.runs(cold.id, c.name) + summary.runs(warm.id, c.name)
                    if r.get("status") == "error"]
            rows.append([label(c), p99_cell(pw), pw.describe() if pw.rounds else "–", p99_cell(pc),
                         pc.describe() if pc.rounds else "–", words + (spread if is_num(_ratio(pc, pw)) else ""),
                         f"{fmt(files_warm, 0)} / {fmt(files, 0)}", fmt(reads, 0),
                         (errs[0].get("error", "")[:160] if errs else "–")])
        if rows:
            out.append(render(["server", f"{PROBE} p99 µs warm", "rests on", f"{PROBE} p99 µs cold", "rests on",
                               "cold files hurt /hello?", "file req/s warm / cold", "storage bytes read/req cold",
                               "errors"], rows, True) + "\n")
        else:
            out.append("Not measured in this run.\n")
    return "\n".join(out)


def _ratio(cold, warm):
    return cold.value_us / warm.value_us if cold.enough and warm.enough and warm.value_us else math.nan
