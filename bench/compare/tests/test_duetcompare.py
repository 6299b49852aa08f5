"""Unit tests for duet-compare's bookkeeping: no server, no timing.

Run: python3 -m unittest discover -s bench/compare/tests (ctest runs it too).
"""
import argparse
import dataclasses
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from duetcompare import alternate, beside, latency, loads, models, outcome, pagecache, plan, repeat, report, runner, servers, suites, variants, verdict  # noqa: E402
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
        line = repeat.summary_line(list(got.values()))
        self.assertIn("1 of 2 ratios within 10%", line)
        self.assertIn("(req/s ×epoll 1 of 1, CPU/req ×epoll 0 of 1)", line)

    def test_every_ratio_says_whether_the_second_run_agrees_within_10_percent(self):
        cid = self.cases[0].id
        enough = dict(requests=10 ** 6)   # 10,000 cycles of 100 connections: the p99s count
        before = [row(cid, "epoll", 1, rps=100.0, cpu_us_per_req=10.0, p99_us=100.0, **enough),
                  row(cid, "uring", 1, rps=110.0, cpu_us_per_req=9.0, p99_us=80.0, **enough)]
        after = [row(cid, "epoll", 1, rps=100.0, cpu_us_per_req=10.0, p99_us=100.0, **enough),
                 row(cid, "uring", 1, rps=120.0, cpu_us_per_req=9.8, p99_us=80.0, **enough)]
        got = {t[2]: t for t in repeat.table(repeat.compare(before, after, self.configs, self.cases))}
        self.assertEqual(sorted(got), ["CPU/req ×epoll", "p99 ×epoll", "req/s ×epoll"])
        self.assertEqual(got["req/s ×epoll"][5:], ["+9.1%", "yes"])      # 1.10 -> 1.20
        self.assertEqual(got["CPU/req ×epoll"][5:], ["+8.9%", "yes"])    # 0.90 -> 0.98
        self.assertEqual(got["p99 ×epoll"][5:], ["+0.0%", "yes"])
        after[1]["cpu_us_per_req"] = 10.0                                  # 0.90 -> 1.00: +11%
        got = {t[2]: t for t in repeat.table(repeat.compare(before, after, self.configs, self.cases))}
        self.assertEqual(got["CPU/req ×epoll"][6], "**no**")

    def test_round_trip_through_results_csv(self):
        with tempfile.TemporaryDirectory() as d:
            report.write_csv(os.path.join(d, "results.csv"), self.before)
            loaded = repeat.load_rows(d)
        self.assertEqual(loaded[0]["round"], 1)
        self.assertEqual(loaded[1]["cpu_us_per_req"], 9.0)
        got = repeat.compare(loaded, self.before, self.configs, self.cases)
        self.assertTrue(all(abs(c[5]) < 1e-9 for c in got))


class PlanTest(unittest.TestCase):
    def test_select_is_skipped_where_its_limit_does_not_allow(self):
        sel = Config("select", "duet", "select")
        self.assertIsNone(sel.skip_reason(plan.Case("echo", 100, size=128)))
        self.assertIsNone(sel.skip_reason(plan.Case("echo", 1000, size=128)))   # 1,000 + its own fds fit
        self.assertIn("FD_SETSIZE", sel.skip_reason(plan.Case("echo", 2000, size=128)))


def case_ids(argv):
    a = plan.parser().parse_args(argv)
    if a.quick:
        plan.apply_quick(a)
    cases, hold = plan.make_cases(a)
    return [c.id for c in cases], hold


class SuiteTest(unittest.TestCase):
    # One case per regime the issue names, at a modest size: what the default suite must cover.
    REGIMES = ("echo c1 s128", "echo c100 s128", "echo c1000 s128", "echo c100 s16384", "echo c10 s262144",
               "echo c100 s1024 k16", "http/hello c100", "http/hello c1000", "http/hello c100 k16",
               "churn echo c100 s128", "churn http/hello c100")

    def test_default_covers_every_regime_once_and_not_10000_connections(self):
        ids, hold = case_ids([])
        self.assertEqual(ids, list(self.REGIMES))
        self.assertEqual(hold[0].connections, 10000)      # RSS per idle connection stays

    def test_full_holds_the_default_and_every_size(self):
        ids, hold = case_ids(["--suite", "full"])
        self.assertLessEqual(set(self.REGIMES), set(ids))
        for want in ("echo c10000 s128", "http/hello c10000", "echo c1 s262144", "echo c100 s262144",
                     "echo c1000 s16384", "echo c100 s16384 k16", "http/hello c1000 k16", "churn echo c10 s128",
                     "churn http/hello c10"):
            self.assertIn(want, ids)
        self.assertEqual(len(ids), len(set(ids)))
        self.assertEqual(hold[0].connections, 10000)

    def test_case_options_replace_only_their_group(self):
        ids, _ = case_ids(["--connections", "10,20", "--sizes", "64"])
        self.assertEqual([i for i in ids if i.startswith("echo") and " k" not in i], ["echo c10 s64", "echo c20 s64"])
        self.assertIn("http/hello c100 k16", ids)          # the other groups stay the suite's
        self.assertIn("churn echo c100 s128", ids)
        ids, _ = case_ids(["--stream", "off", "--http-connections", ""])
        self.assertFalse([i for i in ids if i.startswith("echo") and " k" in i])
        self.assertNotIn("http/hello c100", ids)

    def test_only_picks_groups_and_rejects_unknown_ones(self):
        ids, hold = case_ids(["--only", "pipeline,churn"])
        self.assertEqual(ids, ["http/hello c100 k16", "churn echo c100 s128", "churn http/hello c100"])
        self.assertEqual(hold, [])
        with self.assertRaises(SystemExit):
            case_ids(["--only", "pipelines"])

    def test_quick_runs_one_small_case_per_group(self):
        ids, hold = case_ids(["--quick"])
        self.assertEqual(ids, ["echo c100 s128", "echo c10 s128 k4", "http/hello c100", "http/hello c10 k4",
                               "churn echo c10 s128", "churn http/hello c10"])
        self.assertEqual(hold[0].connections, 1000)


# What a server's --help shows once the switches exist (CLI11 prints the default after '=').
HELP_ALL = """
  --backend TEXT=epoll        I/O backend: epoll|poll|select|uring
  --threads INT:INT in [0 - 256]=0
  --accept TEXT=main          with --threads: main (one acceptor hands out) or reuseport
  --gather-writes TEXT=on     reactor: one write for a read's output
  --recv-bundle TEXT=off      uring: recv bundles (6.10)
  --buffer-ring-inc TEXT=off  uring: incremental buffer ring (6.12)
  --adaptive-recv TEXT=on     uring: adaptive receive
  --vectored-send TEXT=on     uring: vectored send
  --register-ring-fd TEXT=off uring: registered ring fd
  --no-iowait TEXT=on         uring: NO_IOWAIT waits (6.15)
  --direct-fds TEXT=off       uring: direct descriptors
  --msgring-handoff TEXT=off  uring: MSG_RING handoff
"""


def configs_for(argv, help_text):
    a = plan.parser().parse_args(argv + ["--no-nginx"])
    return plan.make_configs(a, help_text)


