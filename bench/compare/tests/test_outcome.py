"""Unit tests for what both ways of measuring share: a run's row (outcome.py), the plan's items,
the system-call kinds as the servers name them, and the one wait-with-a-deadline for a child.

Run: python3 -m unittest discover -s bench/compare/tests (ctest runs it too).
"""
import os
import subprocess
import sys
import tempfile
import unittest
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from duetcompare import alternate, outcome, plan, procs, report, runner, servers  # noqa: E402
from duetcompare.servers import Config  # noqa: E402

# What duet-echo --stats prints at exit (core/loop_stats.cc), one line per loop; shortened.
DUET_STATS = ("stats loop=0 mode=epoll syscalls=30 sys_wait=10 sys_read=8 sys_write=8 sys_accept=2 sys_close=2 "
              "sys_control=0 sys_wakeup=0 wakeups=10 events=20 tasks=0 bytes_in=1280 bytes_out=1280 accepted=2 "
              "closed=2 sqes=0 cqes=0 enters=0 enobufs=0 events_per_wakeup=2\n")
# What the raw baselines print (bench/baselines/raw_epoll.cc): a total, no kinds.
RAW_STATS = "stats loop=raw mode=raw-epoll syscalls=12 wakeups=4 events=6 bytes_in=1280 bytes_out=1280\n"


class SyscallKindsTest(unittest.TestCase):
    def test_the_kinds_are_the_servers_own_in_its_order(self):
        stats, _ = servers.parse_stats(DUET_STATS + DUET_STATS.replace("loop=0", "loop=1"))
        self.assertEqual(servers.syscall_kinds(stats),
                         ["wait", "read", "write", "accept", "close", "control", "wakeup"])
        self.assertEqual(stats["sys_read"], 16)   # summed over the loops

    def test_a_kind_the_engine_adds_needs_no_change_here(self):
        stats, _ = servers.parse_stats(DUET_STATS.replace(" wakeups=", " sys_splice=3 wakeups="))
        self.assertEqual(servers.syscall_kinds(stats)[-1], "splice")

    def test_the_raw_baselines_count_no_kinds(self):
        self.assertEqual(servers.syscall_kinds(servers.parse_stats(RAW_STATS)[0]), [])

    def test_the_rows_kinds_leave_out_the_per_request_columns(self):
        rows = [{"config": "raw-epoll", "syscalls": 12},
                {"config": "epoll", "sys_wait": 1, "sys_wait_per_req": 0.1, "sys_read": 2},
                {"config": "uring", "sys_read": 1, "sys_write": 1}]
        self.assertEqual(outcome.counted_syscall_kinds(rows), ["wait", "read", "write"])
        self.assertEqual(outcome.counted_syscall_kinds([]), [])

    def test_the_csv_columns_keep_their_places(self):
        kinds = ["wait", "read", "write", "accept", "close", "control", "wakeup"]
        cols = report.csv_columns(kinds)
        per_req = cols.index("syscalls_per_req") + 1
        self.assertEqual(cols[per_req:per_req + 8], [f"sys_{k}_per_req" for k in kinds] + ["wakeups"])
        counts = cols.index("send_zc") + 1
        self.assertEqual(cols[counts:counts + 8], [f"sys_{k}" for k in kinds] + ["accepted"])
        self.assertEqual(len(cols), len(set(cols)))
        self.assertEqual(len(report.csv_columns([])), len(cols) - 2 * len(kinds))


def stopped_server(said=""):
    return SimpleNamespace(said=lambda: said)


