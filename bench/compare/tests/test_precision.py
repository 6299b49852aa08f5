"""Unit tests for the extra rounds (precision.py and runner.extra_rounds): which cases get them, in which order,
and where they stop.

Run: python3 -m unittest discover -s bench/compare/tests (ctest runs it too).
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from duetcompare import alternate, plan, precision, runner  # noqa: E402
from duetcompare.servers import Config  # noqa: E402

EPOLL, URING = Config("epoll", "duet", "epoll"), Config("uring", "duet", "uring")


def rows_for(case, uring_over_epoll, cpu_ratio=None):
    """Timed rows of `case`, one round per ratio: epoll at 100 req/s and 10 µs, uring at ratio x those."""
    out = []
    for rnd, r in enumerate(uring_over_epoll, start=1):
        c = (cpu_ratio or uring_over_epoll)[rnd - 1]
        out.append({"case": case.id, "config": "epoll", "round": rnd, "status": "ok", "rps": 100.0,
                    "cpu_us_per_req": 10.0})
        out.append({"case": case.id, "config": "uring", "round": rnd, "status": "ok", "rps": 100.0 * r,
                    "cpu_us_per_req": 10.0 * c})
    return out


def args(*argv):
    return plan.parser().parse_args(list(argv))


class StandardErrorTest(unittest.TestCase):
    def test_the_median_s_standard_error_shrinks_with_the_square_root_of_the_rounds(self):
        four = precision.standard_error([0.9, 1.0, 1.0, 1.1])
        sixteen = precision.standard_error([0.9, 1.0, 1.0, 1.1] * 4)
        # stdev of (0.9, 1, 1, 1.1) is 0.0816; x 1.2533 / 2 = 0.0512
        self.assertAlmostEqual(four, 0.0512, places=3)
        # the same values 4 times over: stdev sqrt(0.08 / 15) = 0.0730; x 1.2533 / 4 = 0.0229
        self.assertAlmostEqual(sixteen, 0.0229, places=3)

    def test_it_is_relative_to_the_median(self):
        self.assertAlmostEqual(precision.standard_error([9, 10, 10, 11]), precision.standard_error([0.9, 1, 1, 1.1]))

    def test_fewer_than_three_values_say_nothing(self):
        self.assertIsNone(precision.standard_error([1.0, 1.2]))
        self.assertIsNone(precision.standard_error([1.0, float("nan"), 1.2]))
        self.assertEqual(precision.standard_error([1.0, 1.0, 1.0]), 0.0)


class NextPassTest(unittest.TestCase):
    steady = plan.Case("echo", 100, size=128)
    noisy = plan.Case("http", 1000, path="/hello")
    noisier = plan.Case("echo", 10, size=262144)

    def test_only_the_cases_above_the_precision_get_a_round_worst_first(self):
        rows = (rows_for(self.steady, [1.0, 1.01, 0.99, 1.0]) + rows_for(self.noisy, [0.9, 1.0, 1.1, 1.0])
                + rows_for(self.noisier, [0.8, 1.0, 1.2, 1.0]))
        picked = precision.next_pass(rows, [self.steady, self.noisy, self.noisier], [EPOLL, URING],
                                     args("--precision", "0.03"))
        self.assertEqual([c.id for c, _, _ in picked], [self.noisier.id, self.noisy.id])
        self.assertGreater(picked[0][1], picked[1][1])

    def test_the_servers_already_precise_sit_the_extra_round_out_and_epoll_always_runs(self):
        poll = Config("poll", "duet", "poll")
        rows = rows_for(self.noisy, [0.9, 1.0, 1.1, 1.0]) + [
            {"case": self.noisy.id, "config": "poll", "round": rnd, "status": "ok", "rps": 100.0 * r,
             "cpu_us_per_req": 10.0 / r} for rnd, r in enumerate([1.0, 1.01, 0.99, 1.0], start=1)]
        [(case, _, joining)] = precision.next_pass(rows, [self.noisy], [EPOLL, poll, URING], args())
        self.assertEqual([c.name for c in joining], ["epoll", "uring"])

    def test_cpu_per_request_counts_as_much_as_throughput(self):
        rows = rows_for(self.noisy, [1.0, 1.0, 1.0, 1.0], cpu_ratio=[0.9, 1.0, 1.1, 1.0])
        self.assertEqual(len(precision.next_pass(rows, [self.noisy], [EPOLL, URING], args())), 1)
        worst = precision.worst_error(precision.Summary(rows, [EPOLL, URING], [self.noisy]), self.noisy,
                                      [EPOLL, URING])
        self.assertEqual(worst[1:], ("uring", "cpu_us_per_req"))

    def test_a_case_at_max_rounds_or_with_precision_off_gets_none(self):
        rows = rows_for(self.noisy, [0.9, 1.0, 1.1, 1.0])
        self.assertEqual(precision.next_pass(rows, [self.noisy], [EPOLL, URING], args("--max-rounds", "4")), [])
        self.assertEqual(precision.next_pass(rows, [self.noisy], [EPOLL, URING], args("--precision", "0")), [])
        self.assertEqual(precision.next_pass(rows, [self.noisy], [EPOLL, URING], args("--precision", "0.2")), [])

    def test_a_case_one_server_ran_has_no_ratio_and_no_extra_round(self):
        rows = [r for r in rows_for(self.noisy, [0.9, 1.0, 1.1, 1.0]) if r["config"] == "epoll"]
        self.assertEqual(precision.next_pass(rows, [self.noisy], [EPOLL, URING], args()), [])

    def test_without_epoll_the_ratios_are_over_the_first_server(self):
        self.assertEqual(precision.base_config([URING, Config("poll", "duet", "poll")]), "uring")
        self.assertEqual(precision.base_config([URING, EPOLL]), "epoll")


class ExtraRoundsTest(unittest.TestCase):
    """runner.run_all with the rounds faked: each round appends rows whose uring/epoll ratio comes from a list."""

    def run_all(self, argv, cases_and_ratios):
        """cases_and_ratios: [(case, [ratio of round 1, 2, ...])] -> {case id: rounds run}, and the order they ran."""
        per_case_ratios = {case.id: ratios for case, ratios in cases_and_ratios}
        # The fake rounds take no time, so the default budget (half the first rounds' time) would be nothing.
        a = args(*(argv if "--extra-seconds" in argv else ["--extra-seconds", "60"] + argv))
        ctx = runner.Context(a, "B")
        rows, order = [], []

        def fake_round(ctx, case, configs, rnd, rounds, on_row, progress):
            order.append((case.id, rnd))
            ratios = per_case_ratios[case.id]
            for r in rows_for(case, [1.0] * (rnd - 1) + [ratios[(rnd - 1) % len(ratios)]])[-2:]:
                if r["config"] in [c.name for c in configs]:
                    on_row(r)

        orig = alternate.run_round
        alternate.run_round = fake_round
        try:
            runner.run_all(ctx, [c for c, _ in cases_and_ratios], [], [EPOLL, URING], rows.append)
        finally:
            alternate.run_round = orig
        counts = {}
        for case_id, _ in order:
            counts[case_id] = counts.get(case_id, 0) + 1
        return counts, order

    def test_the_noisy_case_gets_rounds_until_max_rounds_and_the_steady_one_none(self):
        steady, noisy = plan.Case("echo", 100, size=128), plan.Case("http", 1000, path="/hello")
        counts, order = self.run_all(["--rounds", "4", "--max-rounds", "10"],
                                     [(steady, [1.0, 1.01, 0.99, 1.0]), (noisy, [0.8, 1.2, 0.8, 1.2])])
        self.assertEqual(counts, {steady.id: 4, noisy.id: 10})
        self.assertEqual(order[8:], [(noisy.id, rnd) for rnd in range(5, 11)])   # numbered on from 5

    def test_an_extra_round_runs_only_epoll_and_the_imprecise_servers(self):
        case = plan.Case("http", 1000, path="/hello")
        a = args("--rounds", "4", "--max-rounds", "6", "--extra-seconds", "60")
        poll = Config("poll", "duet", "poll")
        ran = []

        def fake_round(ctx, c, configs, rnd, rounds, on_row, progress):
            ran.append((rnd, [cfg.name for cfg in configs]))
            uring = [0.8, 1.2][rnd % 2]
            for name, ratio in (("epoll", 1.0), ("poll", 1.0), ("uring", uring)):
                if name in [cfg.name for cfg in configs]:
                    on_row({"case": c.id, "config": name, "round": rnd, "status": "ok", "rps": 100.0 * ratio,
                            "cpu_us_per_req": 10.0 / ratio})

        orig = alternate.run_round
        alternate.run_round = fake_round
        try:
            runner.run_all(runner.Context(a, "B"), [case], [], [EPOLL, poll, URING], lambda r: None)
        finally:
            alternate.run_round = orig
        self.assertEqual(ran, [(rnd, ["epoll", "poll", "uring"]) for rnd in (1, 2, 3, 4)]
                         + [(5, ["epoll", "uring"]), (6, ["epoll", "uring"])])

    def test_extra_rounds_stop_once_the_case_is_precise(self):
        case = plan.Case("http", 1000, path="/hello")
        # Rounds 1-4 scatter (+-10%); every extra round lands on the median, so the error falls below 3%.
        ratios = [0.9, 1.1, 0.9, 1.1] + [1.0] * 20
        counts, _ = self.run_all(["--rounds", "4", "--precision", "0.03"], [(case, ratios)])
        self.assertGreater(counts[case.id], 4)
        self.assertLess(counts[case.id], 16)
        rows = rows_for(case, ratios[:counts[case.id]])
        se = precision.worst_error(precision.Summary(rows, [EPOLL, URING], [case]), case, [EPOLL, URING])[0]
        self.assertLessEqual(se, 0.03)
        shorter = precision.worst_error(precision.Summary(rows_for(case, ratios[:counts[case.id] - 1]),
                                                          [EPOLL, URING], [case]), case, [EPOLL, URING])[0]
        self.assertGreater(shorter, 0.03)   # one round fewer would not have been within

    def test_by_default_the_extra_rounds_may_take_half_the_time_the_first_rounds_took(self):
        case = plan.Case("http", 1000, path="/hello")
        a = args("--rounds", "4")
        self.assertIsNone(a.extra_seconds)
        ticks = iter(range(1000))
        orig_round, orig_clock = alternate.run_round, runner.time.monotonic
        done = []

        def fake_round(ctx, c, configs, rnd, rounds, on_row, progress):
            done.append(rnd)
            for r in rows_for(c, [1.0] * (rnd - 1) + [[0.8, 1.2][rnd % 2]])[-2:]:
                on_row(r)

        # The clock reads 0, 1, 2, ...: every round reads it twice in run_all, so each lasts 1 s and the four
        # planned rounds 8 s (the first read starts the whole); half of that buys the extra rounds.
        alternate.run_round, runner.time.monotonic = fake_round, lambda: next(ticks)
        try:
            runner.run_all(runner.Context(a, "B"), [case], [], [EPOLL, URING], lambda r: None)
        finally:
            alternate.run_round, runner.time.monotonic = orig_round, orig_clock
        self.assertGreater(len(done), 4)
        self.assertLess(len(done), 16)

    def test_no_extra_rounds_with_no_seconds_to_spend_or_with_quick(self):
        case = plan.Case("http", 1000, path="/hello")
        counts, _ = self.run_all(["--rounds", "4", "--extra-seconds", "0"], [(case, [0.8, 1.2, 0.8, 1.2])])
        self.assertEqual(counts, {case.id: 4})
        a = args("--quick")
        plan.apply_quick(a)
        self.assertEqual((a.rounds, a.precision), (1, 0))

    def test_the_holds_run_after_the_extra_rounds(self):
        case, hold = plan.Case("http", 1000, path="/hello"), plan.Case("hold", 1000)
        a = args("--rounds", "3", "--max-rounds", "5", "--extra-seconds", "60")
        ctx = runner.Context(a, "B")
        seen = []

        def fake_round(ctx, c, configs, rnd, rounds, on_row, progress):
            seen.append(("round", rnd))
            for r in rows_for(c, [1.0] * (rnd - 1) + [[0.8, 1.2][rnd % 2]])[-2:]:
                on_row(r)

        orig_round, orig_one = alternate.run_round, runner.run_one
        alternate.run_round = fake_round
        runner.run_one = lambda ctx, config, c, rnd, perf=False: (seen.append(("hold", config.name)) or
                                                                  {"case": c.id, "config": config.name,
                                                                   "round": rnd, "status": "ok",
                                                                   "workload": "hold"})
        try:
            runner.run_all(ctx, [case], [hold], [EPOLL, URING], lambda r: None)
        finally:
            alternate.run_round, runner.run_one = orig_round, orig_one
        self.assertEqual(seen, [("round", 1), ("round", 2), ("round", 3), ("round", 4), ("round", 5),
                                ("hold", "epoll"), ("hold", "uring")])


if __name__ == "__main__":
    unittest.main()


class PooledP99OverCommonRoundsTest(unittest.TestCase):
    def test_a_p99_ratio_pools_only_the_rounds_both_servers_ran(self):
        case = plan.Case("echo", 1, size=128)

        def r(config, rnd, slow):
            # 100,000 samples at 10 µs; `slow` of them at 100 µs (the p99 is slow from 1,000 on)
            hist = f"10000:{100000 - slow} 100000:{slow}" if slow else "10000:100000"
            return {"case": case.id, "config": config, "round": rnd, "status": "ok", "p99_us": 10.0,
                    "latency_samples": 100000, "latency_hist": hist}

        # Rounds 1-4: both at 10 µs. Round 5 (an extra round of epoll alone, as with a third server that was
        # imprecise): epoll slow. Pooled over all of epoll's rounds its p99 would be 100 µs.
        rows = [r(n, rnd, 0) for rnd in (1, 2, 3, 4) for n in ("epoll", "uring")] + [r("epoll", 5, 20000)]
        s = precision.Summary(rows, [EPOLL, URING], [case])
        self.assertEqual(s.p99(case.id, "epoll").value_us, 100.0)
        ratio, _, pa, pb = s.p99_ratio(case.id, "uring", "epoll")
        self.assertEqual((pa.rounds, pb.rounds), (4, 4))
        self.assertAlmostEqual(ratio, 1.0)


class CompareNotesImpreciseRatiosTest(unittest.TestCase):
    def test_a_disagreeing_ratio_whose_run_was_imprecise_says_so_and_still_counts(self):
        from duetcompare import repeat
        case = plan.Case("echo", 10, size=262144)
        earlier = rows_for(case, [0.74, 0.98, 0.81, 1.00, 0.93, 0.97, 0.93])   # two modes: +-4.5%
        now = rows_for(case, [0.84, 0.83, 0.85, 0.84, 0.83, 0.84, 0.85])
        changes = repeat.compare(earlier, now, [EPOLL, URING], [case])
        [rps] = [c for c in changes if c[2] == "req/s ×epoll"]
        self.assertFalse(repeat.agrees(rps))
        self.assertIn(rps, repeat.counted(changes))
        [row] = [r for r in repeat.table(changes) if r[2] == "req/s ×epoll"]
        self.assertRegex(row[6], r"^\*\*no\*\* \(its medians' standard errors: ±\d+\.\d% then ±0\.\d%\)$")
        steady = repeat.table(repeat.compare(now, now, [EPOLL, URING], [case]))
        self.assertTrue(all(r[6] == "yes" for r in steady if r[2] != "p99 ×epoll"))
