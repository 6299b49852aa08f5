"""Static files for the models suite, and their page cache made cold or warm.

Why this matters: a regular file is always "ready", so a reactor that reads
it on the loop thread stalls every connection of that loop on a page-cache
miss, while a proactor (or a worker pool) reads it asynchronously. Served
from a warm page cache the two look alike; only a cold cache shows the
difference.

Cold: posix_fadvise(POSIX_FADV_DONTNEED) drops the file's clean pages. Once
before each round would make only the first read of the round cold (the
file is cached again right after), so a small helper process (this module
run as a program, pinned to the load CPUs like duet-load) drops them again
every DROP_EVERY seconds for the whole round: most reads then start from
storage. Warm: the file is read whole before the round.

The files live under /var/tmp (a disk file system here): pages of tmpfs
cannot be dropped, so a cold case there would be warm; the report notes it.
"""
import os
import sys
import time

DROP_EVERY = 0.001   # seconds between two drops of the file's pages during a cold round


def make_files(directory, cases):
    """Writes every static case's file under `directory` (deterministic bytes, its exact size)."""
    os.makedirs(directory, exist_ok=True)
    for case in cases:
        if not case.file_size:
            continue
        path = os.path.join(directory, case.path.lstrip("/"))
        if os.path.exists(path) and os.path.getsize(path) == case.file_size:
            continue
        pattern = bytes((i * 7 + 13) % 251 for i in range(4096))
        with open(path, "wb") as f:
            left = case.file_size
            while left > 0:
                chunk = pattern[:min(left, len(pattern))]
                f.write(chunk)
                left -= len(chunk)
            f.flush()
            os.fsync(f.fileno())   # dirty pages cannot be dropped: write them out now


def drop(path):
    """Drops the file's pages from the page cache (they are clean: written and synced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def warm(path):
    """Reads the file whole, so its pages are in the page cache."""
    with open(path, "rb") as f:
        while f.read(1 << 20):
            pass


def filesystem(path):
    """The file system type holding `path` ("ext4", "tmpfs", ...), from /proc/mounts; "" if unknown."""
    best, fstype = "", ""
    path = os.path.realpath(path)
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")) \
                        and len(parts[1]) >= len(best):
                    best, fstype = parts[1], parts[2]
    except OSError:
        return ""
    return fstype


def dropper_command(load_cpus, path, every=DROP_EVERY):
    """The helper that keeps the file cold during a round (ended with SIGTERM)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return ["taskset", "-c", load_cpus, sys.executable, "-c",
            f"import sys; sys.path.insert(0, {here!r}); from duetcompare import pagecache; "
            f"pagecache.keep_dropping({path!r}, {every!r})"]


def keep_dropping(path, every):
    """Drops the file's pages every `every` seconds until killed."""
    while True:
        drop(path)
        time.sleep(every)
