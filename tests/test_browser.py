"""The HTML report in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from loadkit.report import render_run_dir
from tests.synth import make_run_dir, scenario_doc

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if CHROMIUM is None and os.environ.get("CI") != "true":
    pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def shape(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    n = max(1, int(round(rate)))
    slow = 40 + max(0.0, rate - 24) * 150
    failures = {"http_503": n // 3} if rate > 26 and endpoint == "POST /checkout" else {}
    return [slow + i % 9 for i in range(n)], failures


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = make_run_dir(tmp_path_factory.mktemp("browser") / "run", scenario_doc(), shape)
    render_run_dir(run)
    return run / "report.html"


def _launch(p: object, javascript: bool = True) -> object:
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,  # type: ignore[attr-defined]
                                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                      "--disable-background-networking", "--disable-component-update",
                                      "--disable-sync"])
    return browser, browser.new_context(java_script_enabled=javascript)


def test_report_opens_offline_without_errors(report: Path) -> None:
    with sync_api.sync_playwright() as p:
        browser, context = _launch(p)
        page = context.new_page()
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert requests == [report.as_uri()]  # the file itself, nothing else
        assert problems == []  # CSP violations would show up here
        assert page.locator("#verdict h2").inner_text().strip().lower() == "at-risk"
        charts = page.locator("svg.chart")
        assert charts.count() >= 4
        for i in range(charts.count()):
            box = charts.nth(i).bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
            assert charts.nth(i).locator("path, rect").count() > 3  # something was drawn
        # the stylesheet applied (allowed by its CSP hash): the banner is coloured
        colour = page.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()


def test_report_reads_with_javascript_off(report: Path) -> None:
    with sync_api.sync_playwright() as p:
        browser, context = _launch(p, javascript=False)
        page = context.new_page()
        page.goto(report.as_uri())
        assert page.locator("#verdict").is_visible()
        assert page.locator("#slos tbody tr").count() > 0
        assert page.locator("#endpoints tbody tr").count() == 2
        assert "POST /checkout" in page.locator("#endpoints").inner_text()
        browser.close()
