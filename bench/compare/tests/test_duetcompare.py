"""Unit tests for duet-compare's bookkeeping: no server, no timing.

Run: python3 -m unittest discover -s bench/compare/tests (ctest runs it too).
"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from duetcompare import alternate, loads, plan, repeat, report  # noqa: E402
from duetcompare.servers import Config  # noqa: E402
from duetcompare.summary import Summary  # noqa: E402


def row(case, config, rnd, **metrics):
    r = {"case": case, "config": config, "round": rnd, "status": "ok", "error": ""}
    r.update(metrics)
    return r


class GroupsTest(unittest.TestCase):
    def test_few_connections_alternate_all_servers_together(self):
        configs = [Config(n, "duet", n) for n in ("epoll", "poll", "select", "uring")]
        self.assertEqual(alternate.groups(configs, plan.Case("echo", 1000, size=128)), [configs])

    def test_ten_thousand_connections_split_into_groups_that_fit(self):
        configs = [Config(n, "duet", n) for n in ("epoll", "poll", "uring")]
        got = alternate.groups(configs, plan.Case("echo", 10000, size=128))
        self.assertEqual([len(g) for g in got], [1, 1, 1])
        self.assertEqual([c for g in got for c in g], configs)

    def test_groups_never_exceed_the_budget(self):
        configs = [Config(f"c{i}", "duet", "epoll") for i in range(7)]
        for conns in (1, 100, 2500, 6000, 9000):
            for g in alternate.groups(configs, plan.Case("echo", conns, size=128)):
                self.assertTrue(len(g) == 1 or len(g) * conns <= alternate.LOAD_FD_BUDGET, (conns, len(g)))


class ParseAlternateTest(unittest.TestCase):
    def line(self, port, **kw):
        base = {"mode": "echo", "port": port, "connections": 10, "messages": 1000, "msgs_per_s": 5000,
                "bytes_per_s": 640000, "p50_us": 1.0, "p90_us": 2.0, "p99_us": 3.0, "p999_us": 4.0, "max_us": 5.0,
                "errors": 0, "mismatches": 0, "connect_errors": 0, "server_cpu_s": 0.01, "load_cpu_s": 0.02,
                "slices": 4, "duration_s": 0.4}
        base.update(kw)
        return json.dumps(base)

    def test_one_result_per_port(self):
        out = "\n".join([self.line(5001), self.line(5002, messages=7, errors_reset=2, errors=2), "noise"])
        got = loads.parse_alternate(out)
        self.assertEqual(sorted(got), [5001, 5002])
        self.assertEqual(got[5001]["requests"], 1000)
        self.assertEqual(got[5001]["server_cpu_s"], 0.01)
        self.assertEqual(got[5002]["load_errors"], 2)
        self.assertIn("errors_reset=2", got[5002]["error_detail"])

    def test_http_lines_carry_the_response_size(self):
        got = loads.parse_alternate(self.line(5003, mode="http", response_bytes=145.0))
        self.assertEqual(got[5003]["response_bytes"], 145.0)

    def test_no_lines_no_results(self):
        self.assertEqual(loads.parse_alternate("duet-load: no connection could be established\n"), {})


class RatioTest(unittest.TestCase):
    def test_ratios_are_paired_within_a_round(self):
        configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]
        rows = [row("c", "epoll", 1, rps=100.0), row("c", "uring", 1, rps=120.0),
                row("c", "epoll", 2, rps=50.0), row("c", "uring", 2, rps=55.0),
                row("c", "epoll", 3, rps=80.0), row("c", "uring", 3, rps=100.0)]
        r = Summary(rows, configs, []).ratio("c", "uring", "epoll", "rps")
        self.assertEqual(sorted(round(v, 3) for v in r.values), [1.1, 1.2, 1.25])
        self.assertAlmostEqual(r.median, 1.2)


class RepeatTest(unittest.TestCase):
    def setUp(self):
        self.configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]
        self.cases = [plan.Case("echo", 100, size=128)]
        cid = self.cases[0].id
        self.before = [row(cid, "epoll", 1, rps=100.0, cpu_us_per_req=10.0),
                       row(cid, "uring", 1, rps=110.0, cpu_us_per_req=9.0)]
        self.after = [row(cid, "epoll", 1, rps=50.0, cpu_us_per_req=20.0),
                      row(cid, "uring", 1, rps=55.0, cpu_us_per_req=24.0)]

    def test_changes_are_of_ratios_not_absolutes(self):
        got = {c[2]: c for c in repeat.compare(self.before, self.after, self.configs, self.cases)}
        self.assertAlmostEqual(got["req/s ×epoll"][5], 0.0)       # 1.10 -> 1.10 although both halved
        self.assertAlmostEqual(got["CPU/req ×epoll"][5], 1.2 / 0.9 - 1)
        self.assertIn("1 of 2 ratios within 10%", repeat.summary_line(list(got.values())))

    def test_round_trip_through_results_csv(self):
        with tempfile.TemporaryDirectory() as d:
            report.write_csv(os.path.join(d, "results.csv"), self.before)
            loaded = repeat.load_rows(d)
        self.assertEqual(loaded[0]["round"], 1)
        self.assertEqual(loaded[1]["cpu_us_per_req"], 9.0)
        got = repeat.compare(loaded, self.before, self.configs, self.cases)
        self.assertTrue(all(abs(c[5]) < 1e-9 for c in got))


class PlanTest(unittest.TestCase):
    def test_default_sweep_is_the_issues_list(self):
        a = plan.parser().parse_args([])
        cases, hold = plan.make_cases(a)
        ids = [c.id for c in cases]
        for want in ("echo c1 s128", "echo c100 s128", "echo c1000 s128", "echo c1 s16384", "echo c100 s16384",
                     "echo c1000 s16384", "echo c100 s1024 k16", "http/hello c100", "http/hello c1000"):
            self.assertIn(want, ids)
        self.assertEqual(hold[0].connections, 10000)

    def test_select_is_skipped_where_its_limit_does_not_allow(self):
        sel = Config("select", "duet", "select")
        self.assertIsNone(sel.skip_reason(plan.Case("echo", 100, size=128)))
        self.assertIsNone(sel.skip_reason(plan.Case("echo", 1000, size=128)))   # 1,000 + its own fds fit
        self.assertIn("FD_SETSIZE", sel.skip_reason(plan.Case("echo", 2000, size=128)))


if __name__ == "__main__":
    unittest.main()
