"""The HTML report in a real headless Chromium (Debian's chromium, driven by Playwright)."""

from __future__ import annotations

import itertools
import json
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


def _fails_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run that fails at its peak (28/s against a knee at 24/s), with errors on checkout."""
    doc = scenario_doc(traffic={**scenario_doc()["traffic"], "peak": "28/s"})
    run = make_run_dir(tmp_path_factory.mktemp("fails") / "run", doc, shape)
    render_run_dir(run)
    return run / "report.html"


def test_numbers_on_the_page_agree(tmp_path_factory: pytest.TempPathFactory) -> None:
    """What a reader compares on the page agrees: the verdict box, the key figures and the tables."""
    report = _fails_report(tmp_path_factory)
    with sync_api.sync_playwright() as p:
        browser, context = _launch(p, javascript=False)
        page = context.new_page()
        page.goto(report.as_uri())
        reasons = page.locator("#verdict li").all_inner_texts()
        assert page.locator("#verdict h2").inner_text().strip().lower() == "fails"
        # capacity: the key figure and the sentence in the verdict box give the same number
        figure = page.locator(".figure", has_text="capacity").locator("b").inner_text()
        sentence = next(r for r in reasons if r.startswith("Capacity:"))
        assert re.match(r"~[\d.]+/s$", figure), figure
        assert f"about {figure[1:-2]} visitors/s" in sentence, (figure, sentence)
        # every failed SLO row: its value, limit and first time are the ones the verdict box and what broke
        # first print for the same SLO and scope
        rows = [[c.strip() for c in r.locator("td").all_inner_texts()] for r in page.locator("#slos tbody tr").all()]
        failed = [r for r in rows if r[4] == "FAIL"]
        assert failed
        broke = [[c.strip() for c in r.locator("td").all_inner_texts()]
                 for r in page.locator("#broke-first tbody tr").all()]
        text = " ".join(reasons)
        for name, scope, observed, limit, _, _first in failed:
            if scope == "up to the planned peak":  # the scope the verdict box speaks for
                assert f"reached {observed.split(' (')[0]}" in text and f"limit {limit}" in text, (name, text)
        slo_cells = {(r[2].split(" (")[0], r[3], r[5]) for r in failed}
        metric_rows = [r for r in broke if "response time" in r[2] or r[2] == "error rate"]
        assert metric_rows
        for row in metric_rows:
            value, limit = (x.strip() for x in row[3].split("/"))
            assert (value, limit, row[4]) in slo_cells, (row, slo_cells)
        # scope names: the same words as summary.json's
        summary = json.loads((report.parent / "summary.json").read_text(encoding="utf-8"))
        assert {r[1] for r in rows} == {s["scope"] for s in summary["slos"]}
        # error kinds in words, not identifiers
        kinds = page.locator("#errors tbody td:nth-child(2)").all_inner_texts()
        assert kinds and all("_" not in k for k in kinds), kinds
        # with JavaScript off: no zoom hint, round clock ticks, the histogram's axes named
        assert page.locator(".js-hint").is_hidden()
        ticks = page.locator("#chart-latency svg text.tick").all_text_contents()
        clock = [int(t.split(":")[0]) * 60 + int(t.split(":")[1]) for t in ticks if ":" in t]
        steps = {b - a for a, b in itertools.pairwise(clock)}
        assert len(steps) == 1 and steps.pop() in (5, 10, 15, 30, 60), ticks
        assert "response time (log scale)" in page.content() and ">requests<" in page.content()
        browser.close()
        browser, context = _launch(p, javascript=True)
        page = context.new_page()
        page.goto(report.as_uri())
        assert page.locator(".js-hint").is_visible()
        browser.close()
