"""The run directory: atomic and incremental writes, and reading it back into pandas.

Layout (see docs/run-directory.md):
``run.json`` metadata, ``plan.json`` the traffic plan, ``scenario.yaml`` the resolved scenario (secrets
redacted), ``metrics.jsonl`` one row per (second, endpoint) and flush, ``arrivals.jsonl`` one row per
planned second and flush (both rows defined in ``rows.py``), ``errors.jsonl`` capped error samples,
``scenario_errors.jsonl`` the scenario's own errors (counted apart), ``journeys.jsonl`` one row per
(second a visit began, journey) and flush, ``run.log``; then the reports.
Rows for the same key from several flushes or workers are summed when read.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from array import array
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import yaml

from .errors import DataError, DiskFullError, OutputError, UsageError, is_disk_full
from .rows import ARRIVAL_COLUMNS, METRIC_COLUMNS
from .run_meta import EMPTY, RunMeta, frozen_json
from .scenario import Scenario, saved_scenario
from .traffic import Plan, plan_from_dict
from .disk import (RESERVE, RESERVE_BYTES, check_disk_space, estimate_run_bytes, hold_reserve,
                   release_reserve)

METRICS = "metrics.jsonl"
ARRIVALS = "arrivals.jsonl"
ERRORS = "errors.jsonl"
SCENARIO_ERRORS = "scenario_errors.jsonl"  # the scenario's own mistakes, never counted against the site
JOURNEYS = "journeys.jsonl"  # per second a visit began and journey: completed, failed (step, kind), cut short
RUN_META = "run.json"
PLAN = "plan.json"
SCENARIO = "scenario.yaml"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def prepare_run_dir(path: Path, needed_bytes: int = 0) -> Path:
    """Create the run directory and prove it is writable, before any load is sent.

    A directory that already holds a run is refused: appending a second run's data to the first's
    would corrupt both. A disk with less than ``needed_bytes`` free (see :func:`estimate_run_bytes`) is
    refused before anything is created.
    """
    if any((path / name).exists() for name in (METRICS, ARRIVALS, RUN_META)):
        raise UsageError(f"{path} already holds a run.",
                         "pass --out with a new folder (or delete the old run first)")
    check_disk_space(path, needed_bytes)
    created = [parent for parent in (path, *path.parents) if not parent.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        with contextlib.suppress(OSError):
            (path / ".write-test").unlink(missing_ok=True)
        for folder in created:  # leave no empty folders behind a refused run
            try:
                folder.rmdir()
            except OSError:
                break
        if is_disk_full(exc):
            raise DiskFullError(f"cannot write the run directory {path}: the disk is full.",
                                "free some disk space, or pass --out on a disk with room") from None
        raise OutputError(f"cannot write the run directory {path} ({exc.strerror or exc}).",
                          "pass --out with a writable folder, or free some disk space") from None
    return path


@contextmanager
def prepared_run_dir(path: Path, needed_bytes: int = 0) -> Iterator[Path]:
    """:func:`prepare_run_dir` for the length of a run: if the run is refused before it writes anything (an
    exception leaves the directory empty), the folders this call created are removed again, so a refused
    run leaves no empty run directory. A folder that existed before, or holds anything, is left alone."""
    created: list[Path] = []
    folder = path.absolute()
    while not folder.exists() and folder != folder.parent:
        created.append(folder)
        folder = folder.parent
    try:
        prepare_run_dir(path, needed_bytes)
        yield path
    except BaseException:
        for folder in created:  # deepest first
            try:
                folder.rmdir()  # only an empty folder goes
            except OSError:
                break
        raise


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
        if is_disk_full(exc):
            raise DiskFullError(f"cannot write {path}: the disk is full.",
                                "free some disk space, or pass --out on a disk with room") from None
        raise OutputError(f"cannot write {path} ({exc.strerror or exc}).",
                          "make the folder writable or free some disk space") from None


def sync_to_disk(paths: list[Path]) -> None:
    """Wait until what was appended to ``paths`` (those that exist) is on the disk."""
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False) + "\n")


def append_jsonl(path: Path, rows: list[dict[str, Any]], durable: bool = True) -> None:
    """Append rows as JSON lines and hand them to the operating system, which keeps them when the process is
    killed. ``durable``: also wait until they are on the disk (which keeps them through a crash of the machine
    too); a load process appending mid-run passes False, since that wait lasts as long as the disk is busy
    with everyone's writes (tens of milliseconds on a busy machine), and its event loop would stand still."""
    if not rows:
        return
    payload = "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(payload)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
    except OSError as exc:
        if is_disk_full(exc):  # a torn last line is skipped when read back
            raise DiskFullError(f"cannot append to {path}: the disk is full.",
                                "free some disk space, or pass --out on a disk with room") from None
        raise


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
class HistogramTable:
    """One histogram per metrics row, stored flat: every row's (bucket, count) pairs end to end.

    Row ``r`` owns entries ``offsets[r]:offsets[r + 1]``; ``row`` repeats each row number over its
    entries. Kept as numpy arrays, an hour of per-second histograms takes tens of MB, not GB of Python
    objects.
    """

    idx: np.ndarray  # int32 bucket index per entry
    cnt: np.ndarray  # int32 count per entry (a bucket of one second and endpoint)
    lens: np.ndarray  # int64 entries per row
    max_us: np.ndarray  # int64 per row
    sum_us: np.ndarray  # int64 per row

    @property
    def row(self) -> np.ndarray:
        """The row number of every entry."""
        return self.per_entry(np.arange(len(self.lens), dtype=np.int32))

    def per_entry(self, values: np.ndarray) -> np.ndarray:
        """A per-row array repeated over each row's entries."""
        return np.repeat(values, self.lens)

    @classmethod
    def of(cls, hists: list[dict[str, Any]]) -> HistogramTable:
        """Build from ``Histogram.to_dict()`` documents."""
        builder = _TableBuilder()
        for h in hists:
            builder.add(h)
        return builder.build()


