#!/usr/bin/env python3
"""Run the raw baselines under duet-load, interleaved, and print what each costs.

Why: the baselines exist to be measured; this is the smallest runner that does
it the way docs/measuring.md describes (server on CPU 0, load on CPU 1, A B A B
rounds, median with min-max, server CPU time per message from /proc/PID/stat,
system calls per message from the server's own counters).

  measure.py --bin build/bench [--rounds 3] [--servers raw-epoll,raw-uring]
             -- <extra duet-load flags, e.g. --connections 100 --size 128 --duration 5>

A server name may carry raw-uring's task-run mode and switches:
raw-uring:coop, raw-uring+recv-bundle, raw-uring+vectored-send=off:defer.
"""
import argparse, json, os, re, signal, statistics, subprocess, sys, time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime + stime


def server_cmd(bindir, name):
    """raw-uring:coop -> --taskrun coop; raw-uring+recv-bundle+direct-fds -> --recv-bundle on --direct-fds on."""
    base, _, taskrun = name.partition(":")
    binary, *switches = base.split("+")
    cmd = ["taskset", "-c", "0", os.path.join(bindir, "baselines", "duet-" + binary), "--port", "0", "--stats"]
    if taskrun:
        cmd += ["--taskrun", taskrun]
    for sw in switches:   # raw-uring+no-iowait=off -> --no-iowait off
        flag, _, value = sw.partition("=")
        cmd += ["--" + flag, value or "on"]
    return cmd


def one_run(bindir, name, load_args):
    srv = subprocess.Popen(server_cmd(bindir, name), stdout=subprocess.PIPE, text=True)
    port = int(srv.stdout.readline().split()[-1])
    cpu0 = cpu_seconds(srv.pid)
    load = subprocess.Popen([os.path.join(bindir, "load", "duet-load"), "--port", str(port), "--cpu", "1"] + load_args,
                            stdout=subprocess.PIPE, text=True)
    load_out = load.stdout.read()
    _, _, ru = os.wait4(load.pid, 0)   # the generator's own CPU: is it the bottleneck?
    load.returncode = 0
    cpu1 = cpu_seconds(srv.pid)
    srv.send_signal(signal.SIGINT)
    out, _ = srv.communicate(timeout=10)
    stats = dict(re.findall(r"(\w+)=(\S+)", out))
    res = json.loads(load_out.strip().splitlines()[-1])
    size = res["size"]
    echoed = int(stats["bytes_out"]) / size   # every message the server echoed, warm-up included
    res["server_cpu_us_per_msg"] = (cpu1 - cpu0) * 1e6 / echoed if echoed else float("nan")
    res["load_cpu_us_per_msg"] = (ru.ru_utime + ru.ru_stime) * 1e6 / echoed if echoed else float("nan")
    res["syscalls_per_msg"] = int(stats["syscalls"]) / echoed if echoed else float("nan")
    res["events_per_wakeup"] = int(stats["events"]) / max(1, int(stats["wakeups"]))
    res["server_mode"] = stats.get("mode", "?")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="build dir holding bench/ (e.g. build/bench)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--servers", default="raw-epoll,raw-uring")
    ap.add_argument("load_args", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    load_args = [x for x in a.load_args if x != "--"]
    servers = a.servers.split(",")
    results = {s: [] for s in servers}
    for r in range(a.rounds):
        for s in servers:
            res = one_run(a.bin, s, load_args)
            results[s].append(res)
            print(f"round {r + 1} {s:16} {res['server_mode']:18} msgs/s={res['msgs_per_s']:>9.0f} "
                  f"p50={res['p50_us']:>8.1f}us p99={res['p99_us']:>8.1f}us "
                  f"cpu/msg={res['server_cpu_us_per_msg']:.2f}us load-cpu/msg={res['load_cpu_us_per_msg']:.2f}us sys/msg={res['syscalls_per_msg']:.2f} "
                  f"ev/wake={res['events_per_wakeup']:.1f} errors={res['errors']} mismatches={res['mismatches']} "
                  f"connect_errors={res['connect_errors']}", file=sys.stderr, flush=True)
    print(f"{'server':16} {'msgs/s median [min-max]':>30} {'p99 us median':>14} {'cpu us/msg':>11} {'sys/msg':>8}")
    for s in servers:
        rs = results[s]
        m = [x["msgs_per_s"] for x in rs]
        print(f"{s:16} {statistics.median(m):>12.0f} [{min(m):.0f}-{max(m):.0f}]".ljust(48)
              + f"{statistics.median(x['p99_us'] for x in rs):>14.1f} "
              f"{statistics.median(x['server_cpu_us_per_msg'] for x in rs):>11.2f} "
              f"{statistics.median(x['syscalls_per_msg'] for x in rs):>8.2f}")
    if len(servers) == 2:
        ratios = [b["msgs_per_s"] / a_["msgs_per_s"] for a_, b in zip(results[servers[0]], results[servers[1]]) if a_["msgs_per_s"]]
        cr = [b["server_cpu_us_per_msg"] / a_["server_cpu_us_per_msg"] for a_, b in zip(results[servers[0]], results[servers[1]])]
        print(f"ratio {servers[1]}/{servers[0]} pair by pair: msgs/s {[round(x, 2) for x in ratios]}, cpu/msg {[round(x, 2) for x in cr]}")


if __name__ == "__main__":
    main()