class VariantTest(unittest.TestCase):
    def test_a_variant_is_the_duet_app_with_those_flags(self):
        v = variants.parse("uring-bundle=--backend uring --recv-bundle on")
        self.assertEqual((v.name, v.kind, v.backend, v.args, v.variant),
                         ("uring-bundle", "duet", "uring", ["--recv-bundle", "on"], True))
        cmd = servers.command(v, plan.Case("echo", 100, size=128), "/b", "0", None)
        self.assertEqual(cmd[cmd.index("--backend") + 1], "uring")
        self.assertEqual(cmd[-2:], ["--recv-bundle", "on"])
        self.assertEqual(variants.parse("et=--edge-triggered").backend, "epoll")    # the server's default
        self.assertEqual(variants.parse("u=--backend=uring --no-iowait off").backend, "uring")

    def test_malformed_variants_are_refused(self):
        for bad in ("--backend uring", "=--backend uring", "a b=--backend uring", "x=--backend kqueue",
                    "x=--recv-bundle 'on"):
            with self.assertRaises(argparse.ArgumentTypeError, msg=bad):
                variants.parse(bad)

    def test_variants_repeat_and_become_columns(self):
        configs, notes = configs_for(["--variant", "uring-bundle=--backend uring --recv-bundle on",
                                      "--variant", "epoll-nogather=--gather-writes off"], HELP_ALL)
        names = [c.name for c in configs]
        self.assertEqual(names[0], "epoll")
        self.assertEqual(names[-2:], ["uring-bundle", "epoll-nogather"])
        self.assertEqual(notes, [])

    def test_a_flag_the_server_does_not_know_skips_the_variant_with_a_note(self):
        old_help = "\n".join(l for l in HELP_ALL.splitlines() if "--recv-bundle" not in l)
        configs, notes = configs_for(["--variant", "uring-bundle=--backend uring --recv-bundle on",
                                      "--variant", "uring-regfd=--backend uring --register-ring-fd on"], old_help)
        names = [c.name for c in configs]
        self.assertNotIn("uring-bundle", names)
        self.assertIn("uring-regfd", names)
        self.assertEqual(len(notes), 1)
        self.assertIn("uring-bundle", notes[0])
        self.assertIn("--recv-bundle", notes[0])

    def test_without_a_server_to_ask_variants_are_kept_with_a_note(self):
        configs, notes = configs_for(["--variant", "uring-bundle=--backend uring --recv-bundle on"], "")
        self.assertIn("uring-bundle", [c.name for c in configs])
        self.assertIn("not checked", notes[0])

    def test_a_variant_may_not_take_an_existing_name(self):
        with self.assertRaises(SystemExit):
            configs_for(["--variant", "uring=--backend uring --recv-bundle on"], HELP_ALL)

    def test_full_suite_flips_every_switch_from_the_default_help_shows(self):
        configs, notes = configs_for(["--suite", "full"], HELP_ALL)
        got = {c.name: c.args for c in configs if c.variant}
        self.assertEqual(got, {
            "epoll-nogather": ["--gather-writes", "off"], "uring-bundle": ["--recv-bundle", "on"],
            "uring-inc": ["--buffer-ring-inc", "on"], "uring-noadaptive": ["--adaptive-recv", "off"],
            "uring-novsend": ["--vectored-send", "off"], "uring-regfd": ["--register-ring-fd", "on"],
            "uring-iowait": ["--no-iowait", "off"], "uring-direct": ["--direct-fds", "on"],
            "uring-handoff": ["--msgring-handoff", "on", "--threads", "1", "--accept", "main"]})
        self.assertEqual(notes, [])
        self.assertEqual({c.backend for c in configs if c.name == "epoll-nogather"}, {"epoll"})

    def test_default_suite_adds_no_switch_variants(self):
        configs, _ = configs_for([], HELP_ALL)
        self.assertFalse([c for c in configs if c.variant])

    def test_full_suite_on_an_older_server_skips_every_switch_with_a_note(self):
        configs, notes = configs_for(["--suite", "full"], "  --backend TEXT=epoll\n")
        self.assertFalse([c for c in configs if c.variant])
        self.assertEqual(len(notes), len(suites.SWITCHES))

    def test_auto_flips_to_off_and_a_hidden_default_runs_both_ways(self):
        text = HELP_ALL.replace("--no-iowait TEXT=on ", "--no-iowait TEXT=auto").replace(
            "--recv-bundle TEXT=off", "--recv-bundle TEXT    ")
        configs, notes = configs_for(["--suite", "full"], text)
        got = {c.name: c.args for c in configs if c.variant}
        self.assertEqual(got["uring-iowait"], ["--no-iowait", "off"])
        self.assertEqual((got["uring-bundle"], got["uring-nobundle"]), (["--recv-bundle", "on"], ["--recv-bundle", "off"]))
        self.assertEqual(len(notes), 1)
        self.assertIn("--recv-bundle", notes[0])

    def test_defaults_are_read_from_help(self):
        self.assertEqual(variants.default_of(HELP_ALL, "--no-iowait"), "on")
        self.assertEqual(variants.default_of(HELP_ALL, "--recv-bundle"), "off")
        self.assertIsNone(variants.default_of(HELP_ALL, "--sqpoll"))
        self.assertFalse(variants.knows(HELP_ALL, "--recv"))              # a prefix is not the flag


class LoadCommandTest(unittest.TestCase):
    class S:
        def __init__(self, port):
            self.port, self.pid = port, port + 1

    def cmd(self, case, per_slice=False):
        a = plan.parser().parse_args([])
        return loads.alternate_command("/b", "1", "0", [self.S(5001), self.S(6001)], case, a, per_slice)

    def test_churn_and_pipelining_and_connect_per_slice(self):
        churn = self.cmd(suites.churn_http(100))
        self.assertIn("--churn", churn)
        self.assertEqual(churn[churn.index("--http") + 1], "/hello")
        piped = self.cmd(suites.http(100, 16))
        self.assertEqual(piped[piped.index("-k") + 1], "16")
        self.assertNotIn("--churn", piped)
        self.assertNotIn("--connect-per-slice", piped)
        self.assertIn("--connect-per-slice", self.cmd(suites.echo(10000, 128), per_slice=True))

    def test_10000_connections_get_slices_long_enough_for_a_round_trip(self):
        many = self.cmd(suites.echo(10000, 128), per_slice=True)
        self.assertEqual([many[many.index(f) + 1] for f in ("--slice", "-d")], ["1", "1"])
        few = self.cmd(suites.echo(1000, 128))
        self.assertEqual([few[few.index(f) + 1] for f in ("--slice", "-d")], ["0.25", "0.5"])

    def test_churn_lines_count_connections(self):
        line = json.dumps({"mode": "echo-churn", "port": 5001, "connections_made": 4000, "connections_per_s": 16000.0,
                           "messages": 4000, "msgs_per_s": 16000.0, "p50_us": 50.0, "p99_us": 90.0, "errors": 0,
                           "server_cpu_s": 0.1, "load_cpu_s": 0.1})
        got = loads.parse_alternate(line)[5001]
        self.assertEqual((got["requests"], got["rps"], got["p99_us"]), (4000, 16000.0, 90.0))

    def test_connect_per_slice_puts_every_server_in_one_group(self):
        configs = [Config(n, "duet", n) for n in ("epoll", "poll", "uring")]
        case = plan.Case("echo", 10000, size=128)
        self.assertEqual(alternate.groups(configs, case, per_slice=True), [configs])


def verdict_rows(ratios_cpu, ratios_p99=None, case_id="echo c100 s128"):
    """Synthetic rows whose per-round uring/epoll ratios are the given ones (epoll at 10 µs and 100 µs)."""
    rows = []
    for rnd, r in enumerate(ratios_cpu, 1):
        p = (ratios_p99 or ratios_cpu)[rnd - 1]
        rows += [row(case_id, "epoll", rnd, cpu_us_per_req=10.0, p99_us=100.0, requests=10 ** 6),
                 row(case_id, "uring", rnd, cpu_us_per_req=10.0 * r, p99_us=100.0 * p, requests=10 ** 6)]
    return rows


