"""The errors a user can fix, and the process exit codes.

Library code raises a :class:`LoadkitError` subclass; only the CLI catches it, prints its one-line
message (with the hint on how to fix it) and returns the error's exit code. Nothing else calls
``sys.exit``.
"""

from __future__ import annotations

import errno
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes: part of the command-line contract."""

    SURVIVES = 0  # also at-risk, unless --strict
    FAILS = 1  # the site failed (or was at risk, with --strict); also a compare regression
    USAGE = 2  # bad arguments or a bad scenario: the user must change something
    INCONCLUSIVE = 3  # the test, not the site, failed: no verdict could be given, or interrupted
    OUT_OF_DISK = 4  # not enough disk for the run (refused before any load), or reports/data left unwritten


class LoadkitError(Exception):
    """Base of every error a user can fix. ``str(err)`` is one line: the problem, then the fix."""

    exit_code: ExitCode = ExitCode.USAGE

    def __init__(self, problem: str, fix: str | None = None) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem} Fix: {fix}" if fix else problem)


class ScenarioError(LoadkitError):
    """A scenario file is malformed; the message names the file, the field path and the fix."""

    exit_code = ExitCode.USAGE


class UsageError(LoadkitError):
    """Bad command-line arguments or configuration."""

    exit_code = ExitCode.USAGE


class OutputError(LoadkitError):
    """The run directory cannot be created or written."""

    exit_code = ExitCode.USAGE


class TargetError(LoadkitError):
    """The target did not answer the preflight check: no load was sent."""

    exit_code = ExitCode.INCONCLUSIVE


class RunError(LoadkitError):
    """The load generator itself failed (a worker did not come, the demo site did not start)."""

    exit_code = ExitCode.INCONCLUSIVE


class DataError(LoadkitError):
    """A run directory is missing or has unreadable data files."""

    exit_code = ExitCode.USAGE


class DiskFullError(OutputError):
    """The disk of the run directory is full, or too full for the run: its own exit code, so CI can tell
    a full disk from a bad scenario."""

    exit_code = ExitCode.OUT_OF_DISK


def is_disk_full(exc: OSError) -> bool:
    """Whether an OSError means the disk (or the user's quota) is full."""
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)
