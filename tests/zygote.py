"""A warm process that forks ``loadkit run`` and ``loadkit worker`` commands for the tests.

A fresh ``python -m loadkit run`` spends about 1.8 s of CPU importing Locust, gevent, pandas and loadkit
before it sends a request; a short test run spends less than that on the run itself, and the suite starts a
few hundred of them on two cores. This server imports what such a command imports, in the order it does
(``loadkit.cli``, then the run stage, whose import of Locust monkey-patches the process with gevent), once,
and forks a child per command. The child takes the caller's argv, environment, working directory and standard
streams, runs ``loadkit.cli.main`` as ``python -m loadkit`` would, and exits with its code. Only the imports
are shared: no command has run in the server, so every child starts from the state a fresh process has after
its imports. ``LOADKIT_TEST_FORK=0`` turns this off (tests/helpers.py then starts real processes).

Protocol over a Unix socket, one connection per command: the client sends one JSON line
``{"argv", "env", "cwd"}`` with three file descriptors (stdin, stdout, stderr); the server answers
``pid N`` when the child is started and ``status N`` when it has ended (N as ``subprocess`` gives it:
the exit code, or minus the signal that killed it).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import socket
import sys
import traceback
from typing import Any

# What ``python -m loadkit run`` imports, in its order: the command line and the run stage's package; httpcore
# (and trio, when installed: it needs the ``select.epoll`` that gevent's patching removes), which the preflight's
# first client imports; then Locust, whose import monkey-patches the process; then what the run reads after.
import loadkit.cli
import loadkit.run
import httpcore  # noqa: F401
import loadkit.run.load
import loadkit.run.master
import loadkit.run.worker
import loadkit.report
import loadkit.baseline

import gevent.os
import gevent.select

MAX_REQUEST = 1 << 20


def _child(request: dict[str, Any], fds: list[int], conn: socket.socket, others: list[socket.socket]) -> None:
    """In the forked child: become the command, run it, exit with its code (never returns)."""
    code = 1
    try:
        for other in others:
            other.close()
        for target, fd in zip((0, 1, 2), fds, strict=True):
            os.dup2(fd, target)
            os.close(fd)
        conn.close()
        if hasattr(os, "sched_setscheduler"):  # the priority of the test that asked (tests/conftest.py)
            policy, nice = request["priority"]
            with contextlib.suppress(OSError):
                os.sched_setscheduler(0, policy, os.sched_param(0))
                os.setpriority(os.PRIO_PROCESS, 0, nice)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[0] = os.getcwd()  # as ``python -m``: the working directory first
        sys.argv = [os.path.join(os.path.dirname(loadkit.cli.__file__), "__main__.py"), *request["argv"]]
        try:
            code = loadkit.cli.main(request["argv"])
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            if stop.code is not None and not isinstance(stop.code, int):
                print(stop.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001  (as the interpreter: print it, exit 1)
            traceback.print_exc()
            code = 1
        try:
            atexit._run_exitfuncs()
        except BaseException:  # noqa: BLE001  (as the interpreter: an exit handler's error is printed)
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve(path: str) -> None:
    """Accept commands on the Unix socket ``path`` until standard input closes (the test worker ended)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    conns: dict[int, socket.socket] = {}

    def ended(watcher: Any) -> None:
        conn = conns.pop(watcher.pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):  # a few bytes on a local socket: sent at once, no wait in the hub
                conn.send(f"status {os.waitstatus_to_exitcode(watcher.rstatus)}\n".encode())
            conn.close()

    gc.freeze()  # the imported objects stay shared with every child: its collector need not touch (copy) them
    print("ready", flush=True)
    while True:
        # one wait for both: a command, or the end of stdin (the test worker that started us ended or died);
        # the child runs in this, the main greenlet, as a fresh process would
        readable, _, _ = gevent.select.select([listener, sys.stdin.fileno()], [], [])
        if sys.stdin.fileno() in readable and not os.read(sys.stdin.fileno(), 1):
            break
        if listener not in readable:
            continue
        conn, _ = listener.accept()
        message, fds, _flags, _addr = socket.recv_fds(conn, MAX_REQUEST, 3)
        request = json.loads(message.decode())
        pid = gevent.os.fork_and_watch(callback=ended)
        if pid == 0:
            listener.close()
            _child(request, fds, conn, list(conns.values()))
        for fd in fds:
            os.close(fd)
        conns[pid] = conn
        conn.sendall(f"pid {pid}\n".encode())
    listener.close()


if __name__ == "__main__":
    serve(sys.argv[1])