class _TableBuilder:
    """Accumulates histograms into compact arrays while a file is read."""

    def __init__(self) -> None:
        self.idx, self.cnt = array("i"), array("i")
        self.lens, self.max_us, self.sum_us = array("q"), array("q"), array("q")

    def add(self, h: dict[str, Any] | None) -> None:
        h = h or {}
        i, c = h.get("i") or [], h.get("c") or []
        self.idx.extend(i)
        self.cnt.extend(c)
        self.lens.append(len(i))
        self.max_us.append(int(h.get("max", 0)))
        self.sum_us.append(int(h.get("sum", 0)))

    def build(self) -> HistogramTable:
        return HistogramTable(idx=np.frombuffer(self.idx, dtype=np.int32) if len(self.idx) else
                              np.zeros(0, np.int32),
                              cnt=np.frombuffer(self.cnt, dtype=np.int32) if len(self.cnt) else np.zeros(0, np.int32),
                              lens=np.frombuffer(self.lens, dtype=np.int64) if len(self.lens) else
                              np.zeros(0, np.int64),
                              max_us=np.frombuffer(self.max_us, dtype=np.int64) if len(self.max_us) else
                              np.zeros(0, np.int64),
                              sum_us=np.frombuffer(self.sum_us, dtype=np.int64) if len(self.sum_us) else
                              np.zeros(0, np.int64))


_NO_FAILURES: dict[str, int] = {}  # shared by every row without failures (read, never written)


