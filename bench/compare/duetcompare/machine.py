"""What the numbers were measured on: CPU, kernel, liburing, tools, repository state."""
import os
import platform
import subprocess


def _run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _dpkg_version(pkg):
    return _run(["dpkg-query", "-W", "-f=${Version}", pkg]) or "not installed"


def describe(top):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    distro = ""
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    distro = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    uring_disabled = ""
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            uring_disabled = f.read().strip()
    except OSError:
        uring_disabled = "n/a"
    wrk = _run(["wrk", "-v"]).splitlines()
    import resource
    return {
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
        "memory": mem,
        "kernel": platform.release(),
        "distro": distro,
        "liburing": "liburing2 " + _dpkg_version("liburing2") + ", liburing-dev " + _dpkg_version("liburing-dev"),
        "compiler": (_run(["c++", "--version"]).splitlines() or [""])[0],
        "wrk": wrk[0] if wrk else "",
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        "io_uring_disabled": uring_disabled,
        "git": _run(["git", "-C", top, "describe", "--always", "--dirty"]),
    }
