"""Run history: every run directory under a folder, per scenario, with the changes between runs.

Pure reading: summary.json (any schema version: unknown fields are ignored, missing ones are None) and
run.json of each run directory; a damaged directory is skipped with a note, never fails the history.
Consecutive runs of a scenario are compared with :func:`loadkit.compare.compare_runs`, the same
statistics as ``loadkit compare`` (a block bootstrap over each run's per-second histograms), for the
latest ``compare_last`` pairs of each scenario; older pairs are listed without a comparison, which keeps
a history of hundreds of runs to a few seconds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compare import Comparison

COMPARE_LAST = 20  # consecutive pairs compared per scenario (the newest); older runs are listed only

# CI systems' variables for the commit and branch a run tested, in the order they are tried.
_COMMIT_VARS = ("GITHUB_SHA", "CI_COMMIT_SHA", "BUILDKITE_COMMIT", "CIRCLE_SHA1", "GIT_COMMIT", "BUILD_SOURCEVERSION")
_BRANCH_VARS = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH", "CIRCLE_BRANCH",
                "GIT_BRANCH", "BUILD_SOURCEBRANCHNAME")


def ci_context(environ: Mapping[str, str]) -> dict[str, str]:
    """The commit, branch and job link of the CI job running loadkit, from its environment (empty when
    not in CI). Recorded in run.json so a history can say which change each run tested."""
    out: dict[str, str] = {}
    commit = next((environ[v] for v in _COMMIT_VARS if environ.get(v)), None)
    branch = next((environ[v] for v in _BRANCH_VARS if environ.get(v)), None)
    if commit:
        out["commit"] = commit
    if branch:
        out["branch"] = branch
    if environ.get("GITHUB_SERVER_URL") and environ.get("GITHUB_REPOSITORY") and environ.get("GITHUB_RUN_ID"):
        out["job_url"] = (f"{environ['GITHUB_SERVER_URL']}/{environ['GITHUB_REPOSITORY']}/actions/runs/"
                          f"{environ['GITHUB_RUN_ID']}")
    elif environ.get("CI_JOB_URL"):
        out["job_url"] = environ["CI_JOB_URL"]
    return out

if TYPE_CHECKING:
    from .compare import Comparison


@dataclass(frozen=True)
class EndpointFigures:
    """One endpoint's figures in one run."""

    name: str
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None


@dataclass(frozen=True)
class JourneyFigures:
    """One journey's figures in one run (summary.json's ``journeys``; runs before journeys were results
    have none)."""

    name: str
    started: int
    completed: int
    success_rate: float | None
    p95_ms: float | None  # of the completed visits' durations


