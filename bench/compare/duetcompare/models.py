"""The models dimension (issue 13): callbacks, coroutines, one thread per connection.

The same traffic served three ways:
- callbacks: duet-echo / duet-http as they are (`--api callbacks` where the
  app has the flag), on epoll (a reactor) and on io_uring (a proactor);
- coroutines: the same apps with `--api coroutines`, on both backends;
- threads: bench/baselines/duet-thread-echo and duet-thread-http, one thread
  per connection with blocking calls, outside the engine.

Each joins only where its program or flag exists in this build (read from
the apps' --help and the baselines' presence, like the switch variants), with
a note saying what was left out and why: a build from before the coroutine
API or the baselines still runs the rest.

The configs are named so the rest of the report needs nothing new: "epoll"
and "uring" are the callback servers (every ratio is still ×epoll),
"epoll-coro" and "uring-coro" the coroutine ones, "thread" the baseline.
"""
import os
import subprocess

from .servers import Config
from .variants import knows

LABELS = {"callbacks": "callbacks", "coroutines": "coroutines", "threads": "thread per connection"}
MODEL_BACKENDS = ("epoll", "uring")


def _help(path):
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout + r.stderr


def probe(build):
    """What this build has: {"echo": duet-echo --help, "http": ..., "thread-echo": ..., "thread-http": ...}.

    None for a program that is missing (or does not run).
    """
    return {
        "echo": _help(os.path.join(build, "apps", "echo", "duet-echo")),
        "http": _help(os.path.join(build, "apps", "http", "duet-http")),
        "thread-echo": _help(os.path.join(build, "bench", "baselines", "duet-thread-echo")),
        "thread-http": _help(os.path.join(build, "bench", "baselines", "duet-thread-http")),
    }


def has_api(help_text, api):
    """Whether an app's --help offers `--api <api>`."""
    return bool(help_text) and knows(help_text, "--api") and api in help_text


def configs(configs_so_far, found):
    """Marks the callback servers and adds the coroutine and thread configs that this build can run.

    configs_so_far: the run's configs (epoll and uring among them become the
    callbacks model). found: probe(build). Returns (configs, notes).
    """
    notes = []
    out = []
    apps = [app for app in ("echo", "http") if found.get(app)]
    for c in configs_so_far:
        if c.kind == "duet" and c.name in MODEL_BACKENDS:
            per_app = {app: ["--api", "callbacks"] for app in apps if has_api(found[app], "callbacks")}
            c = Config(c.name, c.kind, c.backend, list(c.args), c.workloads, c.variant, model="callbacks",
                       per_app=per_app)
        out.append(c)
    backends = [c.backend for c in out if c.model == "callbacks"]

    coro_apps = [app for app in apps if has_api(found[app], "coroutines")]
    missing = [f"duet-{app}" for app in ("echo", "http") if app not in coro_apps]
    if coro_apps:
        workloads = tuple(coro_apps) + (("hold",) if "echo" in coro_apps else ())
        for b in backends:
            out.append(Config(f"{b}-coro", "duet", b, [], workloads, model="coroutines",
                              per_app={app: ["--api", "coroutines"] for app in coro_apps}))
    if missing:
        notes.append(f"coroutines: {' and '.join(missing)} {'has' if len(missing) == 1 else 'have'} no "
                     f"`--api coroutines` in this build: "
                     + ("no coroutine servers" if not coro_apps else
                        f"the coroutine servers run {', '.join(coro_apps)} only"))

    thread_apps = [app for app in ("echo", "http") if found.get(f"thread-{app}")]
    if thread_apps:
        per_app = {app: (["--stats"] if knows(found[f"thread-{app}"], "--stats") else []) for app in thread_apps}
        files = "http" in thread_apps and knows(found["thread-http"], "--root")
        workloads = tuple(thread_apps) + (("hold",) if "echo" in thread_apps else ())
        out.append(Config("thread", "thread", "", [], workloads, model="threads", per_app=per_app,
                          serves_files=files))
        if "http" in thread_apps and not files:
            notes.append("thread per connection: duet-thread-http has no --root: it sits out the static file "
                         "cases")
    missing = [f"duet-thread-{app}" for app in ("echo", "http") if app not in thread_apps]
    if missing:
        notes.append(f"thread per connection: {' and '.join(missing)} not built (bench/baselines): "
                     + ("no thread-per-connection server" if not thread_apps else
                        f"it runs {', '.join(thread_apps)} only"))
    return out, notes


def label(config):
    """"callbacks on epoll", "coroutines on uring", "thread per connection"."""
    if config.model == "threads":
        return LABELS["threads"]
    return f"{LABELS.get(config.model, config.model)} on {config.backend}"


def model_configs(configs):
    return [c for c in configs if c.model]


# ---------------------------------------------------------------- the report's models sections

def _fmt_factor(call, a, b):
    from . import verdict
    if call.note:
        return call.note
    if not call.rounds:
        return "not measured"
    if not call.winner:
        return f"{verdict.TOO_CLOSE} ({label(a)} / {label(b)}: {call.ratio_text})"
    loser = b if call.winner == a.name else a
    winner = a if call.winner == a.name else b
    return f"**{label(winner)}** by {call.factor:.2f}× over {label(loser)} ({call.ratio_text})"


