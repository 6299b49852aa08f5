"""A case: one load shape (echo 100 connections x 128 B, HTTP /hello pipelined 16 deep, connection churn...).

Every config (server set-up) runs every case it can; the id is the case's
name in the tables, results.csv and --compare-with.
"""
from dataclasses import dataclass


@dataclass
class Case:
    workload: str          # "echo" | "http" | "hold"
    connections: int
    size: int = 0          # echo message bytes
    inflight: int = 1      # echo: messages outstanding per connection; HTTP: requests pipelined per connection
    threads: int = 0       # server I/O threads (0: one loop)
    accept: str = "main"
    load_threads: int = 1
    path: str = "/hello"
    churn: bool = False    # connect, one request, close, again: the rate is connections, not requests
    file_size: int = 0     # static file case: GET of a file this big from the server's --root (path names it)
    cache: str = ""        # static file case: "cold" (its pages dropped before and during each round) | "warm"
    root: str = ""         # static file case: the directory served (set at run time; not part of the id)
    # /hello beside files (beside.py): probe_connections of the `connections` GET `probe` instead of the file,
    # and their latency is reported apart.
    probe: str = ""
    probe_connections: int = 0

    @property
    def id(self):
        t = f" t{self.threads}-{self.accept}" if self.threads else ""
        k = f" k{self.inflight}" if self.inflight > 1 else ""
        churn = "churn " if self.churn else ""
        if self.workload == "echo":
            return f"{churn}echo c{self.connections} s{self.size}{k}{t}"
        if self.workload == "http" and self.probe:
            return (f"http{self.probe} c{self.probe_connections} beside{self.path} "
                    f"c{self.connections - self.probe_connections}{k}{t} {self.cache}")
        if self.workload == "http":
            cache = f" {self.cache}" if self.cache else ""
            return f"{churn}http{self.path} c{self.connections}{k}{t}{cache}"
        return f"hold c{self.connections}{t}"

    @property
    def file_path(self):
        """Static file case: the file on disk the server sends ("" otherwise)."""
        return f"{self.root}{self.path}" if self.file_size and self.root else ""

    @property
    def kind(self):
        """For grouping in plots: cases that differ only in their connection count form a curve."""
        t = f" t{self.threads}" if self.threads else ""
        k = f" k{self.inflight}" if self.inflight > 1 else ""
        churn = "churn " if self.churn else ""
        if self.workload == "echo":
            return f"{churn}echo s{self.size}{k}{t}"
        if self.probe:
            return f"{self.probe} beside file {self.file_size} {self.cache}{t}"
        if self.file_size:
            return f"http file {self.file_size} {self.cache}{t}"
        return f"{churn}{self.workload}{k}{t}"

    @property
    def unit(self):
        """What one counted request is: churn counts whole connections (connect, one request, close)."""
        return "connection" if self.churn else "request"
