"""Plots with gnuplot (SVG and PNG): one line per config.

  throughput against connections    one plot per echo message size, one for HTTP
  p99 latency against connections   the same groups
  system calls per request          clustered bars, every case
  the verdict's chart               uring/epoll CPU per request per regime, min-max error bars, a line at 1.0

The data files (*.dat) sit next to the plots, so anyone can re-plot them.
"""
import os
import shutil
import subprocess

from . import verdict
from .summary import is_num

VERDICT_CHART = "verdict_cpu_ratio"


def _groups(cases):
    """Cases that differ only in connection count form one curve group."""
    groups = {}
    for c in cases:
        if c.workload in ("echo", "http"):
            groups.setdefault(c.kind, []).append(c)
    return {k: sorted(v, key=lambda c: c.connections) for k, v in groups.items()
            if len({c.connections for c in v}) > 1}


def _slug(text):
    return "".join(ch if ch.isalnum() else "_" for ch in text).strip("_")


def _val(v):
    return f"{v:.6g}" if is_num(v) else "?"


def _point(summary, case, config, metric):
    """A curve's point: the median over rounds; p99 pooled over the rounds, left out without enough samples."""
    if metric == "p99_us":
        p = summary.p99(case.id, config)
        return p.value_us if p.enough else float("nan")
    return summary.stat(case.id, config, metric).median


def make(outdir, summary, cases, configs):
    if not shutil.which("gnuplot"):
        return [], ["gnuplot not found: no plots (apt-get install gnuplot-nox)"]
    names = [c.name for c in configs]
    made, problems = [], []
    for kind, group in _groups(cases).items():
        for metric, ylabel, logy, stem in (("rps", "requests/s (median)", False, "throughput"),
                                           ("p99_us", "p99 latency, µs (all rounds pooled)", True, "p99"),
                                           ("syscalls_per_req", "system calls per request (median)", False,
                                            "syscalls")):
            used = [n for n in names if any(summary.stat(c.id, n, metric) for c in group)]
            if not used:
                continue
            name = f"{stem}_{_slug(kind)}"
            dat = os.path.join(outdir, name + ".dat")
            with open(dat, "w") as f:
                f.write("connections " + " ".join(used) + "\n")
                for c in group:
                    f.write(f"{c.connections} " + " ".join(_val(_point(summary, c, n, metric))
                                                           for n in used) + "\n")
            title = f"{kind}: {ylabel.split(' (')[0]} against connections"
            script = _line_script(name, dat, title, ylabel, len(used), logy)
            err = _run(outdir, script)
            if err:
                problems.append(f"gnuplot {name}: {err}")
            else:
                made.append(name)
    # Syscalls per request, every case, clustered bars.
    timed = [c for c in cases if c.workload in ("echo", "http")]
    used = [n for n in names if any(summary.stat(c.id, n, "syscalls_per_req") for c in timed)]
    if timed and used:
        name = "syscalls_per_request"
        dat = os.path.join(outdir, name + ".dat")
        with open(dat, "w") as f:
            f.write("case " + " ".join(used) + "\n")
            for c in timed:
                f.write(f'"{c.id}" ' + " ".join(_val(summary.stat(c.id, n, "syscalls_per_req").median)
                                                for n in used) + "\n")
        err = _run(outdir, _bar_script(name, dat, len(used)))
        if err:
            problems.append(f"gnuplot {name}: {err}")
        else:
            made.append(name)
    return made, problems


def verdict_chart(outdir, vrows, a="uring", b="epoll"):
    """The verdict's chart -> (name or None, problem or "")."""
    if not vrows or not any(r.cpu.rounds for r in vrows):
        return None, ""
    dat = os.path.join(outdir, VERDICT_CHART + ".dat")
    with open(dat, "w") as f:
        f.write(verdict.chart_data(vrows))
    if not shutil.which("gnuplot"):
        return None, "gnuplot not found: no verdict chart (apt-get install gnuplot-nox); its data is in " + dat
    measured = [r.cpu for r in vrows if r.cpu.rounds]
    lo = min([c.lo for c in measured] + [1.0])
    hi = max([c.hi for c in measured] + [1.0])
    # A log scale: 0.5x and 2x sit equally far from 1.0, as they should for a ratio.
    lines = []
    for term, out in _terminals(VERDICT_CHART):
        lines += [term.replace("900,540", "1000,600"), f"set output '{out}'", "set datafile missing '?'",
                  f"set title '{a} / {b}: server CPU per request per regime (median, error bars: min–max of the "
                  f"per-round pairs)' noenhanced",
                  f"set ylabel '{a} / {b} CPU per request (below 1.0: {a} cheaper)' noenhanced",
                  "set xtics rotate by -35 noenhanced", "set grid ytics",
                  "set key outside top center horizontal noenhanced",
                  f"set xrange [-0.5:{len(vrows) - 0.5}]", f"set yrange [{lo / 1.15:.4g}:{hi * 1.15:.4g}]",
                  "set logscale y 2", "set ytics (0.25, 0.33, 0.5, 0.67, 0.8, 0.9, 1, 1.1, 1.25, 1.5, 2, 3, 4)",
                  "set bmargin 10",
                  f"plot '{os.path.basename(dat)}' using 1:3:4:5:xtic(2) with yerrorbars pt 7 ps 1.3 lw 2 "
                  f"title '{a}/{b}', 1 with lines dt 2 lw 2 lc rgb 'black' title 'equal (1.0)'",
                  "unset output"]
    err = _run(outdir, "\n".join(lines) + "\n")
    if err:
        return None, f"gnuplot {VERDICT_CHART}: {err}"
    return VERDICT_CHART, ""


def _terminals(name):
    return [(f"set terminal svg size 900,540 dynamic font 'sans,11'", f"{name}.svg"),
            (f"set terminal pngcairo size 900,540 font 'sans,10'", f"{name}.png")]


def _line_script(name, dat, title, ylabel, n, logy):
    lines = []
    for term, out in _terminals(name):
        lines += [term, f"set output '{out}'",
                  "set datafile missing '?'", f"set title '{title}' noenhanced", "set key outside right noenhanced",
                  "set logscale x 10", "set xlabel 'connections'", f"set ylabel '{ylabel}'", "set grid",
                  ("set logscale y 10" if logy else "unset logscale y"), "set yrange [0:*]" if not logy else "",
                  f"plot for [i=2:{n + 1}] '{os.path.basename(dat)}' using 1:i with linespoints lw 2 "
                  f"title columnheader(i)", "unset output"]
    return "\n".join(lines) + "\n"


def _bar_script(name, dat, n):
    lines = []
    for term, out in _terminals(name):
        lines += [term.replace("900,540", "1100,560"), f"set output '{out}'", "set datafile missing '?'",
                  "set title 'System calls per request (median)'", "set key outside right noenhanced",
                  "set style data histograms", "set style histogram clustered gap 1", "set style fill solid 0.8",
                  "set xtics rotate by -30 noenhanced", "set ylabel 'system calls per request'", "set grid ytics",
                  "set yrange [0:*]",
                  f"plot for [i=2:{n + 1}] '{os.path.basename(dat)}' using i:xtic(1) title columnheader(i)",
                  "unset output"]
    return "\n".join(lines) + "\n"


def _run(outdir, script):
    try:
        r = subprocess.run(["gnuplot"], input=script, cwd=outdir, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return str(e)
    if r.returncode != 0:
        return (r.stderr.strip().splitlines() or ["failed"])[-1]
    return ""
