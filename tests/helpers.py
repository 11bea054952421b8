"""Helpers shared by the tests: CLI runs in a subprocess, scenario files, summaries."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def run_child(code: str, timeout: float = 60) -> dict[str, Any]:
    """Run Python ``code`` in a child process (the run stage's gevent stays out of the test process) and
    return the JSON object it printed last."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# Commands a warm server forks instead of a new interpreter (tests/zygote.py): those that import the run stage.
FORKED_COMMANDS = frozenset({"run", "worker"})
# Variables read while Locust or gevent are imported: a command given one of these gets a fresh interpreter.
_IMPORT_TIME_VARIABLES = ("LOCUST_", "GEVENT", "PYTHON")


class _Zygote:
    """This test process's warm server (tests/zygote.py), started on first use, gone when this process ends."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="loadkit-zygote-")
        self.path = os.path.join(self.folder, "socket")
        self.env = _child_env()
        # in the idle class: its imports would pause other tests' load; each child takes its caller's priority
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.zygote", self.path], cwd=ROOT, env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     preexec_fn=in_background)
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", "zygote did not start"
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()  # the server leaves at the end of its stdin
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self, args: tuple[str, ...], env: dict[str, str], cwd: Path) -> _Forked:
        """Fork one ``python -m loadkit ARGS``; its output goes to temporary files."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115  (_Forked.wait closes them)
        with open(os.devnull, "rb") as stdin:
            request = json.dumps({"argv": list(args), "env": env, "cwd": str(cwd), "priority": _priority()}).encode()
            socket.send_fds(conn, [request], [stdin.fileno(), out.fileno(), err.fileno()])
        reply = conn.makefile("r", encoding="utf-8")
        kind, _, pid = reply.readline().partition(" ")
        assert kind == "pid", f"zygote refused the command: {kind!r}"
        return _Forked(args, int(pid), conn, reply, out, err)


class _Forked:
    """A command forked by the zygote: wait for it as ``subprocess.run`` would."""

    def __init__(self, args: tuple[str, ...], pid: int, conn: socket.socket, reply: Any, out: Any, err: Any) -> None:
        self.args, self.pid, self.conn, self.reply, self.out, self.err = args, pid, conn, reply, out, err

    def wait(self, timeout: float) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "loadkit", *self.args]
        self.conn.settimeout(timeout)
        try:
            kind, _, status = self.reply.readline().partition(" ")
            returncode = int(status) if kind == "status" else -signal.SIGKILL  # no status: the server went away
            texts = []
            for stream in (self.out, self.err):
                stream.seek(0)
                texts.append(stream.read().decode("utf-8", errors="replace"))
        except TimeoutError:
            os.kill(self.pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired(argv, timeout) from None
        finally:
            for closing in (self.reply, self.conn, self.out, self.err):
                closing.close()
        return subprocess.CompletedProcess(argv, returncode, texts[0], texts[1])


def in_background() -> None:
    """For ``preexec_fn``: the child runs in the idle scheduling class, so that its CPU-bound work (a wheel
    build, an install) pauses no load generator that runs beside it (tests/conftest.py)."""
    if hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _priority() -> tuple[int, int]:
    """This thread's scheduling class and nice value (tests/conftest.py sets them per test): a forked command
    takes them, as a child process started here would."""
    if not hasattr(os, "sched_getscheduler"):
        return (0, 0)
    return (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0))


_zygote: _Zygote | None = None


def _forked(args: tuple[str, ...], env: dict[str, str], cwd: Path) -> _Forked | None:
    """Start the command in the zygote when it is one it serves, else None (then: a fresh interpreter)."""
    global _zygote
    if os.environ.get("LOADKIT_TEST_FORK", "1") == "0" or not args or args[0] not in FORKED_COMMANDS:
        return None
    warm = _child_env()
    if any(name.startswith(_IMPORT_TIME_VARIABLES) and warm.get(name) != env.get(name) for name in {*env, *warm}):
        return None
    if _zygote is None:
        _zygote = _Zygote()
    return _zygote.start(args, env, cwd)


def _child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a ``python -m loadkit`` child: this process's, ``env``, and this tree first on the path."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return full_env


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run ``python -m loadkit ARGS``: in a subprocess, or for ``run``/``worker`` a child forked by this test
    process's warm server (tests/zygote.py: the same code from the same imports, without paying for them)."""
    full_env = _child_env(env)
    forked = _forked(args, full_env, cwd or ROOT)
    if forked is not None:
        return forked.wait(timeout)
    return subprocess.run([sys.executable, "-m", "loadkit", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def run_cli_parallel(*commands: tuple[str, ...], timeout: float = 240) -> list[subprocess.CompletedProcess[str]]:
    """Run several ``python -m loadkit`` commands at once (independent runs against separate targets)."""
    env = _child_env()
    started: list[_Forked | subprocess.Popen[str]] = []
    for args in commands:
        forked = _forked(args, env, ROOT)
        started.append(forked if forked is not None else subprocess.Popen(
            [sys.executable, "-m", "loadkit", *args], cwd=ROOT, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for args, proc in zip(commands, started, strict=True):
        if isinstance(proc, _Forked):
            results.append(proc.wait(timeout))
            continue
        out, err = proc.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess([sys.executable, "-m", "loadkit", *args], proc.returncode,
                                                   out, err))
    return results


def write_scenario(path: Path, document: dict[str, Any]) -> Path:
    """Write a scenario document as YAML."""
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def rehearsal_requests(run_dir: Path) -> int:
    """Requests the rehearsal sent before the load (one visit per journey at rest; not measured), from run.json."""
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return int((meta.get("rehearsal") or {}).get("requests", 0))


def read_summary(run_dir: Path) -> dict[str, Any]:
    """summary.json of a run directory."""
    return json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