class VerdictTest(unittest.TestCase):
    configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]

    def vrows(self, cpu, p99=None, cases=None):
        cases = cases or [plan.Case("echo", 100, size=128)]
        rows = []
        for c in cases:
            rows += verdict_rows(cpu, p99, c.id)
        return verdict.rows(Summary(rows, self.configs, cases), cases, self.configs)

    def test_uring_wins_when_every_round_says_so(self):
        r = self.vrows([0.80, 0.85, 0.90, 0.84])[0]
        self.assertEqual(r.cpu.winner, "uring")
        self.assertAlmostEqual(r.cpu.factor, 1 / 0.845)
        self.assertEqual(r.cpu.words, "**uring** by 1.18×")
        self.assertEqual(r.cpu.ratio_text, "0.84× [0.80–0.90]")

    def test_epoll_wins_when_every_round_says_so(self):
        r = self.vrows([1.10, 1.30, 1.20])[0]
        self.assertEqual((r.cpu.winner, r.cpu.words), ("epoll", "**epoll** by 1.20×"))

    def test_a_range_straddling_one_is_too_close_to_call_whatever_the_median(self):
        for ratios in ([0.80, 0.85, 1.01], [0.99, 1.20, 1.30], [1.0, 1.0], [0.9, 1.0]):
            r = self.vrows(ratios)[0]
            self.assertEqual((r.cpu.winner, r.cpu.words), ("", "too close to call"), ratios)

    def test_a_bound_just_below_one_shows_why_the_call_was_made(self):
        r = self.vrows([0.80, 0.90, 0.998])[0]
        self.assertEqual(r.cpu.winner, "uring")
        self.assertEqual(r.cpu.ratio_text, "0.90× [0.80–0.998]")

    def test_cpu_and_p99_are_called_separately(self):
        r = self.vrows([0.8, 0.9], p99=[0.95, 1.05])[0]
        self.assertEqual(r.cpu.winner, "uring")
        self.assertEqual(r.p99.words, "too close to call")

    def test_one_round_says_it_has_no_spread(self):
        self.assertEqual(self.vrows([0.5])[0].cpu.words, "**uring** by 2.00× (1 round: no spread)")

    def test_section_tallies_and_names_every_regime(self):
        cases = [plan.Case("echo", 100, size=128), suites.http(100, 16), suites.churn_echo(100)]
        rows = verdict_rows([0.8, 0.9], None, cases[0].id) + verdict_rows([1.1, 1.2], None, cases[1].id) + \
            verdict_rows([0.9, 1.1], None, cases[2].id)
        vr = verdict.rows(Summary(rows, self.configs, cases), cases, self.configs)
        md = verdict.markdown(vr, chart="verdict_cpu_ratio")
        self.assertTrue(md.startswith("## Verdict"))
        self.assertIn("CPU per request: uring wins 1, epoll wins 1, 1 too close to call", md)
        self.assertIn("HTTP /hello pipelined 16 deep, 100 connections", md)
        self.assertIn("churn (connect, one request, close): echo 128 B, 100 at a time", md)
        self.assertIn("verdict_cpu_ratio.svg", md)

    def test_no_verdict_without_both_models(self):
        cases = [plan.Case("echo", 100, size=128)]
        rows = [r for r in verdict_rows([0.8]) if r["config"] == "epoll"]
        self.assertEqual(verdict.rows(Summary(rows, self.configs, cases), cases, self.configs), [])
        self.assertIn("no verdict", verdict.markdown([]))

    def test_chart_data_has_median_min_max_per_regime(self):
        cases = [plan.Case("echo", 100, size=128), plan.Case("echo", 1, size=128)]
        rows = verdict_rows([0.8, 0.9, 1.0], None, cases[0].id) + verdict_rows([1.5], None, cases[1].id)
        vr = verdict.rows(Summary(rows, self.configs, cases), cases, self.configs)
        lines = verdict.chart_data(vr).splitlines()
        self.assertTrue(lines[0].startswith("#"))
        self.assertEqual(lines[1:], ['0 "echo c100 s128" 0.9 0.8 1', '1 "echo c1 s128" 1.5 1.5 1.5'])


class ReportTest(unittest.TestCase):
    INFO = {k: "x" for k in ("cpu", "cpus", "memory", "distro", "kernel", "io_uring_disabled", "liburing",
                             "compiler", "wrk", "nofile", "git")}

    def write(self, argv):
        configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]
        cases = [plan.Case("echo", 100, size=128)]
        rows = verdict_rows([0.8, 0.9])
        ctx = runner.Context(plan.parser().parse_args(argv), "/b")
        vr = verdict.rows(Summary(rows, configs, cases), cases, configs)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "report.md")
            report.write_markdown(path, ctx, self.INFO, rows, cases, [], configs, [], 60, ["duet-compare"], [],
                                  False, verdict_md=verdict.markdown(vr))
            with open(path) as f:
                return f.read()

    def test_variants_are_compared_with_their_backends_default(self):
        configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring"),
                   variants.parse("uring-bundle=--backend uring --recv-bundle on")]
        cases = [plan.Case("echo", 100, size=128)]
        rows = verdict_rows([0.8, 0.9]) + [row(cases[0].id, "uring-bundle", 1, cpu_us_per_req=4.0, p99_us=80.0),
                                           row(cases[0].id, "uring-bundle", 2, cpu_us_per_req=4.5, p99_us=90.0)]
        md = "\n".join(report.variant_tables(Summary(rows, configs, cases), cases, configs))
        self.assertIn("| case | uring-bundle / uring |", md)
        self.assertIn("| echo c100 s128 | 0.50× [0.50–0.50] |", md)     # 4.0/8.0 and 4.5/9.0
        self.assertEqual(report.variant_tables(Summary(rows, configs[:2], cases), cases, configs[:2]), [])

    def test_the_verdict_opens_the_report_and_the_targets_wait_for_the_option(self):
        md = self.write([])
        self.assertLess(md.index("## Verdict"), md.index("## Machine and method"))
        self.assertNotIn("## Targets", md)
        self.assertIn("## Targets", self.write(["--targets"]))


if __name__ == "__main__":
    unittest.main()


def hist(**buckets):
    """latency_hist text from {"v<ns>": count}: hist(v1000=99, v9000=1) -> "1000:99 9000:1"."""
    return " ".join(f"{k[1:]}:{v}" for k, v in buckets.items())


