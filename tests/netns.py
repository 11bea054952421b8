"""Separate hosts on one machine: Linux network namespaces on a bridge, each with its own address.

``with Hosts(["target", "master", "w0", "w1"]) as hosts:`` builds one namespace per host (its own network
stack: interfaces, routes, ports, and a loopback left down, so nothing reaches another host through it),
plus a switch namespace holding a bridge; each host is joined to the bridge by a veth pair and gets an
address from 198.18.0.0/15 (RFC 2544's benchmarking range, never routed anywhere). ``hosts.popen(name,
argv)`` starts a process on a host, with its own hostname (a UTS namespace: ``unshare --uts``), as a
program on another machine would see itself. Everything is removed on exit (deleting a namespace removes
its interfaces). Needs root and ``ip netns``: :func:`unavailable` says why not, for a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SUBNET = "198.18.0"  # /24 inside 198.18.0.0/15


def unavailable() -> str | None:
    """Why separate hosts cannot be built here (a sentence for pytest.skip), or None when they can."""
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, as .ci/run does)"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian: iproute2, util-linux)"
    probe = f"lkprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed here ({made.stderr.strip() or made.returncode}): no network namespaces"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")


class Hosts:
    """Named hosts, each in its own network namespace, on one bridge."""

    def __init__(self, names: Sequence[str]) -> None:
        self.tag = f"lk{os.getpid() % 100000}"
        self.names = list(names)
        self.switch = f"{self.tag}-sw"
        self.address = {name: f"{SUBNET}.{10 + i}" for i, name in enumerate(self.names)}
        self.procs: list[subprocess.Popen[Any]] = []

    def netns(self, name: str) -> str:
        """The namespace of host ``name``."""
        return f"{self.tag}-{name}"

    def __enter__(self) -> Hosts:
        try:
            _ip("netns", "add", self.switch)
            _ip("link", "add", "br0", "type", "bridge", netns=self.switch)
            _ip("link", "set", "br0", "up", netns=self.switch)
            for i, name in enumerate(self.names):
                ns, port = self.netns(name), f"p{i}"
                _ip("netns", "add", ns)
                # the host's end is created in the switch namespace, then moved to the host as eth0
                _ip("link", "add", port, "type", "veth", "peer", "name", f"h{i}", netns=self.switch)
                _ip("link", "set", f"h{i}", "netns", ns, "name", "eth0", netns=self.switch)
                _ip("link", "set", port, "master", "br0", netns=self.switch)
                _ip("link", "set", port, "up", netns=self.switch)
                _ip("addr", "add", f"{self.address[name]}/24", "dev", "eth0", netns=ns)
                _ip("link", "set", "eth0", "up", netns=ns)
        except BaseException:
            self.__exit__()
            raise
        return self

    def popen(self, name: str, argv: Sequence[str], *, log: Path, env: dict[str, str] | None = None,
              wrap: Sequence[str] = ()) -> subprocess.Popen[bytes]:
        """Start ``argv`` on host ``name`` (its hostname is ``name``), output to ``log``; ``wrap``: a
        command put in front of it on that host (``faketime``)."""
        script = 'hostname "$1" && shift && exec "$@"'
        command = ["ip", "netns", "exec", self.netns(name), "unshare", "--uts", "sh", "-c", script, "sh",
                   name, *wrap, *argv]
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.procs.append(proc)
        return proc

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        for ns in [self.netns(n) for n in self.names] + [self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
