"""The suites: which cases a run measures, and which switch variants join it.

default  every regime once at a modest size (about 4 minutes on 2 cores): the
         answer to "which model wins for my traffic" in one sitting.
full     every regime at every size, 10,000 connections, and every engine
         switch flipped from its default as a column of its own; and the
         models' cases and servers.
models   the async models side by side (issue 13): callbacks and coroutines
         on epoll and on io_uring, and one thread per connection with
         blocking calls; echo 128 B from 1 to 10,000 connections, HTTP
         /hello, static files of 4 KiB and 1 MiB from a cold and a warm page
         cache, /hello's p99 while other connections read a 1 MiB file
         cold and warm (beside.py), RSS per idle connection. Each model joins only where its
         program or flag exists (models.py), with a note where it does not.

A regime is a kind of traffic people ask about: small echo messages at a few
or many connections, large messages, streaming (several messages in flight),
HTTP keep-alive, HTTP pipelined 16 deep (plaintext-benchmark style),
connection churn (connect, one request, close), 10,000 connections. Options
such as --connections or --sizes replace a suite's cases of that workload
(plan.make_cases); the suite decides the rest.
"""
from .case import Case

SUITES = ("default", "full", "models")

# Engine switches the full suite flips, one variant each: (server flag, backend it belongs to, the variant's
# name when the flip turns it on, when it turns it off). The default of each is read from the server's --help
# (variants.switch_variants), so the variant is always "the default with this one switch flipped", whatever
# the default is on the day. Names follow the conformance configs (uring_bundle, epoll_nogather).
SWITCHES = (
    ("--gather-writes", "epoll", "gather", "nogather"),        # reactor: one write for the output of one read
    ("--recv-bundle", "uring", "bundle", "nobundle"),          # IORING_RECVSEND_BUNDLE (6.10)
    ("--buffer-ring-inc", "uring", "inc", "noinc"),            # IOU_PBUF_RING_INC (6.12)
    ("--adaptive-recv", "uring", "adaptive", "noadaptive"),    # recv straight into the Buffer while more waits
    ("--vectored-send", "uring", "vsend", "novsend"),          # queued output as one vectored send
    ("--register-ring-fd", "uring", "regfd", "noregfd"),       # registered ring fd
    ("--no-iowait", "uring", "noiowait", "iowait"),            # IORING_ENTER_NO_IOWAIT (6.15)
    ("--direct-fds", "uring", "direct", "nodirect"),           # direct descriptors, close through the ring
    ("--msgring-handoff", "uring", "handoff", "nohandoff"),    # accepted sockets handed over with MSG_RING
)
# Switches that only mean something with an acceptor handing connections to an I/O loop.
NEEDS_THREADS = {"--msgring-handoff": ["--threads", "1", "--accept", "main"]}

KIB = 1024


def echo(c, size, inflight=1):
    return Case("echo", c, size=size, inflight=inflight)


def http(c, pipelined=1):
    return Case("http", c, inflight=pipelined)


def churn_echo(c):
    return Case("echo", c, size=128, churn=True)


def churn_http(c):
    return Case("http", c, churn=True)


def static(c, file_size, cache):
    """GET of a file of `file_size` bytes from duet-http's --root, its page cache "cold" or "warm"."""
    return Case("http", c, path=f"/file-{_size_name(file_size)}.bin", file_size=file_size, cache=cache)


def _size_name(n):
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)}m"
    if n % 1024 == 0:
        return f"{n // 1024}k"
    return str(n)


# The models suite's static files: the connections for each size (a 1 MiB reply is 256 times a 4 KiB one).
STATIC_FILES = ((100, 4 * 1024), (10, 1024 * 1024))


def static_cases():
    return [static(c, size, cache) for c, size in STATIC_FILES for cache in ("cold", "warm")]


# /hello beside files (beside.py): connections reading the 1 MiB file, and connections GETting /hello beside them.
BESIDE_FILE = 1024 * 1024
BESIDE_FILE_CONNECTIONS = 2
BESIDE_HELLO_CONNECTIONS = 4


def beside(file_size, cache, file_connections=BESIDE_FILE_CONNECTIONS, hello=BESIDE_HELLO_CONNECTIONS):
    """/hello on `hello` connections while `file_connections` others GET a file of `file_size`, "cold" or "warm"."""
    return Case("http", file_connections + hello, path=f"/file-{_size_name(file_size)}.bin", file_size=file_size,
                cache=cache, probe="/hello", probe_connections=hello)


def beside_cases():
    return [beside(BESIDE_FILE, cache) for cache in ("cold", "warm")]


def cases(name):
    """The suite's timed cases by workload group, and its idle-connection hold (connections, or 0).

    Groups (the keys) are what --only selects and what the case options
    replace: echo, large, stream, http, pipeline, churn, many, static, beside.
    """
    if name == "default":
        return {
            "echo": [echo(1, 128), echo(100, 128), echo(1000, 128), echo(100, 16 * KIB)],
            "large": [echo(10, 256 * KIB)],
            "stream": [echo(100, 1024, 16)],
            "http": [http(100), http(1000)],
            "pipeline": [http(100, 16)],
            "churn": [churn_echo(100), churn_http(100)],
            "many": [],
            "static": [],
            "beside": [],
        }, 10000
    if name == "models":
        return {
            "echo": [echo(c, 128) for c in (1, 100, 1000)],
            "large": [],
            "stream": [],
            "http": [http(100)],
            "pipeline": [],
            "churn": [],
            "many": [echo(10000, 128)],
            "static": static_cases(),
            "beside": beside_cases(),
        }, 10000
    if name == "full":
        return {
            "echo": [echo(c, s) for s in (128, 16 * KIB) for c in (1, 100, 1000)],
            "large": [echo(c, 256 * KIB) for c in (1, 10, 100)],
            "stream": [echo(100, 1024, 16), echo(100, 16 * KIB, 16)],
            "http": [http(100), http(1000)],
            "pipeline": [http(100, 16), http(1000, 16)],
            "churn": [churn_echo(10), churn_echo(100), churn_http(10), churn_http(100)],
            "many": [echo(10000, 128), http(10000)],
            "static": static_cases(),
            "beside": beside_cases(),
        }, 10000
    raise ValueError(f"unknown suite {name!r} (choose from {', '.join(SUITES)})")


GROUPS = ("echo", "large", "stream", "http", "pipeline", "churn", "many", "static", "beside", "hold")


def wants_switch_variants(name):
    return name == "full"


def wants_models(name):
    """The models' servers (coroutines, thread per connection) join these suites."""
    return name in ("models", "full")


def default_backends(name):
    """--backends when not given: the models suite compares models on epoll and uring, not every backend."""
    if name == "models":
        return ["epoll", "uring"]
    return ["epoll", "poll", "select", "uring", "raw-epoll", "raw-uring"]


def wants_nginx(name):
    """The default and full suites put nginx beside the HTTP cases when it is installed (--nginx insists,
    --no-nginx omits); the models suite compares models, not HTTP servers."""
    return name in ("default", "full")