@dataclass(frozen=True)
class RunEntry:
    """One run directory, as the history shows it."""

    path: Path
    scenario: str
    started_at: str
    verdict: str
    complete: bool
    interrupted: bool
    schema_version: int
    commit: str | None
    branch: str | None
    capacity: float | None
    capacity_found: bool
    headroom: float | None  # over the planned peak; a search's over its required rate
    p95_ms: float | None
    p99_ms: float | None
    error_rate: float | None
    endpoints: tuple[EndpointFigures, ...] = ()
    journeys: tuple[JourneyFigures, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # summary.json as read
    change: str | None = None  # regression | improvement | uncertain | no change | not compared | None (first)
    change_details: tuple[str, ...] = ()
    capacity_figure: str | None = None  # a capacity search's bracket as its report prints it ("between 50/s and 54/s")
    search: bool = False  # a capacity search (profile: search): compared by the capacity it found

    @property
    def has_report(self) -> bool:
        """Whether the run directory holds its report.html."""
        return (self.path / "report.html").is_file()


@dataclass(frozen=True)
class ScenarioHistory:
    """Every run of one scenario, oldest first."""

    name: str
    runs: tuple[RunEntry, ...]


@dataclass(frozen=True)
class History:
    """A folder's run history."""

    root: Path
    scenarios: tuple[ScenarioHistory, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)  # skipped directories, with why

    @property
    def run_count(self) -> int:
        """Runs read."""
        return sum(len(s.runs) for s in self.scenarios)


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def read_entry(run_dir: Path) -> RunEntry:
    """One run directory's entry; raises ``ValueError`` with a reason when it cannot be read."""
    try:
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"summary.json unreadable ({exc.__class__.__name__})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("run"), dict):
        raise ValueError("summary.json is not a loadkit summary")
    run = summary["run"]
    try:
        meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        meta = {}
    ci: dict[str, Any] = meta["ci"] if isinstance(meta, dict) and isinstance(meta.get("ci"), dict) else {}
    cap: dict[str, Any] = summary["capacity"] if isinstance(summary.get("capacity"), dict) else {}
    search = cap.get("search") if isinstance(cap.get("search"), dict) else None
    headroom = _num(cap.get("headroom"))
    if search is not None and "required_per_s" not in search:
        headroom = None  # a search summarised before its headroom was read against its required rate
    totals: dict[str, Any] = summary["totals"] if isinstance(summary.get("totals"), dict) else {}
    endpoints = tuple(EndpointFigures(name=str(e.get("name")), p95_ms=_num(e.get("p95_ms")),
                                      p99_ms=_num(e.get("p99_ms")), error_rate=_num(e.get("error_rate")))
                      for e in summary.get("endpoints") or [] if isinstance(e, dict))
    journeys = tuple(JourneyFigures(name=str(j.get("name")), started=int(_num(j.get("started")) or 0),
                                    completed=int(_num(j.get("completed")) or 0),
                                    success_rate=_num(j.get("success_rate")), p95_ms=_num(j.get("p95_ms")))
                     for j in summary.get("journeys") or [] if isinstance(j, dict))
    return RunEntry(
        path=run_dir, scenario=str(run.get("scenario") or run_dir.name), started_at=str(run.get("started_at") or ""),
        verdict=str(summary.get("verdict") or "unknown"), complete=bool(run.get("complete")),
        interrupted=bool(run.get("interrupted")), schema_version=int(summary.get("schema_version") or 0),
        commit=ci.get("commit"), branch=ci.get("branch"), capacity=_num(cap.get("arrivals_per_s")),
        capacity_found=bool(cap.get("found")), headroom=headroom, p95_ms=_num(totals.get("p95_ms")),
        p99_ms=_num(totals.get("p99_ms")), error_rate=_num(totals.get("error_rate")), endpoints=endpoints,
        journeys=journeys, summary=summary,
        capacity_figure=str(cap["figure"]) if search is not None and isinstance(cap.get("figure"), str) else None,
        search=search is not None)


def collect(root: Path) -> History:
    """Read every run directory under ``root`` (any depth), grouped by scenario, oldest first."""
    entries: list[RunEntry] = []
    notes: list[str] = []
    for summary in sorted(root.rglob("summary.json")):
        run_dir = summary.parent
        try:
            entries.append(read_entry(run_dir))
        except ValueError as exc:
            notes.append(f"{os.path.relpath(run_dir, root)}: skipped, {exc}.")
    by_scenario: dict[str, list[RunEntry]] = {}
    for entry in entries:
        by_scenario.setdefault(entry.scenario, []).append(entry)
    scenarios = tuple(ScenarioHistory(name, tuple(sorted(runs, key=lambda r: (r.started_at, str(r.path)))))
                      for name, runs in sorted(by_scenario.items()))
    return History(root=root, scenarios=scenarios, notes=tuple(notes))


def mark_changes(history: History, compare_last: int = COMPARE_LAST, min_change: float = 0.10) -> History:
    """Compare each run with the one before it (the newest ``compare_last`` pairs of each scenario)."""
    from .compare import compare_runs
    from .data import load_run
    from .report.comparison import describe_change

    notes = list(history.notes)
    scenarios = []
    for scenario in history.scenarios:
        runs = list(scenario.runs)
        first_compared = max(1, len(runs) - compare_last)
        for i in range(1, len(runs)):
            base, new = runs[i - 1], runs[i]
            if i < first_compared:
                runs[i] = replace(new, change="not compared", change_details=(
                    f"older than the newest {compare_last} runs of the scenario",))
                continue
            if not (base.complete and new.complete) or base.interrupted or new.interrupted:
                runs[i] = replace(new, change="not compared", change_details=("one of the two runs did not finish",))
                continue
            if base.search != new.search:
                runs[i] = replace(new, change="not compared", change_details=(
                    "one run is a capacity search, the other a planned load: their figures do not compare",))
                continue
            try:
                comparison = compare_runs(load_run(base.path), load_run(new.path), min_change=min_change,
                                          summaries=(base.summary, new.summary))
            except Exception as exc:  # a damaged data file: note it, keep the history  # noqa: BLE001
                notes.append(f"{os.path.relpath(new.path, history.root)}: not compared with the run before it "
                             f"({exc.__class__.__name__}).")
                runs[i] = replace(new, change="not compared", change_details=("its data could not be read",))
                continue
            change = overall_change(comparison)
            details = tuple(f"{c.metric} of {c.endpoint}: {describe_change(c)}" for c in comparison.changes
                            if c.decision in ("regression", "improvement"))
            runs[i] = replace(new, change=change, change_details=details + tuple(comparison.notes))
        scenarios.append(ScenarioHistory(scenario.name, tuple(runs)))
    return History(root=history.root, scenarios=tuple(scenarios), notes=tuple(notes))


def overall_change(comparison: Comparison) -> str:
    """One word for a comparison, worst first: regression, improvement, uncertain, no change, or "not
    compared" when no figure could be (two searches of which one judged no level, runs too short)."""
    decisions = {c.decision for c in comparison.changes}
    if decisions <= {"not compared"}:
        return "not compared"
    return next((d for d in ("regression", "improvement", "uncertain") if d in decisions), "no change")


def history_dict(history: History, out_dir: Path) -> dict[str, Any]:
    """``history.json``: per scenario, every run's figures; report links relative to ``out_dir``."""
    def run_doc(r: RunEntry) -> dict[str, Any]:
        return {"run_dir": os.path.relpath(r.path, out_dir),
                "report": os.path.relpath(r.path / "report.html", out_dir) if r.has_report else None,
                "started_at": r.started_at, "verdict": r.verdict, "complete": r.complete,
                "interrupted": r.interrupted, "schema_version": r.schema_version, "commit": r.commit,
                "branch": r.branch, "capacity": {"arrivals_per_s": r.capacity, "found": r.capacity_found,
                                                 "headroom": r.headroom, "figure": r.capacity_figure},
                "totals": {"p95_ms": r.p95_ms, "p99_ms": r.p99_ms, "error_rate": r.error_rate},
                "endpoints": [{"name": e.name, "p95_ms": e.p95_ms, "p99_ms": e.p99_ms, "error_rate": e.error_rate}
                              for e in r.endpoints],
                "journeys": [{"name": j.name, "started": j.started, "completed": j.completed,
                              "success_rate": j.success_rate, "p95_ms": j.p95_ms} for j in r.journeys],
                "change": r.change, "change_details": list(r.change_details)}

    return {"schema_version": 1, "runs": history.run_count, "notes": list(history.notes),
            "scenarios": [{"name": s.name, "runs": [run_doc(r) for r in s.runs]} for s in history.scenarios]}


__all__ = ["COMPARE_LAST", "EndpointFigures", "History", "JourneyFigures", "RunEntry", "ScenarioHistory", "ci_context",
           "collect", "history_dict", "mark_changes", "overall_change", "read_entry"]