class LatencyPoolingTest(unittest.TestCase):
    """p99 over every round of a server: the histograms added, and whether enough samples back it."""

    def test_pooled_p99_is_the_p99_of_all_samples_not_the_median_of_per_round_p99s(self):
        case = plan.Case("echo", 1, size=128)
        # Round 1: 2% slow (its p99 is slow); rounds 2 and 3: 0.5% slow (their p99s are fast).
        rows = [row(case.id, "epoll", 1, p99_us=9.0, latency_samples=10000, latency_hist=hist(v1000=9800, v9000=200)),
                row(case.id, "epoll", 2, p99_us=1.0, latency_samples=10000, latency_hist=hist(v1000=9950, v9000=50)),
                row(case.id, "epoll", 3, p99_us=1.0, latency_samples=10000, latency_hist=hist(v1000=9950, v9000=50))]
        p = latency.p99(rows, case)
        # 300 slow of 30,000 is exactly 1%: rank 29,700 is still fast. The median of the three p99s says 1 µs too,
        # but add one slow sample and only the pooled p99 moves.
        self.assertEqual((p.value_us, p.samples, p.pooled), (1.0, 30000, True))
        rows[1]["latency_hist"] = hist(v1000=9949, v9000=51)
        self.assertEqual(latency.p99(rows, case).value_us, 9.0)

    def test_quantile_uses_duet_loads_rank_rule(self):
        h = latency.parse("100:50 200:49 300:1")
        self.assertEqual(latency.quantile(h, 0.99), 200.0)    # rank ceil(99) = 99: the last of the 200s
        self.assertEqual(latency.quantile(h, 0.999), 300.0)
        self.assertEqual(latency.quantile(h, 0.5), 100.0)
        self.assertTrue(latency.quantile({}, 0.99) != latency.quantile({}, 0.99))   # nan

    def test_pooling_adds_bucket_counts(self):
        self.assertEqual(latency.pool([latency.parse("5:1 7:2"), latency.parse("7:3 9:1")]), {5: 1, 7: 5, 9: 1})
        self.assertEqual(latency.parse(""), {})
        self.assertEqual(latency.parse(None), {})

    def test_samples_count_in_load_cycles_so_many_connections_need_many_more(self):
        one = plan.Case("echo", 1, size=128)
        thousand = plan.Case("echo", 1000, size=128)
        deep = plan.Case("echo", 100, size=1024, inflight=16)
        h = hist(v1000=89000, v2000=1000)
        rows1 = [row(one.id, "epoll", r, p99_us=1.0, latency_samples=30000, latency_hist=h) for r in (1, 2, 3)]
        rows1000 = [row(thousand.id, "epoll", r, p99_us=1.0, latency_samples=90000, latency_hist=h) for r in (1, 2, 3, 4)]
        self.assertTrue(latency.p99(rows1, one).enough)             # 90,000 cycles: 900 beyond the p99
        p = latency.p99(rows1000, thousand)                         # 360,000 samples, 360 cycles: 3.6 beyond it
        self.assertFalse(p.enough)
        self.assertEqual(p.describe(), "360k samples, 360 cycles")
        self.assertEqual(latency.in_flight(deep), 1600)
        self.assertEqual(latency.in_flight(suites.churn_echo(100)), 100)

    def test_enough_is_a_thousand_cycles(self):
        case = plan.Case("echo", 10, size=262144)
        at = [row(case.id, "epoll", 1, p99_us=1.0, latency_samples=10000, latency_hist=hist(v5=10000))]
        self.assertTrue(latency.p99(at, case).enough)
        at[0]["latency_samples"] = 9990
        self.assertFalse(latency.p99(at, case).enough)

    def test_an_older_results_csv_without_histograms_gives_the_median_of_per_round_p99s(self):
        case = plan.Case("echo", 1, size=128)
        rows = [row(case.id, "epoll", r, p99_us=v, requests=5000) for r, v in ((1, 80.0), (2, 90.0), (3, 300.0))]
        p = latency.p99(rows, case)
        self.assertEqual((p.value_us, p.samples, p.pooled, p.enough), (90.0, 15000, False, True))

    def test_failed_rounds_are_left_out(self):
        case = plan.Case("echo", 1, size=128)
        rows = [row(case.id, "epoll", 1, p99_us=80.0, latency_samples=5000, latency_hist=hist(v80000=5000)),
                dict(row(case.id, "epoll", 2, p99_us=900.0, latency_samples=5000, latency_hist=hist(v900000=5000)),
                     status="error")]
        self.assertEqual((latency.p99(rows, case).value_us, latency.p99(rows, case).samples), (80.0, 5000))

    def test_duet_load_lines_carry_samples_and_buckets(self):
        line = json.dumps({"mode": "echo", "port": 5001, "messages": 3, "latency_samples": 3, "min_us": 1.0,
                           "latency_hist": "1000:2 3000:1", "p99_us": 3.0, "duration_s": 0.5})
        got = loads.parse_alternate(line)[5001]
        self.assertEqual((got["latency_samples"], got["latency_hist"]), (3, "1000:2 3000:1"))

    def test_histograms_survive_results_csv(self):
        case = plan.Case("echo", 1, size=128)
        rows = [row(case.id, "epoll", 1, p99_us=3.0, latency_samples=3, latency_hist="3000:3"),
                row(case.id, "uring", 1, p99_us=3.0, latency_samples=3, latency_hist="1000:2 3000:1")]
        with tempfile.TemporaryDirectory() as d:
            report.write_csv(os.path.join(d, "results.csv"), rows)
            with open(os.path.join(d, "results.csv")) as f:
                self.assertNotIn("latency_hist", f.read())   # kept beside it: results.csv stays small
            self.assertTrue(os.path.exists(os.path.join(d, report.HIST_FILE)))
            loaded = repeat.load_rows(d)
        self.assertEqual([r["latency_hist"] for r in loaded], ["3000:3", "1000:2 3000:1"])


class P99AgreementTest(unittest.TestCase):
    """--compare-with and the verdict on p99: pooled ratios, and no call without enough samples."""
    configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]

    def rows(self, case, epoll_hist, uring_hist, samples, rounds=(1, 2)):
        out = []
        for r in rounds:
            out += [row(case.id, "epoll", r, rps=100.0, cpu_us_per_req=10.0, p99_us=1.0, latency_samples=samples,
                        latency_hist=epoll_hist),
                    row(case.id, "uring", r, rps=100.0, cpu_us_per_req=9.0, p99_us=1.0, latency_samples=samples,
                        latency_hist=uring_hist)]
        return out

    def test_p99_without_enough_samples_is_listed_but_not_counted(self):
        case = plan.Case("echo", 1000, size=128)
        before = self.rows(case, hist(v1000000=99, v30000000=1), hist(v1000000=99, v8000000=1), 90000)
        after = self.rows(case, hist(v1000000=99, v8000000=1), hist(v1000000=99, v30000000=1), 90000)
        changes = repeat.compare(before, after, self.configs, [case])
        p99 = [c for c in changes if c[2] == "p99 ×epoll"]
        self.assertEqual(len(p99), 1)
        self.assertIsNone(p99[0][5])
        self.assertFalse(repeat.agrees(p99[0]))
        line = repeat.summary_line(changes)
        self.assertIn("2 of 2 ratios within 10%", line)                      # req/s and CPU only
        self.assertIn("p99 ×epoll 0 of 0 (and 1 with not enough samples)", line)
        self.assertEqual(repeat.table(changes)[-1][2:], ["p99 ×epoll", "–", "–", "–", "not enough samples"])

    def test_p99_with_enough_samples_compares_pooled_ratios(self):
        case = plan.Case("echo", 1, size=128)
        before = self.rows(case, hist(v100000=99, v200000=1), hist(v100000=99, v180000=1), 5000)
        after = self.rows(case, hist(v100000=99, v200000=1), hist(v100000=99, v190000=1), 5000)
        p99 = [c for c in repeat.compare(before, after, self.configs, [case]) if c[2] == "p99 ×epoll"][0]
        self.assertAlmostEqual(p99[3], 1.0)    # rank ceil(0.99 * 200) = 198: both p99s are 100 µs
        self.assertAlmostEqual(p99[4], 1.0)

    def test_agreement_is_symmetric(self):
        def change(a, b):
            return ("c", "uring", "CPU/req ×epoll", a, b, b / a - 1)
        self.assertEqual(repeat.agrees(change(1.00, 0.91)), repeat.agrees(change(0.91, 1.00)))
        self.assertTrue(repeat.agrees(change(1.00, 1.10)))
        self.assertTrue(repeat.agrees(change(1.10, 1.00)))
        self.assertFalse(repeat.agrees(change(1.00, 0.90)))   # 1/0.9 = 1.11: was "-10.0%, yes"
        self.assertFalse(repeat.agrees(change(0.90, 1.00)))

    def test_verdict_has_no_p99_call_without_enough_samples(self):
        case = plan.Case("echo", 1000, size=128)
        rows = self.rows(case, hist(v1000000=99, v30000000=1), hist(v1000000=99, v8000000=1), 90000)
        rows[1]["p99_us"] = rows[3]["p99_us"] = 0.5
        r = verdict.rows(Summary(rows, self.configs, [case]), [case], self.configs)[0]
        self.assertEqual(r.cpu.winner, "uring")
        self.assertEqual(r.p99.winner, "")
        self.assertTrue(r.p99.words.startswith("not enough samples (uring 180k samples, 180 cycles; epoll "), r.p99.words)
        self.assertEqual(r.p99.ratio_text, "–")
        self.assertIn("p99 latency: uring wins 0, epoll wins 0, 0 too close to call, 1 with not enough samples",
                      verdict.headline([r]))

    def test_verdict_calls_p99_on_the_pooled_ratio(self):
        case = plan.Case("echo", 1, size=128)
        rows = self.rows(case, hist(v200000=100), hist(v100000=100), 5000)
        for r in rows:
            r["p99_us"] = 200.0 if r["config"] == "epoll" else 100.0
        p = verdict.rows(Summary(rows, self.configs, [case]), [case], self.configs)[0].p99
        self.assertEqual((p.winner, p.words, p.ratio_text), ("uring", "**uring** by 2.00×", "0.50× [0.50–0.50]"))

    def test_case_table_marks_a_p99_with_few_samples(self):
        case = plan.Case("echo", 1000, size=128)
        rows = self.rows(case, hist(v1000000=100), hist(v1000000=100), 90000)
        text = report.case_table(Summary(rows, self.configs, [case]), case, self.configs, markdown=True)
        self.assertIn("*few samples* (1,000)", text)
        self.assertIn("180k samples, 180 cycles", text)


