"""The typed hand-offs between the stages: one row type for the data files, a typed run directory, and an
analysis frozen all the way down (issue: typed seams)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.analysis import Analysis, analyze
from loadkit.data import load_run, read_metrics
from loadkit.errors import DataError
from loadkit.rows import ARRIVAL_COLUMNS, METRIC_COLUMNS, ArrivalRow, MetricsRow
from loadkit.run.recorder import Recorder, RequestFailure
from loadkit.traffic import PROBE_PHASES, PhaseName, build_plan, is_probe
from loadkit.scenario import parse_scenario
from tests.helpers import ROOT
from tests.synth import make_run_dir, scenario_doc


def _fast(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    return [40.0] * max(1, round(rate)), {}


def test_the_recorders_rows_are_the_row_types_and_read_back(tmp_path: Path) -> None:
    recorder = Recorder()
    recorder.start_clock(1000.0)
    recorder.on_request("GET", "GET /", 12.5, 100, start_time=1001.2)
    recorder.on_request("GET", "GET /", 30.0, 0, exception=RequestFailure("http_503", "busy", 503),
                        start_time=1001.5)
    recorder.on_offsite_redirect("GET /", "GET", "https://elsewhere.example/x")
    recorder.on_arrival(1.0, 1.05)
    metrics, arrivals, _ = recorder.flush()
    assert metrics and arrivals
    for row in metrics:
        assert MetricsRow(**row).to_json() == row  # every field the recorder writes is the type's, and back
    for row in arrivals:
        assert ArrivalRow(**row).to_json() == row
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics), encoding="utf-8")
    frame, hist, ok_hist = read_metrics(tmp_path / "metrics.jsonl")
    assert tuple(frame.columns) == METRIC_COLUMNS
    row = frame.set_index("t").loc[1]
    assert row["requests"] == 2 and row["failures"] == {"http_503": 1} and int(hist.lens.sum()) == 2


@pytest.mark.parametrize(("section", "row_type"), [("metrics.jsonl", MetricsRow), ("arrivals.jsonl", ArrivalRow)])
def test_the_documented_rows_are_the_row_types(section: str, row_type: Any) -> None:
    doc = (ROOT / "docs" / "run-directory.md").read_text(encoding="utf-8")
    block = re.search(rf"## {re.escape(section)}\n.*?```json\n(.*?)```", doc, re.S)
    assert block, section
    example = json.loads(block.group(1))
    assert set(example) <= {f.name for f in dataclasses.fields(row_type)}
    assert row_type(**example).to_json() == example
    assert set(ARRIVAL_COLUMNS if row_type is ArrivalRow else METRIC_COLUMNS) <= \
        {f.name for f in dataclasses.fields(row_type)}


def _frozen_all_the_way_down(value: Any, path: str) -> None:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        assert type(value).__dataclass_params__.frozen, path  # type: ignore[attr-defined]
        for f in dataclasses.fields(value):
            _frozen_all_the_way_down(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, (dict, list, set)):
        raise AssertionError(f"{path} is a mutable {type(value).__name__}")


def test_the_analysis_hands_on_frozen_types(tmp_path: Path) -> None:
    run = load_run(make_run_dir(tmp_path / "r", scenario_doc(), _fast))
    assert run.scenario.name == "synthetic" and run.plan.planned_peak == 20.0 and run.meta.complete
    analysis = analyze(run)
    assert isinstance(analysis, Analysis)
    for name in ("meta", "totals", "traffic", "capacity", "recovery"):
        _frozen_all_the_way_down(getattr(analysis, name), name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        analysis.totals.requests = 0  # type: ignore[misc]
    with pytest.raises(TypeError):
        analysis.meta.generator["cut_short"] = 1  # type: ignore[index]
    assert analysis.scenario.model_config.get("frozen")
    assert analysis.recovery.measured and analysis.traffic.generator is None


def test_a_saved_scenario_that_no_longer_validates_is_named_not_half_read(tmp_path: Path) -> None:
    # Before: a journey that failed validation was skipped in silence (and the visit length with it).
    run_dir = make_run_dir(tmp_path / "r", scenario_doc(), _fast)
    saved = yaml.safe_load((run_dir / "scenario.yaml").read_text(encoding="utf-8"))
    saved["journeys"].append({"name": "broken", "steps": [{"fly": "/"}]})
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    with pytest.raises(DataError, match="scenario saved with the run"):
        load_run(run_dir)


def test_phases_are_named_once() -> None:
    plan = build_plan(parse_scenario(scenario_doc()))
    assert [p.name for p in plan.phases] == [PhaseName.BASELINE, PhaseName.RAMP, PhaseName.PEAK, PhaseName.DECAY,
                                             PhaseName.PROBE_RAMP, PhaseName.PROBE, PhaseName.RECOVERY]
    assert {p.name for p in plan.phases if is_probe(p.name)} == PROBE_PHASES
