"""The servers under test: duet-echo / duet-http on a backend, the raw baselines, nginx.

A Config is one column of the comparison ("epoll", "uring-plain",
"raw-epoll", "nginx"...). start() runs it pinned to the server CPUs and
returns a Server that knows its pid and port; Server.stop() ends it
gracefully and parses the loops' own counters (the --stats lines).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field

from . import procs

DUET_LISTEN = re.compile(r"listening on [0-9.]+:(\d+)")
RAW_LISTEN = re.compile(r"listening on (\d+)")
ANY_LISTEN = re.compile(r"listening on (?:[0-9.]+:)?(\d+)")   # the thread-per-connection baselines: either form
FD_SETSIZE = 1024
# Descriptors a server holds besides its connections (stdio, listener, eventfd,
# timerfd, epoll...): select's limit leaves room for this many.
FD_OVERHEAD = 16

# duet's /hello body (apps/http/router.h, Router::kHelloBody): nginx answers with the same.
HELLO_BODY = "Hello, world!\n"


@dataclass
class Config:
    name: str                 # column name: "epoll", "uring-coop", "raw-uring", "nginx"
    kind: str                 # "duet" | "raw" | "nginx"
    backend: str = ""         # duet: --backend value; raw: "epoll" | "uring"
    args: list = field(default_factory=list)   # extra server flags
    workloads: tuple = ("echo", "http", "hold")
    variant: bool = False     # from --variant or a suite's switch list: skipped, not failed, if it cannot run
    model: str = ""           # the models suite: "callbacks" | "coroutines" | "threads" ("" elsewhere)
    per_app: dict = field(default_factory=dict)   # extra flags by app ("echo" | "http"), e.g. --api coroutines
    serves_files: bool = True  # can serve the static file cases (duet-http --root)
    file_io: str = ""         # duet-http --file-io it runs with ("" : the server's default, or no such flag)
    files_only: bool = False  # joins only the cases that serve files (beside.py: the --file-io loop servers)

    def applies_to(self, case):
        """Whether `case` is one this config is meant for at all (else it is left out without a note)."""
        return not self.files_only or bool(case.file_size)

    def fd_limit(self):
        return FD_SETSIZE if (self.kind == "duet" and self.backend == "select") else None

    def skip_reason(self, case):
        """Why this config cannot run `case` here, or None."""
        if case.workload not in self.workloads:
            return f"{self.name} does not serve {case.workload}"
        if case.file_size and (not self.serves_files or self.kind in ("raw", "nginx")):
            return f"{self.name} serves no static files"
        limit = self.fd_limit()
        if limit and case.connections + FD_OVERHEAD > limit:
            return (f"select: {case.connections} connections need descriptors >= FD_SETSIZE ({limit}); "
                    f"skipped")
        if case.threads and self.kind != "duet":
            return f"{self.name} is single-threaded"
        return None


@dataclass
class Server:
    config: Config
    proc: subprocess.Popen
    port: int
    command: list
    tmpdir: str = ""
    stderr_path: str = ""
    stderr_text: str = ""     # what the server wrote on stderr, once stopped

    def said(self):
        """The server's first stderr line, for an error message ("" if it said nothing)."""
        return _first_line(self.stderr_text)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Graceful stop; returns (stats dict summed over loops, mode, error text)."""
        out, _ = procs.stop(self.proc)
        err = _read(self.stderr_path)
        if self.tmpdir:
            err += _read(os.path.join(self.tmpdir, "error.log"))
            shutil.rmtree(self.tmpdir, ignore_errors=True)
        elif self.stderr_path:
            os.unlink(self.stderr_path)
        stats, mode = parse_stats(out)
        self.stderr_text = err
        problem = ""
        # A thread-per-connection server blocked in its threads' reads may simply die of the SIGTERM.
        ended = (0, None, -signal.SIGTERM) if self.config.kind == "thread" else (0, None)
        if self.proc.returncode not in ended and self.config.kind != "nginx":
            problem = f"server exit status {self.proc.returncode}: {_first_line(err)}"
        return stats, mode, problem


def _read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _first_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[0][:200] if lines else ""


def parse_stats(text):
    """Sums the numeric counters of every "stats loop=..." line (one per loop), in the order they are printed."""
    total, mode = {}, ""
    for line in text.splitlines():
        if not line.startswith("stats "):
            continue
        for key, value in re.findall(r"(\w+)=(\S+)", line):
            if key == "mode":
                mode = mode or value
            elif key in ("loop", "events_per_wakeup"):
                continue
            else:
                try:
                    total[key] = total.get(key, 0) + int(value)
                except ValueError:
                    pass
    return total, mode


def syscall_kinds(stats):
    """The kinds of system call a server counts, in the order it prints them (its sys_<kind>= counters).

    The names come from the server (core/loop_stats.cc, syscallName), so a
    kind the engine adds shows up here without a copy of its list. The raw
    baselines count only their total: none.
    """
    return [key[len("sys_"):] for key in stats if key.startswith("sys_")]


def command(config, case, build, server_cpus, root):
    """The exact command line that runs `config` for `case`."""
    pin = ["taskset", "-c", server_cpus]
    app = "http" if case.workload == "http" else "echo"
    root = ["--root", case.root] if case.file_size and case.root else []
    if config.kind == "duet":
        path = "http/duet-http" if app == "http" else "echo/duet-echo"
        cmd = pin + [os.path.join(build, "apps", path), "--backend", config.backend, "--host", "127.0.0.1",
                     "--port", "0", "--stats", "--log-level", "warn"]
        if case.threads:
            cmd += ["--threads", str(case.threads), "--accept", case.accept]
        return cmd + list(config.args) + list(config.per_app.get(app, [])) + root
    if config.kind == "thread":
        # bench/baselines/duet-thread-echo | duet-thread-http: one thread per connection, blocking calls.
        return (pin + [os.path.join(build, "bench", "baselines", "duet-thread-" + app), "--port", "0"]
                + list(config.args) + list(config.per_app.get(app, [])) + root)
    if config.kind == "raw":
        return pin + [os.path.join(build, "bench", "baselines", "duet-raw-" + config.backend),
                      "--port", "0", "--stats"] + list(config.args)
    if config.kind == "nginx":
        return pin + [config.backend, "-p", "{tmp}", "-c", "{tmp}/nginx.conf", "-e", "{tmp}/error.log"]
    raise ValueError(config.kind)


def start(config, case, build, server_cpus, timeout=10):
    """Starts the server; returns (Server, None) or (None, one-line error)."""
    cmd = command(config, case, build, server_cpus, None)
    tmpdir = ""
    port = None
    if config.kind == "nginx":
        tmpdir = tempfile.mkdtemp(prefix="duet-nginx-")
        port = _free_port()
        _write_nginx_conf(tmpdir, port)
        cmd = [c.replace("{tmp}", tmpdir) for c in cmd]
    fd, stderr_path = tempfile.mkstemp(prefix="duet-compare-stderr-")
    with os.fdopen(fd, "w") as errf:
        try:
            proc = procs.spawn(cmd, stderr=errf)
        except OSError as e:
            return None, f"cannot run {cmd[3] if len(cmd) > 3 else cmd}: {e}"
    server = Server(config, proc, 0, cmd, tmpdir, stderr_path)
    if config.kind == "nginx":
        ok = _wait_for_port(proc, port, timeout)
        if ok:
            server.port = port
            return server, None
        err = _read(os.path.join(tmpdir, "error.log")) + _read(stderr_path)
        server.stop()
        return None, "nginx did not start: " + (_first_line(err) or "no output")
    pattern = {"duet": DUET_LISTEN, "raw": RAW_LISTEN}.get(config.kind, ANY_LISTEN)
    m, lines = procs.read_lines_until(proc, pattern, timeout)
    if not m:
        server.stop()   # reads (and removes) its stderr file: the reason is in server.said()
        why = server.said() or _first_line("\n".join(lines)) or "no listening line"
        return None, f"server did not start: {why}"
    server.port = int(m.group(1))
    return server, None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(proc, port, timeout):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.02)
    return False


def _write_nginx_conf(tmpdir, port):
    # One process (no master), one worker's worth of work, no access log:
    # the closest nginx gets to "one loop on one core answering /hello".
    body = HELLO_BODY.replace("\n", "\\n")
    conf = f"""daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {tmpdir}/nginx.pid;
error_log {tmpdir}/error.log warn;
events {{ worker_connections 20000; }}
http {{
  access_log off;
  client_body_temp_path {tmpdir}/body;
  proxy_temp_path {tmpdir}/proxy;
  fastcgi_temp_path {tmpdir}/fastcgi;
  uwsgi_temp_path {tmpdir}/uwsgi;
  scgi_temp_path {tmpdir}/scgi;
  keepalive_requests 1000000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type "text/plain; charset=utf-8";
      return 200 "{body}";
    }}
  }}
}}
"""
    with open(os.path.join(tmpdir, "nginx.conf"), "w") as f:
        f.write(conf)


def find_nginx():
    for path in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if path and os.access(path, os.X_OK):
            return path
    return None