ECHO_HELP_CORO = "  --backend TEXT\n  --api TEXT=callbacks  callbacks|coroutines\n"
THREAD_HELP = "  --port INT\n  --stats  print counters\n"


def models_args(suite="models"):
    a = plan.parser().parse_args(["--suite", suite, "--no-nginx"])
    return a


class ModelsTest(unittest.TestCase):
    """The models dimension: who joins, with which flags, and what the report says when one cannot."""

    def test_models_suite_cases(self):
        groups, hold = suites.cases("models")
        ids = [c.id for g in groups.values() for c in g]
        self.assertEqual(sorted(ids), sorted(["echo c1 s128", "echo c100 s128", "echo c1000 s128",
                                              "echo c10000 s128", "http/hello c100",
                                              "http/file-4k.bin c100 cold", "http/file-4k.bin c100 warm",
                                              "http/file-1m.bin c10 cold", "http/file-1m.bin c10 warm",
                                              "http/hello c4 beside/file-1m.bin c2 cold",
                                              "http/hello c4 beside/file-1m.bin c2 warm"]))
        self.assertEqual(hold, 10000)
        full = [c.id for g in suites.cases("full")[0].values() for c in g]
        self.assertIn("http/file-1m.bin c10 cold", full)
        self.assertTrue(suites.wants_models("full") and suites.wants_models("models"))
        self.assertFalse(suites.wants_models("default"))

    def test_models_suite_defaults_to_epoll_and_uring(self):
        configs, _ = plan.make_configs(models_args(), "", {})
        self.assertEqual([c.name for c in configs], ["epoll", "uring"])
        self.assertEqual([c.model for c in configs], ["callbacks", "callbacks"])

    def test_a_build_without_coroutines_or_threads_runs_callbacks_with_notes(self):
        configs, notes = plan.make_configs(models_args(), "", {"echo": "  --backend TEXT\n",
                                                             "http": "  --backend TEXT\n"})
        self.assertEqual([c.name for c in configs], ["epoll", "uring"])
        self.assertEqual(configs[0].per_app, {})   # no --api flag to pass
        self.assertEqual(len(notes), 3)
        self.assertIn("no `--api coroutines`", notes[0])
        self.assertIn("duet-thread-echo and duet-thread-http not built", notes[1])
        self.assertIn("duet-http has no --file-io", notes[2])

    def test_every_model_joins_when_the_build_has_it(self):
        found = {"echo": ECHO_HELP_CORO, "http": ECHO_HELP_CORO, "thread-echo": THREAD_HELP,
                 "thread-http": "  --port INT\n"}
        configs, notes = plan.make_configs(models_args(), "", found)
        self.assertEqual([c.name for c in configs], ["epoll", "uring", "epoll-coro", "uring-coro", "thread"])
        self.assertEqual([c.model for c in configs], ["callbacks"] * 2 + ["coroutines"] * 2 + ["threads"])
        self.assertEqual(notes[0], "thread per connection: duet-thread-http has no --root: it sits out the static "
                                   "file cases")
        self.assertIn("duet-http has no --file-io", notes[1])
        epoll, coro, thread = configs[0], configs[3], configs[4]
        echo = plan.Case("echo", 100, size=128)
        self.assertEqual(servers.command(epoll, echo, "B", "0", None)[-2:], ["--api", "callbacks"])
        self.assertEqual(servers.command(coro, echo, "B", "0", None)[4:6], ["--backend", "uring"])
        self.assertEqual(servers.command(coro, echo, "B", "0", None)[-2:], ["--api", "coroutines"])
        self.assertEqual(servers.command(thread, echo, "B", "0", None),
                         ["taskset", "-c", "0", "B/bench/baselines/duet-thread-echo", "--port", "0", "--stats"])
        self.assertEqual(servers.command(thread, suites.http(100), "B", "0", None),
                         ["taskset", "-c", "0", "B/bench/baselines/duet-thread-http", "--port", "0"])
        static = dataclasses.replace(suites.static(100, 4096, "cold"), root="/var/tmp/w")
        self.assertIn("serves no static files", thread.skip_reason(static))
        self.assertIsNone(coro.skip_reason(static))
        self.assertEqual(servers.command(coro, static, "B", "0", None)[-4:],
                         ["--api", "coroutines", "--root", "/var/tmp/w"])
        self.assertEqual(models.label(thread), "thread per connection")
        self.assertEqual(models.label(coro), "coroutines on uring")

    def test_coroutines_on_one_app_only_run_that_app(self):
        found = {"echo": ECHO_HELP_CORO, "http": "  --backend TEXT\n"}
        configs, notes = plan.make_configs(models_args(), "", found)
        coro = [c for c in configs if c.model == "coroutines"]
        self.assertEqual([c.workloads for c in coro], [("echo", "hold"), ("echo", "hold")])
        self.assertIn("does not serve http", coro[0].skip_reason(suites.http(100)))
        self.assertIn("duet-http has no `--api coroutines`", notes[0])
        self.assertEqual(configs[0].per_app, {"echo": ["--api", "callbacks"]})

    def test_nginx_and_raw_baselines_serve_no_static_files(self):
        static = suites.static(10, 1024 * 1024, "warm")
        self.assertIn("serves no static files", Config("nginx", "nginx", "/usr/sbin/nginx",
                                                       workloads=("http",)).skip_reason(static))
        self.assertIsNone(Config("epoll", "duet", "epoll").skip_reason(static))

    def test_a_failed_run_says_where_it_stopped_and_what_the_server_said(self):
        case = plan.Case("echo", 10000, size=128)
        row = {"status": "error", "error": "load errors: connect_refused=3", "connected": 3210}
        self.assertEqual(outcome.where_it_stopped(row, case, "pthread_create: Resource temporarily unavailable"),
                         "stopped at 3,210 of 10,000 connections: load errors: connect_refused=3; the server "
                         "said: pthread_create: Resource temporarily unavailable")
        row = {"status": "error", "error": "server died during the load (exit 1)", "connected": 10000}
        self.assertEqual(outcome.where_it_stopped(row, case, ""), "server died during the load (exit 1)")

    def test_the_thread_baselines_counters_say_where_it_stopped(self):
        case = plan.Case("echo", 10000, size=128)
        row = {"status": "error", "error": "load errors: errors_eof=1840", "connected": 10000}
        outcome.keep_refusals(row, {"peak_threads": 8160, "refused_no_thread": 1840, "refused_no_fd": 0,
                                      "bytes_in": 5})
        self.assertNotIn("bytes_in", row)
        said = "duet-thread-echo: pthread_create: Resource temporarily unavailable; closing new connections"
        self.assertEqual(outcome.where_it_stopped(row, case, said),
                         "stopped at 8,160 threads for 10,000 connections (1,840 refused: no thread 1,840, no "
                         "descriptor 0): load errors: errors_eof=1840; the server said: " + said)

    def model_rows(self, case, cpu_by_config, rounds=(1, 2, 3)):
        rows = []
        for rnd in rounds:
            for name, cpu in cpu_by_config.items():
                rows.append(row(case.id, name, rnd, cpu_us_per_req=cpu * (1 + rnd / 100), p99_us=cpu * 10,
                                latency_samples=10 ** 6, latency_hist=f"{int(cpu * 10000)}:{10 ** 6}"))
        return rows

    def test_the_verdict_names_the_winning_model_and_what_was_left_out(self):
        found = {"echo": ECHO_HELP_CORO, "http": ECHO_HELP_CORO, "thread-echo": THREAD_HELP}
        configs, _ = plan.make_configs(models_args(), "", found)
        c1, c10k = plan.Case("echo", 1, size=128), plan.Case("echo", 10000, size=128)
        rows = self.model_rows(c1, {"epoll": 10.0, "uring": 10.5, "epoll-coro": 10.2, "uring-coro": 10.6,
                                    "thread": 8.0})
        rows += self.model_rows(c10k, {"epoll": 5.0, "uring": 4.0, "epoll-coro": 5.2, "uring-coro": 4.1})
        rows.append(dict(row(c10k.id, "thread", 1), status="error",
                         error="stopped at 3,210 of 10,000 connections: load errors; the server said: out of threads"))
        md = models.markdown(Summary(rows, configs, [c1, c10k]), [c1, c10k], configs)
        self.assertIn("| `echo c1 s128` | **thread per connection** by 1.25× over callbacks on epoll (0.80× "
                      "[0.80–0.80]) | **thread per connection** by 1.25× over callbacks on epoll", md)
        self.assertIn("| `echo c10000 s128` | **callbacks on uring** by 1.02× over coroutines on uring", md)
        self.assertIn("thread per connection: stopped at 3,210 of 10,000 connections: load errors; the server said: "
                      "out of threads", md)
        self.assertIn("### echo c10000 s128", md)
        self.assertIn("| coroutines on uring | `uring-coro` | – | 4.18 | 1.02× [1.02–1.02] |", md)
        md = models.markdown(Summary(rows, configs, [c1]), [c1], configs,
                             notes=["thread per connection: duet-thread-http not built (bench/baselines): it runs "
                                    "echo only", "variant uring-direct skipped"])
        self.assertIn("Not in this run: thread per connection: duet-thread-http not built (bench/baselines): it runs "
                      "echo only.\n", md)

    def test_models_too_close_to_call(self):
        configs, _ = plan.make_configs(models_args(), "", {"echo": ECHO_HELP_CORO, "http": ECHO_HELP_CORO})
        case = plan.Case("echo", 100, size=128)
        rows = []
        for rnd, (a, b) in enumerate(((10.0, 10.1), (10.2, 10.0)), 1):
            rows += [row(case.id, "epoll", rnd, cpu_us_per_req=a, p99_us=1.0, latency_samples=10),
                     row(case.id, "epoll-coro", rnd, cpu_us_per_req=b, p99_us=1.0, latency_samples=10)]
        cpu, p99, ran = models.calls(Summary(rows, configs, [case]), case, configs)
        # The lower median first (coroutines 10.05, callbacks 10.1): the per-round pairs straddle 1.0.
        self.assertEqual(cpu, "too close to call (coroutines on epoll / callbacks on epoll: 0.995× [0.98–1.01])")
        self.assertTrue(p99.startswith("not enough samples"), p99)