class DeriveCountersTest(unittest.TestCase):
    echo = plan.Case("echo", 10, size=128)
    http = plan.Case("http", 10, path="/hello")

    def test_echo_is_counted_in_messages_echoed(self):
        stats, _ = servers.parse_stats(DUET_STATS)
        row = outcome.base_row(Config("epoll", "duet", "epoll"), self.echo, 1)
        self.assertEqual(outcome.derive_counters(row, stats, self.echo, Config("epoll", "duet", "epoll")), 10)
        self.assertEqual(row["server_requests"], 10)
        self.assertEqual(row["syscalls_per_req"], 3.0)
        self.assertEqual(row["sys_read_per_req"], 0.8)
        self.assertEqual(row["sys_read"], 8)
        self.assertEqual(row["events_per_wakeup"], 2.0)
        self.assertNotIn("sqes_per_enter", row)   # no io_uring_enter: no per-enter figures
        self.assertEqual(row["status"], "ok")

    def test_http_is_counted_in_responses_sent(self):
        row = {"status": "ok", "response_bytes": 128}
        self.assertEqual(outcome.derive_counters(row, {"bytes_out": 1280, "syscalls": 20}, self.http,
                                                 Config("epoll", "duet", "epoll")), 10)
        self.assertEqual(row["syscalls_per_req"], 2.0)

    def test_churn_is_counted_in_connections(self):
        churn = plan.Case("echo", 10, size=128, churn=True)
        row = {"status": "ok"}
        self.assertEqual(outcome.derive_counters(row, {"accepted": 7, "bytes_in": 1280, "syscalls": 70}, churn,
                                                 Config("epoll", "duet", "epoll")), 7)
        self.assertEqual(row["syscalls_per_req"], 10.0)

    def test_a_duet_server_without_stats_is_an_error(self):
        row = {"status": "ok"}
        self.assertEqual(outcome.derive_counters(row, {}, self.echo, Config("epoll", "duet", "epoll")), 0)
        self.assertEqual((row["status"], row["error"]), ("error", "the server printed no stats"))

    def test_nginx_alternating_has_only_its_storage_reads_per_request(self):
        row = {"status": "ok", "requests": 50, "storage_read_bytes": 500, "perf_syscalls": 1000}
        nginx = Config("nginx", "nginx", "/usr/sbin/nginx", workloads=("http",))
        self.assertEqual(outcome.derive_counters(row, {}, self.http, nginx), 0)
        self.assertEqual(row["storage_read_bytes_per_req"], 10.0)
        self.assertNotIn("server_requests", row)
        self.assertNotIn("perf_syscalls_per_req", row)   # the load counted only its windows, perf the whole run
        self.assertEqual(row["status"], "ok")

    def test_nginx_alone_under_the_load_is_counted_by_the_load(self):
        row = {"status": "ok", "requests": 50, "perf_syscalls": 1000}
        nginx = Config("nginx", "nginx", "/usr/sbin/nginx", workloads=("http",))
        self.assertEqual(outcome.derive_counters(row, {}, self.http, nginx, whole_run_requests=50), 50)
        self.assertEqual((row["server_requests"], row["perf_syscalls_per_req"]), (50, 20.0))

    def test_record_stop_keeps_the_mode_and_says_why_it_failed(self):
        row = {"status": "ok", "error": "", "connected": 4}
        outcome.record_stop(row, Config("uring", "duet", "uring"), self.echo, stopped_server("out of memory"),
                            ({}, "", "server exit status 1: out of memory"))
        self.assertEqual(row["mode"], "uring")   # no mode printed: the config's name
        self.assertEqual(row["error"], "stopped at 4 of 10 connections: server exit status 1: out of memory")
        row = {"status": "ok", "error": ""}
        outcome.record_stop(row, Config("uring", "duet", "uring"), self.echo, stopped_server(),
                            ({"peak_threads": 3}, "uring-defer", ""))
        self.assertEqual((row["status"], row["mode"], row["peak_threads"]), ("ok", "uring-defer", 3))


