"""A local server in a child process that says ``listening URL`` once it listens (the demo storefront, the
calibration's catch-all server).

The child's output goes to a temporary file, not a pipe: no reader threads, so the parent may be
gevent-patched later (patching after threads exist deadlocks). The child appends through its own handle and
the parent reads through another: a shared handle would share one file offset, and the parent's rewinding
would make the child overwrite its own first line.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO


class ListeningChild:
    """Start ``cmd``, wait for its ``listening URL`` line; stop it and remove its output file."""

    def __init__(self, log_prefix: str) -> None:
        self.log_prefix = log_prefix
        self.last_line = ""  # the child's last line of output, for the error when it did not start
        self._proc: subprocess.Popen[str] | None = None
        self._log: IO[str] | None = None
        self._log_path: str | None = None

    def start(self, cmd: list[str], timeout: float) -> str | None:
        """The URL the child listens on, or None (then it is stopped, and ``last_line`` says why)."""
        fd, self._log_path = tempfile.mkstemp(prefix=self.log_prefix, suffix=".log")
        os.close(fd)
        with open(self._log_path, "a", encoding="utf-8") as child_out:
            self._proc = subprocess.Popen(cmd, stdout=child_out, stderr=subprocess.STDOUT, text=True,
                                          env=dict(os.environ, PYTHONUNBUFFERED="1"))
        self._log = open(self._log_path, encoding="utf-8")  # noqa: SIM115 - closed in stop()
        deadline, output = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            self._log.seek(0)
            output = self._log.read()
            complete = output.split("\n")[:-1]  # a line still being written is not read yet
            line = next((ln for ln in complete if ln.startswith("listening ")), None)
            if line is not None:
                return line.split(" ", 1)[1].strip()
            if self._proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        self.last_line = (output.strip().splitlines() or ["no output"])[-1]
        return None

    @property
    def started(self) -> bool:
        """A child was started and not stopped since."""
        return self._proc is not None

    def stop(self) -> None:
        """Stop the process (terminate, then kill after a grace period) and remove its output file."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._log_path is not None:
            Path(self._log_path).unlink(missing_ok=True)
            self._log_path = None