class PageCacheTest(unittest.TestCase):
    def test_files_have_their_exact_sizes_and_can_be_dropped_and_warmed(self):
        cases = [suites.static(1, 4096, "cold"), suites.static(1, 1024 * 1024 + 3, "warm")]
        with tempfile.TemporaryDirectory(dir="/var/tmp") as d:
            pagecache.make_files(d, cases)
            for c in cases:
                path = dataclasses.replace(c, root=d).file_path
                self.assertEqual(os.path.getsize(path), c.file_size)
                pagecache.drop(path)
                pagecache.warm(path)
            self.assertEqual(cases[1].path, "/file-1048579.bin")

    def test_the_dropper_runs_on_the_load_cpus(self):
        cmd = pagecache.dropper_command("1", "/var/tmp/x/file-4k.bin")
        self.assertEqual(cmd[:3], ["taskset", "-c", "1"])
        self.assertIn("keep_dropping('/var/tmp/x/file-4k.bin', 0.001)", cmd[-1])

    def test_filesystem_of_a_path(self):
        self.assertNotEqual(pagecache.filesystem("/"), "")
        self.assertEqual(pagecache.filesystem("/proc/self"), "proc")


class P99IntervalTest(unittest.TestCase):
    def test_the_interval_is_read_at_the_ranks_the_binomial_allows(self):
        # 10,000 cycles: 0.99 -+ 1.96 * sqrt(0.0099 / 10,000) = 0.99 -+ 0.00195: ranks 9,881 and 9,920 of 10,000.
        hist = {v: 1 for v in range(1, 10001)}
        lo, hi = latency.interval(hist, 10000)
        self.assertEqual((lo, hi), (9881.0, 9920.0))

    def test_too_few_cycles_leave_the_upper_bound_open(self):
        lo, hi = latency.interval({1: 50, 2: 50}, 100)   # 0.99 + 0.0195 > 1
        self.assertTrue(hi != hi)
        self.assertEqual(lo, 2.0)

    def test_the_report_shows_the_interval_of_a_p99_with_enough_samples(self):
        case = plan.Case("echo", 1, size=128)
        hist_text = " ".join(f"{v * 1000}:1" for v in range(1, 10001))
        p = latency.p99([row(case.id, "epoll", 1, p99_us=9900.0, latency_samples=10000, latency_hist=hist_text)],
                        case)
        self.assertEqual(p.describe(), "10k samples, 10k cycles, 95%: 9,881–9,920")


