"""The HTML report in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import os
import re
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
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        # every chart over time became an interactive uPlot chart, and each one drew something
        holders = page.locator("figure.chart-box.interactive")
        assert holders.count() == 5
        canvases = page.locator(".uplot-box canvas")
        assert canvases.count() == 5
        for i in range(canvases.count()):
            box = canvases.nth(i).bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
            coloured = canvases.nth(i).evaluate(
                "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;"
                " for (let k = 0; k < d.length; k += 4) { if (d[k + 3] > 0 && (d[k] < 200 || d[k + 1] < 200)) n++; }"
                " return n; }")
            assert coloured > 500, (i, coloured)  # lines, not a blank canvas
        assert page.locator("figure.chart-box.interactive > svg").first.is_hidden()
        # values on hover: moving over a chart fills its legend with numbers
        over = page.locator("#chart-latency .u-over")
        over.hover(position={"x": 300, "y": 100})
        legend = page.locator("#chart-latency .u-legend").inner_text()
        assert re.search(r"\d+(\.\d+)? (ms|s)", legend), legend
        # zoom: dragging across the chart narrows its time axis
        span = "h => h.uplot.scales.x.max - h.uplot.scales.x.min"
        before = page.eval_on_selector("#chart-latency", span)
        box = over.bounding_box()
        page.mouse.move(box["x"] + 100, box["y"] + 80)
        page.mouse.down()
        page.mouse.move(box["x"] + 260, box["y"] + 80, steps=5)
        page.mouse.up()
        assert page.eval_on_selector("#chart-latency", span) < before / 2
        # printing shows the static charts
        page.emulate_media(media="print")
        assert page.locator("figure.chart-box.interactive > svg").first.is_visible()
        page.emulate_media(media="screen")
        # the stylesheet applied (allowed by its CSP hash): the banner is coloured
        colour = page.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundColor")
        assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
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
        charts = page.locator("svg.chart")  # the static charts stand in for the interactive ones
        assert charts.count() >= 6
        for i in range(charts.count()):
            assert charts.nth(i).is_visible()
            assert charts.nth(i).locator("path, rect").count() > 3  # something was drawn
        browser.close()