def read_metrics(path: Path) -> tuple[pd.DataFrame, HistogramTable, HistogramTable]:
    """``metrics.jsonl`` as a frame of scalar columns plus two row-aligned histogram tables.

    Read line by line (a truncated last line is skipped), so memory holds compact arrays, never
    the whole file's parsed JSON.
    """
    columns: dict[str, list[Any]] = {name: [] for name in METRIC_COLUMNS}
    hist, ok = _TableBuilder(), _TableBuilder()
    if path.exists():
        with path.open("rb") as handle:
            for line in handle:
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if not isinstance(row, dict):
                    continue
                for name in METRIC_COLUMNS:
                    value = row.get(name)
                    if isinstance(value, str):
                        value = sys.intern(value)  # endpoint and method names repeat on every row
                    elif name == "failures" and not value:
                        value = _NO_FAILURES
                    columns[name].append(value)
                hist.add(row.get("hist"))
                ok.add(row.get("ok_hist"))
    frame = pd.DataFrame(columns)
    if not frame.empty:
        frame["t"] = frame["t"].astype(np.int64)
        frame["requests"] = frame["requests"].astype(np.int64)
        frame["bytes"] = frame["bytes"].fillna(0).astype(np.int64)
        frame["offsite_redirects"] = frame["offsite_redirects"].fillna(0).astype(np.int64)
    return frame, hist.build(), ok.build()


@dataclass(frozen=True)
class RunData:
    """Everything a run directory holds, read back for analysis."""

    path: Path
    meta: RunMeta
    plan: Plan
    scenario: Scenario  # the saved scenario (scenario.yaml), validated again
    metrics: pd.DataFrame  # METRIC_COLUMNS: t, endpoint, method, requests, failures, bytes, offsite_redirects, ...
    hist: HistogramTable  # all requests' latency, row-aligned with metrics
    ok_hist: HistogramTable  # successful requests' latency, row-aligned with metrics
    arrivals: pd.DataFrame  # t, started, late, dropped, users (closed model), lateness, hiccup_ms, cpu
    errors: list[dict[str, Any]]
    scenario_errors: list[dict[str, Any]] = field(default_factory=list)  # rows of scenario_errors.jsonl
    # scenario.yaml as saved (secrets redacted), frozen: the report shows it as written
    scenario_document: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    journeys: list[dict[str, Any]] = field(default_factory=list)  # rows of journeys.jsonl (absent in older runs)


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
    if not isinstance(meta, dict) or not isinstance(plan, dict):
        raise DataError(f"{path}: {RUN_META} or {PLAN} is not a JSON object.",
                        "re-run the scenario; the data files cannot be trusted")
    try:
        typed_plan = plan_from_dict(plan)
    except (KeyError, TypeError, ValueError) as exc:
        raise DataError(f"{path / PLAN}: the traffic plan is unreadable ({type(exc).__name__}: {exc}).",
                        "re-run the scenario, or restore plan.json as `loadkit run` wrote it") from None
    metrics, hist, ok_hist = read_metrics(path / METRICS)
    arrivals = pd.DataFrame(read_jsonl(path / ARRIVALS), columns=list(ARRIVAL_COLUMNS))
    return RunData(path=path, meta=RunMeta.from_json(meta), plan=typed_plan,
                   scenario=saved_scenario(scenario, str(path / SCENARIO)), metrics=metrics, hist=hist,
                   ok_hist=ok_hist, arrivals=arrivals, errors=read_jsonl(path / ERRORS),
                   scenario_errors=read_jsonl(path / SCENARIO_ERRORS), journeys=read_jsonl(path / JOURNEYS),
                   scenario_document=frozen_json(scenario) if isinstance(scenario, dict) else EMPTY)


__all__ = ["ARRIVALS", "ERRORS", "JOURNEYS", "METRICS", "PLAN", "RESERVE", "RESERVE_BYTES", "RUN_META", "SCENARIO",
           "SCENARIO_ERRORS", "HistogramTable", "RunData", "append_jsonl", "check_disk_space", "estimate_run_bytes",
           "hold_reserve", "load_run", "prepare_run_dir", "prepared_run_dir", "read_jsonl", "read_metrics",
           "release_reserve", "sync_to_disk", "write_json_atomic", "write_text_atomic"]