class P99PrecisionTest(unittest.TestCase):
    """--compare-with counts a p99 ratio only where each p99 is precise enough for 10% to mean something."""
    configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]
    case = plan.Case("echo", 1, size=128)

    def rows(self, epoll_hist, uring_hist, samples=10000):
        return [row(self.case.id, "epoll", 1, rps=1.0, cpu_us_per_req=1.0, p99_us=1.0, latency_samples=samples,
                    latency_hist=epoll_hist),
                row(self.case.id, "uring", 1, rps=1.0, cpu_us_per_req=1.0, p99_us=1.0, latency_samples=samples,
                    latency_hist=uring_hist)]

    def smooth(self, scale):
        """10,000 samples from 1 to 10,000 (x scale) ns: the p99's interval is 9,881-9,920, within 0.2%."""
        return " ".join(f"{v * scale}:1" for v in range(1, 10001))

    def test_a_precise_p99_ratio_is_counted(self):
        before = self.rows(self.smooth(100), self.smooth(90))
        after = self.rows(self.smooth(100), self.smooth(80))
        p99 = [c for c in repeat.compare(before, after, self.configs, [self.case]) if c[2] == "p99 ×epoll"][0]
        self.assertAlmostEqual(p99[3], 0.9)
        self.assertAlmostEqual(p99[4], 0.8)
        self.assertFalse(repeat.agrees(p99))          # counted, and 0.9 -> 0.8 is 12.5% apart

    def test_a_p99_whose_interval_is_wider_than_5_percent_is_listed_not_counted(self):
        # 1% of the samples at 2 ms, the rest at 1 ms: the p99 sits at the edge, its interval spans both.
        edgy = "1000000:9900 2000000:100"
        before, after = self.rows(edgy, self.smooth(100)), self.rows(edgy, self.smooth(100))
        changes = repeat.compare(before, after, self.configs, [self.case])
        p99 = [c for c in changes if c[2] == "p99 ×epoll"][0]
        self.assertIsNone(p99[5])
        self.assertEqual(p99[6], "too imprecise to compare (95% interval ±100%)")
        self.assertIn("p99 ×epoll 0 of 0 (and 1 too imprecise to compare)", repeat.summary_line(changes))
        self.assertEqual(repeat.table(changes)[-1][5:], ["–", "too imprecise to compare (95% interval ±100%)"])

    def test_a_p99_ratio_whose_own_rounds_disagree_by_more_than_10_percent_is_listed_not_counted(self):
        # Precise pooled p99s, but round 2's ratio is 0.7 where round 1's is 1.0: the run does not repeat itself.
        def two_rounds(second_uring_scale):
            out = []
            for rnd, scale in ((1, 100), (2, second_uring_scale)):
                for cfg, s in (("epoll", 100), ("uring", scale)):
                    out.append(row(self.case.id, cfg, rnd, rps=1.0, cpu_us_per_req=1.0, p99_us=9900.0 * s / 1000,
                                   latency_samples=10000, latency_hist=self.smooth(s)))
            return out
        changes = repeat.compare(two_rounds(70), two_rounds(70), self.configs, [self.case])
        p99 = [c for c in changes if c[2] == "p99 ×epoll"][0]
        self.assertIsNone(p99[5])
        self.assertEqual(p99[6], "too imprecise to compare (rounds spread ±21%)")
        self.assertIn("p99 ×epoll 0 of 0 (and 1 too imprecise to compare)", repeat.summary_line(changes))
        steady = [c for c in repeat.compare(two_rounds(95), two_rounds(95), self.configs, [self.case])
                  if c[2] == "p99 ×epoll"][0]
        self.assertIsNotNone(steady[5])   # rounds 1.0 and 0.95: within 10% of their median, counted
        self.assertTrue(repeat.agrees(steady))

    def test_spread_of_a_p99(self):
        p = latency.p99(self.rows(self.smooth(1000), "")[:1], self.case)
        self.assertTrue(p.precise)
        self.assertAlmostEqual(p.spread, (9920 - 9900) / 9900)


