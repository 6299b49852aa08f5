"""duet-compare's main(): plan, run interleaved, write results, print the table."""
import csv
import dataclasses
import datetime
import os
import shlex
import sys
import time

from . import beside, loads, machine, models, pagecache, plan, plots, procs, repeat, report, runner, suites, variants, verdict
from .summary import Summary


def repo_top():
    here = os.path.dirname(os.path.abspath(__file__))       # bench/compare/duetcompare
    return os.path.dirname(os.path.dirname(os.path.dirname(here)))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    a = plan.parser().parse_args(argv)
    if a.quick:
        plan.apply_quick(a)
    if a.rounds < 1:
        raise SystemExit("duet-compare: --rounds must be at least 1")
    if a.precision < 0 or (a.extra_seconds is not None and a.extra_seconds < 0):
        raise SystemExit("duet-compare: --precision and --extra-seconds must not be negative")
    top = repo_top()
    build = plan.find_build(a.build, top)
    cases, hold_cases = plan.make_cases(a)
    configs, notes = plan.make_configs(a, variants.server_help(build),
                                       models.probe(build) if suites.wants_models(a.suite) else None)
    www = None
    if any(c.file_size for c in cases):
        # The static files (pagecache.py): on a disk file system, so a cold case can be cold.
        www = os.path.join("/var/tmp", f"duet-compare-www-{os.getuid()}")
        cases = [dataclasses.replace(c, root=www) if c.file_size else c for c in cases]
        if pagecache.filesystem("/var/tmp") == "tmpfs":
            notes.append("static files: /var/tmp is tmpfs here, whose pages cannot be dropped: the cold cases "
                         "are warm")
    ctx = runner.Context(a, build)
    ctx.load_features = loads.features(build)
    if "--churn" not in ctx.load_features and any(c.churn for c in cases):
        notes.append("this duet-load has no --churn: the connection-churn cases are skipped (rebuild duet-load)"
                     + ("; --dry-run shows them anyway" if a.dry_run else ""))
        cases = cases if a.dry_run else [c for c in cases if not c.churn]
    if "--http-mix" not in ctx.load_features and any(c.probe for c in cases):
        notes.append("this duet-load has no --http-mix: the /hello-beside-files cases are skipped (rebuild "
                     "duet-load)" + ("; --dry-run shows them anyway" if a.dry_run else ""))
        cases = cases if a.dry_run else [c for c in cases if not c.probe]

    missing = [p for p in (os.path.join(build, "apps", "echo", "duet-echo"),
                           os.path.join(build, "bench", "load", "duet-load")) if not os.access(p, os.X_OK)]
    if missing and not a.dry_run:
        raise SystemExit(f"duet-compare: {missing[0]} not found; build first "
                         f"(bash scripts/build.sh build -DCMAKE_BUILD_TYPE=Release) or pass --build DIR")
    if a.slice < 0 or a.slice_warmup < 0 or a.duration <= 0:
        raise SystemExit("duet-compare: --duration must be positive, --slice and --slice-warmup not negative")
    if a.http_load == "wrk" and any(c.workload == "http" for c in cases) and not _which("wrk"):
        notes.append("wrk is not installed: HTTP cases skipped (apt-get install wrk)")
        cases = [c for c in cases if c.workload != "http"]
    if not _which("taskset"):
        raise SystemExit("duet-compare: taskset not found (apt-get install util-linux)")
    if a.perf and not _which("perf"):
        notes.append("--perf: perf is not installed (apt-get install linux-perf); no perf check")
        a.perf = False

    previous = None
    if a.compare_with:
        try:
            previous = repeat.load_rows(a.compare_with)
        except (OSError, csv.Error, UnicodeDecodeError) as e:
            raise SystemExit(f"duet-compare: --compare-with {a.compare_with}: cannot read results.csv ({e})")

    if a.dry_run:
        print(f"build: {build}")
        print(f"suite: {a.suite}, {len(cases)} timed cases x {a.rounds} rounds")
        print("configs: " + ", ".join(c.name for c in configs))
        for n in notes:
            print("note: " + n)
        for case in cases + hold_cases:
            for cfg in [c for c in configs if c.applies_to(case)]:
                why = cfg.skip_reason(case)
                print(f"{case.id:<24} {cfg.name:<14} " + (f"SKIP {why}" if why else
                      " ".join(plan_cmd(cfg, case, ctx))))
            if case.workload != "hold":
                runnable = [c for c in configs if c.applies_to(case) and not c.skip_reason(case)]
                print(f"{case.id:<24} {'(load)':<14} " + " ".join(load_cmd(case, runnable, ctx)))
        return 0

    configs, more = variants.screen_start(configs, build, a.server_cpus)
    notes += more

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = os.path.abspath(a.out or os.path.join(top, "results", stamp))
    os.makedirs(outdir, exist_ok=True)
    info = machine.describe(top)
    print(f"duet-compare: {len(configs)} configs ({', '.join(c.name for c in configs)}), "
          f"{len(cases)} cases x {a.rounds} rounds" + (f" + RSS with {hold_cases[0].connections} idle connections"
                                                       if hold_cases else "")
          + f"; server on CPU {a.server_cpus}, load on CPU {a.load_cpus}; results in {outdir}", file=sys.stderr)
    for n in notes:
        print("note: " + n, file=sys.stderr)

    rows = []
    procs.install_signal_handlers()
    interrupted = False
    t0 = time.monotonic()
    csv_path = os.path.join(outdir, "results.csv")

    def on_row(row):
        rows.append(row)

    try:
        if www:
            pagecache.make_files(www, cases)
        runner.run_all(ctx, cases, hold_cases, configs, on_row)
    except (KeyboardInterrupt, procs.Interrupted) as e:
        interrupted = True
        print(f"\nduet-compare: interrupted ({e or 'Ctrl-C'}); stopping every child and writing what ran",
              file=sys.stderr)
    finally:
        procs.cleanup_all()
    wall = time.monotonic() - t0

    report.write_csv(csv_path, rows)
    summary = Summary(rows, configs, cases + hold_cases)
    made = []
    if not a.no_plots and not interrupted:
        made, problems = plots.make(outdir, summary, cases, configs)
        notes += problems
    cmdline = ["bench/compare/duet-compare"] + [shlex.quote(x) for x in argv]
    changes = repeat.compare(previous, rows, configs, cases) if previous is not None else None
    uring = report.main_uring(configs)
    vrows = verdict.rows(summary, cases, configs, uring)
    chart = None
    if not a.no_plots and not interrupted:
        chart, problem = plots.verdict_chart(outdir, vrows, uring or "uring")
        notes += [problem] if problem else []
    report.write_markdown(os.path.join(outdir, "report.md"), ctx, info, rows, cases, hold_cases, configs, notes,
                          wall, cmdline, made, interrupted, changes,
                          verdict_md=verdict.markdown(vrows, uring or "uring", chart=chart)
                          + "\n" + models.markdown(summary, cases, configs,
                                                   [r for r in rows if r["status"] == "skipped"], notes)
                          + "\n" + beside.markdown(summary, cases, configs))
    skipped = [r for r in rows if r["status"] == "skipped"]
    print(report.console_summary(summary, cases, configs, skipped, wall))
    print("\n" + verdict.text(vrows, uring or "uring"))
    if changes is not None:
        print(f"\nagainst {a.compare_with}: {repeat.summary_line(changes)}")
    errors = [r for r in rows if r["status"] == "error"]
    print(f"\nresults: {csv_path}\nreport:  {os.path.join(outdir, 'report.md')}"
          + (f"\nplots:   {', '.join(m + '.svg' for m in made)}" if made else "")
          + (f"\n{len(errors)} run(s) had errors: see the table and report.md" if errors else ""))
    return 130 if interrupted else (1 if errors else 0)


def plan_cmd(cfg, case, ctx):
    from . import servers
    return servers.command(cfg, case, ctx.build, ctx.server_cpus, None)


def load_cmd(case, configs, ctx):
    """The alternating load's command, with placeholder ports and pids (known only once the servers run)."""
    from . import alternate

    class Placeholder:
        def __init__(self, i):
            self.port, self.pid = f"PORT{i}", f"PID{i}"
    per_slice = alternate.connect_per_slice(ctx, configs, case)
    group = alternate.groups(configs, case, per_slice)[0]
    return loads.alternate_command(ctx.build, ctx.load_cpus, ctx.server_cpus,
                                   [Placeholder(i + 1) for i in range(len(group))], case, ctx.args, per_slice)


def _which(name):
    import shutil
    return shutil.which(name)
