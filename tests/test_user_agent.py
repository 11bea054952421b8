"""loadkit names itself to the site: ``User-Agent: loadkit/<version>`` unless the scenario sends its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadkit import __version__
from tests.countserver import CountingServer
from tests.helpers import read_summary, run_cli, write_scenario

pytestmark = pytest.mark.integration


@pytest.fixture
def site() -> Iterator[CountingServer]:
    with CountingServer() as server:
        yield server


def _run(tmp_path: Path, site: CountingServer, **extra: Any) -> dict[str, Any]:
    journeys = extra.pop("journeys", [{"name": "look", "steps": [{"get": "/"}, {"get": "/products/1"}]}])
    scenario = write_scenario(tmp_path / "s.yaml", {
        "name": "ua", "traffic": {"profile": "constant", "rate": "5/s", "duration": "2s"},
        "journeys": journeys, **extra})
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    return read_summary(out)


def test_every_request_says_it_is_loadkit(tmp_path: Path, site: CountingServer) -> None:
    summary = _run(tmp_path, site)
    assert summary["totals"]["requests"] == 20
    # the preflight check (httpx), the rehearsal's visit (2 requests) and the 20 requests of the run
    # (loadkit's client), all under one name
    assert site.user_agents == {f"loadkit/{__version__}": 1 + 2 + 20}


def test_the_scenario_headers_choose_another(tmp_path: Path, site: CountingServer) -> None:
    journeys = [{"name": "look", "steps": [
        {"get": "/"}, {"get": "/products/1", "headers": {"user-agent": "step-agent/2"}}]}]
    summary = _run(tmp_path, site, headers={"User-Agent": "shop-check/1 (ops@example.test)"}, journeys=journeys)
    assert summary["totals"]["requests"] == 20
    # one header each: a step's replaces the scenario's, the scenario's replaces loadkit's (preflight too)
    # (the rehearsal's visit before the load sent one of each)
    assert site.user_agents == {"shop-check/1 (ops@example.test)": 11 + 1, "step-agent/2": 10 + 1}