class P99CallTest(unittest.TestCase):
    configs = [Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")]
    case = plan.Case("echo", 1, size=128)

    def call(self, epoll_hist, uring_hist, epoll_round, uring_round):
        rows = []
        for rnd in (1, 2):
            rows += [row(self.case.id, "epoll", rnd, p99_us=epoll_round, latency_samples=10000,
                         latency_hist=epoll_hist),
                     row(self.case.id, "uring", rnd, p99_us=uring_round, latency_samples=10000,
                         latency_hist=uring_hist)]
        return verdict.call_p99(Summary(rows, self.configs, [self.case]), self.case.id, "uring", "epoll")

    def test_overlapping_intervals_are_too_close_to_call_whatever_the_rounds_say(self):
        # Every round and the pooled p99s say uring (989 µs against 990 µs), but uring's p99 lies inside
        # epoll's interval (988.7-991.4 µs): not sure.
        smooth = " ".join(f"{v * 100}:1" for v in range(1, 10001))
        c = self.call(smooth, "1000:9899 989000:101", 990.0, 980.0)
        self.assertLess(c.median, 1.0)
        self.assertEqual(c.words, "too close to call")

    def test_apart_intervals_and_one_sided_rounds_make_a_call(self):
        smooth = " ".join(f"{v * 100}:1" for v in range(1, 10001))
        half = " ".join(f"{v * 50}:1" for v in range(1, 10001))
        c = self.call(smooth, half, 990.0, 495.0)
        self.assertEqual(c.winner, "uring")
        self.assertAlmostEqual(c.factor, 2.0)


HTTP_HELP_FILE_IO = ("  --backend TEXT\n  --api TEXT=callbacks  callbacks|coroutines\n  --root TEXT\n"
                     "  --file-io TEXT=async  how static files are read: async or loop\n")


def hist(**buckets):
    """"value_ns:count ..." from v<ns>=count keyword pairs."""
    return " ".join(f"{k[1:]}:{v}" for k, v in buckets.items())


class BesideTest(unittest.TestCase):
    """/hello beside files: the mixed load's command and parsing, the --file-io servers, the cold-vs-warm call."""

    def setUp(self):
        self.cold, self.warm = suites.beside_cases()

    def test_cases_name_both_groups_and_share_the_static_file(self):
        self.assertEqual(self.cold.id, "http/hello c4 beside/file-1m.bin c2 cold")
        self.assertEqual(self.warm.id, "http/hello c4 beside/file-1m.bin c2 warm")
        self.assertEqual(self.cold.connections, 6)   # duet-load's -c: both groups
        self.assertEqual(dataclasses.replace(self.cold, root="/w").file_path, "/w/file-1m.bin")
        self.assertIn("beside", suites.GROUPS)
        self.assertEqual([c.id for c in suites.cases("full")[0]["beside"]], [self.cold.id, self.warm.id])
        self.assertEqual(suites.cases("default")[0]["beside"], [])

    def test_load_command_mixes_hello_into_the_file_connections(self):
        cmd = LoadCommandTest().cmd(self.cold)
        self.assertEqual(cmd[cmd.index("--http") + 1], "/file-1m.bin")
        self.assertEqual(cmd[cmd.index("--http-mix") + 1], "/hello:4")
        self.assertEqual(cmd[cmd.index("-c", 3) + 1], "6")   # (the first -c is taskset's)
        self.assertNotIn("--http-mix", LoadCommandTest().cmd(suites.static(10, 1 << 20, "cold")))

    def line(self, port, probe_hist="100000:5", groups=True):
        r = {"mode": "http", "port": port, "messages": 105, "msgs_per_s": 210, "p99_us": 900.0, "errors": 0,
             "latency_samples": 105, "latency_hist": "100000:5 900000:100", "response_bytes": 50000.0,
             "duration_s": 0.5}
        if groups:
            r["groups"] = {"/file-1m.bin": {"connections": 10, "messages": 100, "msgs_per_s": 200, "p99_us": 900.0,
                                            "latency_samples": 100, "errors": 0, "latency_hist": "900000:100"},
                           "/hello": {"connections": 4, "messages": 5, "msgs_per_s": 10, "p50_us": 100.0,
                                      "p99_us": 100.0, "max_us": 100.0, "latency_samples": 5, "errors": 0,
                                      "latency_hist": probe_hist}}
        return json.dumps(r)

    def test_parse_takes_the_probe_group_apart_and_keeps_the_whole_run(self):
        got = loads.parse_alternate(self.line(5001), "/hello")[5001]
        self.assertEqual(got["requests"], 105)                 # the whole run, as before
        self.assertEqual(got["latency_hist"], "100000:5 900000:100")
        self.assertEqual(got["probe_requests"], 5)
        self.assertEqual(got["probe_p99_us"], 100.0)
        self.assertEqual(got["probe_latency_samples"], 5)
        self.assertEqual(got["probe_latency_hist"], "100000:5")
        self.assertEqual(got["file_rps"], 200)
        self.assertEqual(got["file_p99_us"], 900.0)
        self.assertNotIn("probe_p99_us", loads.parse_alternate(self.line(5001))[5001])   # no probe asked

    def test_a_line_without_the_probe_group_is_an_error(self):
        with self.assertRaises(ValueError):
            loads.parse_alternate(self.line(5001, groups=False), "/hello")

    def test_file_io_servers_join_where_duet_http_has_the_flag(self):
        found = {"echo": ECHO_HELP_CORO, "http": HTTP_HELP_FILE_IO}
        configs, notes = plan.make_configs(models_args(), "", found)
        names = [c.name for c in configs]
        self.assertEqual(names, ["epoll", "uring", "epoll-coro", "uring-coro", "epoll-fileloop", "uring-fileloop"])
        self.assertFalse(any("--file-io" in n for n in notes))
        by = {c.name: c for c in configs}
        case = dataclasses.replace(self.cold, root="/w")
        self.assertEqual(servers.command(by["epoll"], case, "B", "0", None)[-6:],
                         ["--api", "callbacks", "--file-io", "async", "--root", "/w"])
        self.assertEqual(servers.command(by["uring-fileloop"], case, "B", "0", None)[-6:],
                         ["--api", "callbacks", "--file-io", "loop", "--root", "/w"])
        self.assertEqual(servers.command(by["epoll"], plan.Case("echo", 100, size=128), "B", "0", None)[-2:],
                         ["--api", "callbacks"])   # duet-echo is not told about files
        loop = by["epoll-fileloop"]
        self.assertTrue(loop.applies_to(case) and loop.applies_to(suites.static(10, 4096, "warm")))
        self.assertFalse(loop.applies_to(suites.http(100)) or loop.applies_to(plan.Case("echo", 1, size=128)))
        self.assertTrue(by["epoll"].applies_to(plan.Case("echo", 1, size=128)))
        self.assertEqual((beside.label(loop), beside.label(by["uring"]), beside.label(by["epoll-coro"])),
                         ("epoll-fileloop, --file-io loop", "uring, --file-io async", "epoll-coro"))

    def test_without_the_flag_epoll_and_uring_run_it_alone_with_a_note(self):
        configs, notes = plan.make_configs(models_args(), "", {"echo": ECHO_HELP_CORO, "http": ECHO_HELP_CORO})
        self.assertNotIn("epoll-fileloop", [c.name for c in configs])
        self.assertTrue(any("duet-http has no --file-io" in n and "pread" in n for n in notes), notes)
        self.assertEqual(plan.make_configs(models_args(), "", None)[0][0].file_io, "")   # nobody asked the build

    def test_files_only_servers_leave_no_skip_rows_in_other_cases(self):
        ctx = runner.Context(plan.parser().parse_args(["--rounds", "1"]), "B")
        rows = []
        loop = Config("epoll-fileloop", "duet", "epoll", workloads=("http",), file_io="loop", files_only=True)
        echo = plan.Case("echo", 1, size=128)
        seen = []
        orig = alternate.run_round
        alternate.run_round = lambda ctx, case, configs, *rest, **kw: seen.append((case.id, [c.name for c in configs]))
        try:
            runner.run_all(ctx, [echo, self.cold], [], [Config("epoll", "duet", "epoll"), loop], rows.append)
        finally:
            alternate.run_round = orig
        self.assertEqual(rows, [])   # no "skipped" row for epoll-fileloop in the echo case
        self.assertEqual(seen, [(echo.id, ["epoll"]), (self.cold.id, ["epoll", "epoll-fileloop"])])

    def rows(self, config, cold_hist, warm_hist, samples=100000, rounds=(1, 2)):
        out = []
        for rnd in rounds:
            for case, h in ((self.cold, cold_hist), (self.warm, warm_hist)):
                pooled = latency.parse(h)
                out.append(row(case.id, config, rnd, p99_us=1.0, probe_latency_hist=h,
                               probe_latency_samples=sum(pooled.values()),
                               probe_p99_us=latency.quantile(pooled, 0.99) / 1e3))
        return out

    def test_cold_files_that_hurt_hello_are_called_with_their_ratio(self):
        warm = hist(v100000=98000, v150000=2000)     # p99 150 µs
        cold = hist(v100000=98000, v3000000=2000)    # p99 3 ms
        configs = [Config("epoll-fileloop", "duet", "epoll", file_io="loop"), Config("uring", "duet", "uring",
                                                                                     file_io="async")]
        rows = self.rows("epoll-fileloop", cold, warm) + self.rows("uring", warm, warm)
        s = Summary(rows, configs, [self.cold, self.warm])
        words, ratio = beside.judge(beside.probe_p99(s, self.cold, "epoll-fileloop"),
                                    beside.probe_p99(s, self.warm, "epoll-fileloop"))
        self.assertIn("**hurt**", words)
        self.assertAlmostEqual(ratio, 20.0)
        words, ratio = beside.judge(beside.probe_p99(s, self.cold, "uring"), beside.probe_p99(s, self.warm, "uring"))
        self.assertIn("not worse", words)
        self.assertAlmostEqual(ratio, 1.0)
        md = beside.markdown(s, [self.cold, self.warm], configs)
        self.assertIn("## /hello beside /file-1m.bin (2 connections read the file, 4 GET /hello)", md)
        lines = {l.split(" | ")[0].strip("| "): l for l in md.splitlines() if l.startswith("| ")}
        self.assertIn("**hurt**: cold p99 20.00× the warm one [20.00–20.00]", lines["epoll-fileloop, --file-io loop"])
        self.assertIn("| 150 |", lines["epoll-fileloop, --file-io loop"])
        self.assertIn("| 3,000 |", lines["epoll-fileloop, --file-io loop"])
        self.assertIn("not worse within the noise (1.00×", lines["uring, --file-io async"])

    def test_few_samples_get_no_call(self):
        few = hist(v100000=990, v3000000=10)         # 2 rounds of 1,000 samples over 4 connections: 500 cycles
        configs = [Config("epoll", "duet", "epoll")]
        s = Summary(self.rows("epoll", few, few), configs, [self.cold, self.warm])
        words, ratio = beside.judge(beside.probe_p99(s, self.cold, "epoll"), beside.probe_p99(s, self.warm, "epoll"))
        self.assertTrue(words.startswith(latency.NOT_ENOUGH), words)
        self.assertNotEqual(ratio, ratio)   # nan
        md = beside.markdown(s, [self.cold, self.warm], configs)
        self.assertIn("few samples", md)
        self.assertIn(latency.NOT_ENOUGH, md)

    def test_only_one_cache_measured_is_not_measured(self):
        configs = [Config("epoll", "duet", "epoll")]
        rows = [r for r in self.rows("epoll", hist(v1000=10), hist(v1000=10)) if r["case"] == self.cold.id]
        s = Summary(rows, configs, [self.cold, self.warm])
        self.assertEqual(beside.judge(beside.probe_p99(s, self.cold, "epoll"),
                                      beside.probe_p99(s, self.warm, "epoll"))[0], "not measured")

    def test_probe_histograms_round_trip_through_the_histogram_file(self):
        rows = self.rows("epoll", hist(v100000=10), hist(v200000=7), rounds=(1,))
        rows[0]["latency_hist"] = "5000:3"
        with tempfile.TemporaryDirectory() as d:
            report.write_csv(os.path.join(d, "results.csv"), rows)
            with open(os.path.join(d, "results.csv")) as f:
                self.assertNotIn("probe_latency_hist", f.readline())   # the histograms stay out of results.csv
            loaded = repeat.load_rows(d)
        self.assertEqual([r["probe_latency_hist"] for r in loaded], ["100000:10", "200000:7"])
        self.assertEqual(loaded[0]["latency_hist"], "5000:3")
        self.assertNotIn("latency_hist", loaded[1])