class CommunicateTest(unittest.TestCase):
    def test_output_of_a_child_that_exits(self):
        p = procs.spawn([sys.executable, "-c", "import sys; print('out'); print('err', file=sys.stderr)"],
                        stderr=subprocess.PIPE)
        self.assertEqual(procs.communicate(p, 30), ("out\n", "err\n", False))
        self.assertNotIn(p, procs._live)

    def test_a_child_past_its_deadline_is_killed(self):
        p = procs.spawn([sys.executable, "-c", "import time; print('started', flush=True); time.sleep(60)"])
        self.assertEqual(p.stdout.readline(), "started\n")   # running (however slowly it started)
        out, err, killed = procs.communicate(p, 0.5)
        self.assertTrue(killed)
        self.assertEqual((out, err), ("", ""))   # nothing more written; stderr not piped
        self.assertEqual(p.returncode, -9)
        self.assertNotIn(p, procs._live)

    def test_stop_says_it_had_to_kill(self):
        p = procs.spawn([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
                         "print('ready', flush=True); time.sleep(60)"], stderr=subprocess.PIPE)
        p.stdout.readline()   # SIGTERM ignored from here on
        out, err = procs.stop(p, timeout=0.5)
        self.assertIn("did not stop within 0.5s of SIGTERM: killed", err)

    def test_perf_count_reads_perf_stat_output(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("# started on ...\n\n123456,,raw_syscalls:sys_enter,1000,100.00,,\n")
        try:
            self.assertEqual(procs.perf_count(f.name), 123456)
        finally:
            os.unlink(f.name)
        self.assertEqual(procs.perf_count(f.name), "")   # no file: no count


class PlanItemsTest(unittest.TestCase):
    def make(self, argv, cases, hold_cases=()):
        a = plan.parser().parse_args(argv)
        configs = [Config("epoll", "duet", "epoll"), Config("raw-epoll", "raw", "epoll", workloads=("echo",))]
        return runner.make_plan(cases, list(hold_cases), configs, a)

    def test_echo_alternates_one_item_per_round(self):
        echo = plan.Case("echo", 100, size=128)
        items, skips = self.make(["--rounds", "3"], [echo])
        self.assertEqual(items, [runner.Alternating(echo, items[0].configs, rnd) for rnd in (1, 2, 3)])
        self.assertEqual([c.name for c in items[0].configs], ["epoll", "raw-epoll"])
        self.assertEqual(skips, [])

    def test_rounds_are_outermost_so_a_cases_rounds_spread_over_the_sweep(self):
        c1, c100 = plan.Case("echo", 1, size=128), plan.Case("echo", 100, size=128)
        items, _ = self.make(["--rounds", "2"], [c1, c100])
        self.assertEqual([(i.case.id, i.round) for i in items],
                         [(c1.id, 1), (c100.id, 1), (c1.id, 2), (c100.id, 2)])

    def test_wrk_runs_one_server_at_a_time_round_by_round(self):
        http = plan.Case("http", 100, path="/hello")
        items, skips = self.make(["--rounds", "2", "--http-load", "wrk"], [http])
        self.assertEqual([(type(i).__name__, i.config.name, i.round) for i in items],
                         [("Single", "epoll", 1), ("Single", "epoll", 2)])
        self.assertEqual([(c.name, why) for c, _, why in skips], [("raw-epoll", "raw-epoll does not serve http")])

    def test_holds_run_once_and_perf_adds_one_round(self):
        echo = plan.Case("echo", 100, size=128)
        hold = plan.Case("hold", 1000)
        items, skips = self.make(["--rounds", "2", "--perf"], [echo], [hold])
        self.assertEqual([(type(i).__name__, i.round) for i in items],
                         [("Alternating", 1), ("Alternating", 2), ("Single", 1), ("Alternating", "perf")])
        self.assertEqual(items[2].config.name, "epoll")
        self.assertEqual([(c.name, why) for c, _, why in skips], [("raw-epoll", "raw-epoll does not serve hold")])
        a = plan.parser().parse_args(["--rounds", "2"])
        self.assertEqual(items[2].units(a), (1, runner.expected_seconds(hold, a)))
        self.assertEqual(items[0].units(a)[0], 1)


class TurnOrderTest(unittest.TestCase):
    def test_each_round_starts_one_server_further_and_perf_keeps_the_order(self):
        self.assertEqual(alternate.turn_order(["a", "b", "c"], 1), ["a", "b", "c"])
        self.assertEqual(alternate.turn_order(["a", "b", "c"], 2), ["b", "c", "a"])
        self.assertEqual(alternate.turn_order(["a", "b", "c"], 4), ["a", "b", "c"])
        self.assertEqual(alternate.turn_order(["a", "b", "c"], "perf"), ["a", "b", "c"])
        self.assertEqual(alternate.turn_order([], 3), [])


if __name__ == "__main__":
    unittest.main()
