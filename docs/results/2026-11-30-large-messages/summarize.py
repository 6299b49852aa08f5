"""The summary in command.txt: per run and case, the CPU share of the load and of the servers, the load's CPU
per message, epoll's requests/s, the uring/epoll requests/s ratio round by round and the median uring/epoll CPU
per message.

Run from the repository top: python3 docs/results/2026-11-30-large-messages/summarize.py
"""
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bench", "compare"))
from duetcompare.repeat import load_rows  # noqa: E402
from duetcompare.summary import measured  # noqa: E402

for run in ("old1", "new1", "old2", "new2", "new3", "new4", "new5", "new6", "new7"):
    by = {}
    for r in measured(load_rows(os.path.join(HERE, run))):
        by.setdefault(r["case"], {}).setdefault(r["config"], {})[r["round"]] = r
    for case in sorted(by):
        e, u = by[case]["epoll"], by[case]["uring"]

        def share(rounds, key):
            return statistics.median(r[key] / r["duration_s"] for r in rounds.values()) * 100

        load_us = statistics.median(r["load_cpu_s"] * 1e6 / r["requests"] for r in e.values())
        rps = [u[k]["rps"] / e[k]["rps"] for k in sorted(e)]
        cpu = statistics.median(u[k]["cpu_us_per_req"] / e[k]["cpu_us_per_req"] for k in e)
        print(f"{run:5} {case:18} load CPU epoll {share(e, 'load_cpu_s'):3.0f}% uring {share(u, 'load_cpu_s'):3.0f}%"
              f" | server CPU epoll {share(e, 'server_cpu_s'):3.0f}% uring {share(u, 'server_cpu_s'):3.0f}%"
              f" | load us/msg (epoll) {load_us:5.1f} | epoll req/s {statistics.median(r['rps'] for r in e.values()):7.0f}"
              f" | uring/epoll req/s {' '.join(f'{x:.2f}' for x in rps)} | CPU/msg {cpu:.2f}")