def calls(summary, case, configs):
    """(CPU words, p99 words, models measured) for one case: the best model against the runner-up."""
    from . import verdict
    from .summary import is_num
    ran = [c for c in model_configs(configs)
           if any(r.get("status") == "ok" for r in summary.runs(case.id, c.name))]
    if len(ran) < 2:
        return ("only one model ran" if ran else "not measured"), "", ran
    cpu = sorted((summary.stat(case.id, c.name, "cpu_us_per_req").median, i, c) for i, c in enumerate(ran)
                 if is_num(summary.stat(case.id, c.name, "cpu_us_per_req").median))
    cpu_words = "not measured"
    if len(cpu) >= 2:
        a, b = cpu[0][2], cpu[1][2]
        cpu_words = _fmt_factor(verdict.call(summary.ratio(case.id, a.name, b.name, "cpu_us_per_req").values,
                                             a.name, b.name), a, b)
    p99s = [(summary.p99(case.id, c.name), i, c) for i, c in enumerate(ran)]
    enough = sorted((p.value_us, i, c) for p, i, c in p99s if p.enough)
    if len(enough) >= 2:
        a, b = enough[0][2], enough[1][2]
        p99_words = _fmt_factor(verdict.call_p99(summary, case.id, a.name, b.name), a, b)
    else:
        few = [label(c) for p, i, c in p99s if not p.enough]
        p99_words = f"{verdict.NOT_ENOUGH} ({', '.join(few)})"
    return cpu_words, p99_words, ran


def left_out(summary, case, configs):
    """The models that did not give a figure for `case`, each with why (skipped, or the error)."""
    out = []
    for c in model_configs(configs):
        runs = summary.runs(case.id, c.name)
        if runs and all(r.get("status") != "ok" for r in runs):
            out.append(f"{label(c)}: {runs[0].get('error', '')[:160]}")
    return out


def markdown(summary, cases, configs, skipped_rows=(), notes=()):
    """The models sections of report.md: the winning model per case, then each model's figures.

    notes: what configs() said about models this build lacks, repeated here.
    """
    from .report import p99_cell, render
    from .summary import fmt, fmt_ratio, fmt_stat
    mconfigs = model_configs(configs)
    if not mconfigs:
        return ""
    absent = [n for n in notes if n.startswith(("coroutines:", "thread per connection:"))]
    skipped = {}
    for r in skipped_rows:
        skipped.setdefault(r["case"], []).append(f"{r['config']}: {r['error']}")
    out = ["## Models: which wins\n",
           "Per case, the best model on server CPU per request and on p99 against the runner-up: the loser's "
           "figure over the winner's, and the winner/runner-up ratio (median [min–max] of the per-round pairs; "
           "p99: the ratio of the p99s over every round pooled). A range that straddles 1.0 is too close to call. "
           "Models: " + ", ".join(f"{label(c)} (`{c.name}`)" for c in mconfigs) + "."
           + (" Not in this run: " + " ".join(n.rstrip(".") + "." for n in absent) if absent else "") + "\n"]
    lines = []
    for case in cases:
        if case.workload == "hold" or case.probe:   # /hello beside files: its own section (beside.py)
            continue
        cpu, p99, ran = calls(summary, case, configs)
        gone = left_out(summary, case, configs) + [s for s in skipped.get(case.id, [])
                                                    if s.split(":")[0] in {c.name for c in mconfigs}]
        lines.append([f"`{case.id}`", cpu, p99 or "–", "; ".join(gone) or "–"])
    out.append(render(["case", "CPU per request", "p99", "left out (why)"], lines, True) + "\n")
    out.append("## Models side by side\n")
    out.append("Server CPU per request and p99 for every model; \"CPU × callbacks\": a coroutine server's CPU per "
               "request over the callback server's on the same backend, the thread server's over callbacks on "
               "epoll (per-round pairs, median [min–max]). A static file case also shows the bytes the server read "
               "from storage per request (0 from a warm page cache). RSS per idle connection for each model is in "
               "the RSS section.\n")
    for case in cases:
        if case.workload == "hold" or case.probe:   # /hello beside files: its own section (beside.py)
            continue
        rows = []
        for c in mconfigs:
            runs = summary.runs(case.id, c.name)
            if not runs:
                continue
            ok = [r for r in runs if r.get("status") == "ok"]
            errs = [r for r in runs if r.get("status") == "error"]
            p = summary.p99(case.id, c.name)
            reads = summary.stat(case.id, c.name, "storage_read_bytes_per_req")
            # The cost of the model on its own backend: coroutines over callbacks; threads over epoll's callbacks.
            base = c.backend if c.model == "coroutines" else ("epoll" if c.model == "threads" else "")
            against = (fmt_ratio(summary.ratio(case.id, c.name, base, "cpu_us_per_req"))
                       if base and summary.runs(case.id, base) else "")
            rows.append([label(c), f"`{c.name}`", fmt_stat(summary.stat(case.id, c.name, "rps"), 0),
                         fmt(summary.stat(case.id, c.name, "cpu_us_per_req").median, 2), against, p99_cell(p),
                         p.describe() if p.rounds else "–",
                         fmt(reads.median, 0) if case.file_size else "",
                         f"{len(ok)}/{len(runs)}" + (f"; {errs[0]['error'][:200]}" if errs else "")])
        if rows:
            out.append(f"### {case.id}\n")
            out.append(render(["model", "config", "req/s", "CPU µs/req", "CPU × callbacks", "p99 µs",
                               "p99 rests on", "storage bytes read/req", "runs ok"], rows, True) + "\n")
    return "\n".join(out)
