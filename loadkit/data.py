"""The run directory: atomic and incremental writes, and reading it back into pandas.

Layout (see docs/run-directory.md):
``run.json`` metadata, ``plan.json`` the traffic plan, ``scenario.yaml`` the resolved scenario (secrets
redacted), ``metrics.jsonl`` one row per (second, endpoint) and flush, ``arrivals.jsonl`` one row per
planned second and flush, ``errors.jsonl`` capped error samples, ``run.log``; then the reports.
Rows for the same key from several flushes or workers are summed when read.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .errors import DataError, OutputError

METRICS = "metrics.jsonl"
ARRIVALS = "arrivals.jsonl"
ERRORS = "errors.jsonl"
RUN_META = "run.json"
PLAN = "plan.json"
SCENARIO = "scenario.yaml"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def prepare_run_dir(path: Path) -> Path:
    """Create the run directory and prove it is writable, before any load is sent."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write the run directory {path} ({exc.strerror or exc}).",
                          "pass --out with a writable folder, or free some disk space") from None
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old version or the new one, never half of it."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; reports are meant to be shared
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise OutputError(f"cannot write {path} ({exc.strerror or exc}).",
                          "make the folder writable or free some disk space") from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def append_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    """Append rows as JSON lines and flush them to disk (an interrupted run keeps them)."""
    if not rows:
        return
    payload = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file; a truncated last line (a crash mid-write) is skipped."""
    if not path.exists():
        return []
    rows = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows


@dataclass(frozen=True)
class RunData:
    """Everything a run directory holds, read back for analysis."""

    path: Path
    meta: dict[str, Any]
    plan: dict[str, Any]
    scenario: dict[str, Any]
    metrics: pd.DataFrame  # t, endpoint, method, requests, bytes, failures, hist, ok_hist
    arrivals: pd.DataFrame  # t, started, late, dropped, users (closed model), lateness
    errors: list[dict[str, Any]]


def load_run(path: Path) -> RunData:
    """Read a run directory; raises DataError naming what is missing."""
    if not path.is_dir():
        raise DataError(f"{path}: no such run directory.", "pass a folder written by `loadkit run`")
    try:
        meta = json.loads((path / RUN_META).read_text(encoding="utf-8"))
        plan = json.loads((path / PLAN).read_text(encoding="utf-8"))
        scenario = yaml.safe_load((path / SCENARIO).read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise DataError(f"{path}: {Path(exc.filename).name} is missing; this is not a complete run directory.",
                        "pass a folder written by `loadkit run`") from None
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: a metadata file is unreadable ({exc}).",
                        "re-run the scenario; the data files cannot be trusted") from None
    metrics = pd.DataFrame(read_jsonl(path / METRICS),
                           columns=["t", "endpoint", "method", "requests", "failures", "bytes", "hist", "ok_hist"])
    arrivals = pd.DataFrame(read_jsonl(path / ARRIVALS),
                            columns=["t", "started", "late", "dropped", "users", "lateness"])
    return RunData(path=path, meta=meta, plan=plan, scenario=scenario, metrics=metrics, arrivals=arrivals,
                   errors=read_jsonl(path / ERRORS))
