"""Child processes: start, read /proc, stop, and never leave one behind.

Every process duet-compare starts is registered here, so that Ctrl-C, SIGTERM
or an exception anywhere ends them all (SIGTERM, then SIGKILL after a grace
period). Children stay in our process group: if this script is killed hard,
the terminal's Ctrl-C still reaches them.
"""
import os
import selectors
import signal
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

_live = []  # Popen objects not yet reaped


class Interrupted(Exception):
    """SIGTERM (or SIGHUP) arrived: stop like on Ctrl-C."""


def install_signal_handlers():
    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)
    # A shell starts background jobs with SIGINT ignored, and Python then keeps
    # it ignored: restore Ctrl-C -> KeyboardInterrupt explicitly.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def spawn(cmd, stdout=subprocess.PIPE, stderr=None, **kw):
    p = subprocess.Popen(cmd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, text=True, **kw)
    _live.append(p)
    return p


def forget(p):
    if p in _live:
        _live.remove(p)


def wait_rusage(p, timeout):
    """Waits for p like Popen.wait, but also returns the child's CPU seconds (rusage).

    Kills it (and says so) if it outlives `timeout`: nothing runs forever.
    """
    deadline = time.monotonic() + timeout
    timed_out = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid == p.pid:
            p.returncode = os.waitstatus_to_exitcode(status)
            forget(p)
            return ru.ru_utime + ru.ru_stime, timed_out
        if time.monotonic() > deadline and not timed_out:
            timed_out = True
            p.kill()
        time.sleep(0.01)


def read_lines_until(p, pattern, timeout):
    """Reads p's stdout until a line matches `pattern` (a compiled regex).

    Returns (match, lines_read); match is None if the process exited or the
    time ran out first.
    """
    lines = []
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, lines
            if not sel.select(left):
                continue
            line = p.stdout.readline()
            if not line:
                return None, lines
            lines.append(line.rstrip("\n"))
            m = pattern.search(line)
            if m:
                return m, lines
    finally:
        sel.close()


def cpu_seconds(pid):
    """utime + stime of every thread of `pid` so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_bytes(pid):
    """VmRSS of `pid` in bytes, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def communicate(p, timeout):
    """Reads p's output until it exits, for `timeout` seconds at most; then SIGKILL, and what it wrote so far.

    Returns (stdout, stderr, killed); "" for a stream not piped. p is reaped
    and forgotten: every wait has a deadline, and no child is left behind.
    """
    killed = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        killed = True
    forget(p)
    return out or "", err or "", killed


def stop(p, sig=signal.SIGTERM, timeout=15):
    """Asks p to stop with `sig`, waits; SIGKILL if it will not. Returns (stdout, stderr)."""
    if p.poll() is None:
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            pass
    out, err, killed = communicate(p, timeout)
    if killed:
        err += f"\n(did not stop within {timeout}s of {signal.Signals(sig).name}: killed)"
    return out, err


class SyscallCount:
    """perf counting every system call a process makes (raw_syscalls:sys_enter), to check a loop's own count.

    Started before the load, finished after it: finish() stops perf (SIGINT
    makes it write its count) and returns the count, or "" if perf gave none.
    """

    def __init__(self, pid):
        self.path = f"/tmp/duet-compare-perf-{os.getpid()}-{pid}.txt"
        self.proc = spawn(["perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p", str(pid),
                           "-o", self.path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self):
        stop(self.proc, sig=signal.SIGINT, timeout=10)
        try:
            return perf_count(self.path)
        finally:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def perf_count(path):
    """The raw_syscalls:sys_enter count in a `perf stat -x ,` output file, or "" if it has none."""
    try:
        with open(path) as f:
            for line in f:
                parts = line.strip().split(",")
                if len(parts) > 2 and "raw_syscalls:sys_enter" in line:
                    return int(parts[0]) if parts[0].isdigit() else ""
    except OSError:
        return ""
    return ""


def cleanup_all():
    """Ends every child still running: SIGTERM, a short grace, then SIGKILL."""
    for p in list(_live):
        if p.poll() is None:
            try:
                p.terminate()
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 3
    for p in list(_live):
        try:
            p.wait(timeout=max(0.05, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        forget(p)


def storage_read_bytes(pid):
    """Bytes `pid` has caused to be read from storage so far (/proc/PID/io read_bytes), or None.

    A page-cache hit reads nothing from storage: this is how the report shows
    that a "cold" static file case really went to the disk.
    """
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None
