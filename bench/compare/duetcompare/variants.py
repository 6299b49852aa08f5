"""Variants: the duet app run with extra server flags, each a config (a column in every table).

`--variant "uring-bundle=--backend uring --recv-bundle on"` adds the config
"uring-bundle": duet-echo / duet-http with those flags. The full suite adds
one variant per engine switch (suites.SWITCHES), each flipped from the
default the server's --help shows.

A variant the server cannot run is skipped with a note in the report, not a
failed run: a flag the binary does not know (an older build; its --help is
read once), or a server that refuses to start with it (an explicit "on" the
kernel cannot do: the loop says which kernel it needs).
"""
import argparse
import os
import re
import shlex
import subprocess

from . import suites
from .case import Case
from .servers import Config

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
DUET_BACKENDS = ("epoll", "poll", "select", "uring")


def parse(text):
    """"NAME=SERVER FLAGS" -> Config. The flags' --backend picks the backend (without one: epoll, passed explicitly; the apps' own default is auto)."""
    name, sep, flags = text.partition("=")
    name = name.strip()
    if not sep or not NAME.match(name):
        raise argparse.ArgumentTypeError(f"expected NAME=SERVER-FLAGS (e.g. \"uring-bundle=--backend uring "
                                         f"--recv-bundle on\"), got {text!r}")
    try:
        args = shlex.split(flags)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--variant {name}: {e}")
    backend, rest, i = "epoll", [], 0
    while i < len(args):
        if args[i] == "--backend" and i + 1 < len(args):
            backend, i = args[i + 1], i + 2
            continue
        if args[i].startswith("--backend="):
            backend = args[i].split("=", 1)[1]
        else:
            rest.append(args[i])
        i += 1
    if backend not in DUET_BACKENDS:
        raise argparse.ArgumentTypeError(f"--variant {name}: unknown backend {backend!r} "
                                         f"(choose from {','.join(DUET_BACKENDS)})")
    return Config(name, "duet", backend, rest, variant=True)


def flags_of(config):
    """The option names a variant passes ("--recv-bundle"), without their values."""
    return [a.split("=", 1)[0] for a in config.args if a.startswith("--")]


def knows(help_text, flag):
    return re.search(r"(^|[\s,])" + re.escape(flag) + r"(?![\w-])", help_text, re.M) is not None


def default_of(help_text, flag):
    """The on|off|auto default --help shows for `flag` ("--recv-bundle TEXT=off"), or None."""
    m = re.search(r"(?:^|[\s,])" + re.escape(flag) + r"(?![\w-])[^\n=]*=(on|off|auto)\b", help_text, re.M)
    return m.group(1) if m else None


def server_help(build):
    """duet-echo --help (duet-http takes the same server flags), or "" if it cannot run."""
    path = os.path.join(build, "apps", "echo", "duet-echo")
    try:
        r = subprocess.run([path, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return r.stdout + r.stderr


def switch_variants(help_text):
    """One variant per engine switch, flipped from the default --help shows -> (configs, notes).

    Named like the conformance configs: uring-bundle (turned on), uring-noinc (turned off).
    "auto" (on where the kernel has the feature) flips to off. A switch whose
    --help shows no default gets both an on and an off variant: one of them is
    the default, and the reader still sees the flip. A switch that needs I/O
    threads (suites.NEEDS_THREADS) runs with one.
    """
    configs, notes = [], []
    for flag, backend, on_name, off_name in suites.SWITCHES:
        default = default_of(help_text, flag)
        if default is None and knows(help_text, flag):
            notes.append(f"{flag}: duet-echo --help shows no default, so both its on and off variants run")
            values = ["on", "off"]
        else:
            values = ["on" if default in (None, "off") else "off"]
        for value in values:
            name = f"{backend}-{on_name if value == 'on' else off_name}"
            args = [flag, value] + suites.NEEDS_THREADS.get(flag, [])
            configs.append(Config(name, "duet", backend, args, variant=True))
    return configs, notes


def screen_flags(configs, help_text):
    """Drops variants whose flags the server does not know -> (kept, notes)."""
    if not help_text:   # no server to ask (a --dry-run before building): keep them, and say so
        named = [c.name for c in configs if c.variant]
        return configs, ([f"duet-echo --help did not run: variants {', '.join(named)} not checked"] if named else [])
    kept, notes = [], []
    for c in configs:
        unknown = [f for f in flags_of(c) if not knows(help_text, f)] if c.variant else []
        if unknown:
            notes.append(f"variant {c.name} skipped: the server does not know {', '.join(unknown)} "
                         f"(not in duet-echo --help; an older build?)")
        else:
            kept.append(c)
    return kept, notes


def screen_start(configs, build, server_cpus):
    """Starts each variant's server once; drops those that refuse (e.g. the kernel lacks the feature)."""
    from . import servers
    kept, notes = [], []
    probe = Case("echo", 1, size=128)
    for c in configs:
        if not c.variant:
            kept.append(c)
            continue
        server, err = servers.start(c, probe, build, server_cpus)
        if server:
            server.stop()
            kept.append(c)
        else:
            notes.append(f"variant {c.name} skipped: {err}")
    return kept, notes
