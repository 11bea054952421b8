"""Reports rendered from synthetic run directories: every file, every summary field, hostile strings."""

from __future__ import annotations

import json
import re
from html import unescape
import xml.etree.ElementTree as ET
from pathlib import Path

from loadkit.report import render_run_dir
from tests.helpers import run_cli
from tests.synth import make_run_dir, scenario_doc

HOSTILE = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>{{7*7}}|`x`\x01'


def healthy(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    n = max(1, int(round(rate)))
    return [30.0 + i % 7 for i in range(n)], ({"http_500": 1} if t == 12 else {})


def test_summary_has_every_contract_field(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy)
    render_run_dir(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["schema_version"] == 1
    assert summary["verdict"] in ("survives", "at-risk", "fails", "inconclusive")
    assert isinstance(summary["reasons"], list) and summary["reasons"]
    expected = {
        "run": {"scenario", "target", "started_at", "duration_s", "complete", "interrupted", "workers", "model",
                "loadkit_version", "locust_version"},
        "traffic": {"planned_arrivals", "delivered_arrivals", "peak_planned_per_s", "peak_delivered_per_s",
                    "late_arrivals"},
        "totals": {"requests", "failures", "error_rate", "rps_peak", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
                   "max_ms"},
        "capacity": {"found", "arrivals_per_s", "requests_per_s", "limited_by", "headroom"},
        "recovery": {"recovered", "seconds"},
    }
    for section, keys in expected.items():
        assert keys <= set(summary[section]), (section, keys - set(summary[section]))
    for endpoint in summary["endpoints"]:
        assert {"name", "method", "requests", "failures", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms"} \
            <= set(endpoint)
    for slo in summary["slos"]:
        assert {"name", "endpoint", "metric", "threshold", "observed", "passed", "phase"} <= set(slo)
    assert summary["totals"]["requests"] == sum(e["requests"] for e in summary["endpoints"])
    assert summary["totals"]["failures"] == 2  # one http_500 per endpoint at t=12


def test_junit_has_a_case_per_slo_and_scope(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(traffic={**scenario_doc()["traffic"], "peak": "40/s"}),
                       lambda t, e, r: ([40.0 if r < 24 else 900.0] * max(1, int(r)), {}))
    render_run_dir(run)
    root = ET.parse(run / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    names = [c.get("name") for c in cases]
    assert len(names) == len(set(names))
    summary = json.loads((run / "summary.json").read_text())
    assert int(suite.get("tests")) == len(cases) == len(summary["slos"]) + 2
    failed = {c.get("name"): c.find("failure").get("message") for c in cases if c.find("failure") is not None}
    # the scope has the same name here as in the HTML, the Markdown and summary.json
    assert "p95 < 500ms [up to the planned peak]" in failed
    assert re.match(r"p95 .* > 500 ms up to the planned peak", failed["p95 < 500ms [up to the planned peak]"])
    scopes = {row["scope"] for row in summary["slos"]}
    assert scopes == {"up to the planned peak", "during the peak", "in the headroom probe"}
    assert "| up to the planned peak |" in (run / "summary.md").read_text()
    assert ">up to the planned peak<" in (run / "report.html").read_text()
    assert int(suite.get("failures")) == len(failed)


def test_hostile_strings_stay_inert(tmp_path: Path) -> None:
    doc = scenario_doc(journeys=[{"name": "j", "steps": [{"get": "/", "name": HOSTILE}, {"post": "/checkout"}]}])
    run = make_run_dir(tmp_path / "r", doc, healthy)
    errors = run / "errors.jsonl"
    errors.write_text(json.dumps({"t": 12, "endpoint": HOSTILE, "method": "GET", "kind": "http_500", "status": 500,
                                  "url": "http://127.0.0.1:1/" + HOSTILE, "detail": HOSTILE, "ms": 3}) + "\n")
    render_run_dir(run)
    html = (run / "report.html").read_text()
    clean = make_run_dir(tmp_path / "clean", scenario_doc(), healthy)
    render_run_dir(clean)
    scripts = (clean / "report.html").read_text().lower().count("<script")
    assert scripts == 3  # the data block, uPlot, the report's own script
    assert html.lower().count("<script") == scripts  # nothing the target sent became a script
    assert "</script><script>alert" not in html
    assert "<img" not in html.lower()
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html  # shown as text
    assert "{{7*7}}" in html  # never evaluated as a template
    ET.parse(run / "junit.xml")  # still valid XML (control character stripped)
    md = (run / "summary.md").read_text()
    assert "<script>" not in md and "<img" not in md


def test_report_command_rebuilds_from_disk(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy)
    result = run_cli("report", str(run), timeout=60)
    assert result.returncode == 0, result.stderr
    for name in ("report.html", "summary.json", "junit.xml", "summary.md"):
        assert (run / name).stat().st_size > 0
    first = (run / "summary.json").read_text()
    assert run_cli("report", str(run), timeout=60).returncode == 0
    assert (run / "summary.json").read_text() == first  # deterministic


def test_report_command_exits_with_the_verdict_s_code(tmp_path: Path) -> None:
    slow = make_run_dir(tmp_path / "slow", scenario_doc(), lambda t, e, r: ([2000.0] * max(1, int(r)), {}))
    assert run_cli("report", str(slow), timeout=60).returncode == 1  # fails
    cut = make_run_dir(tmp_path / "cut", scenario_doc(), healthy, interrupted=True)
    assert run_cli("report", str(cut), timeout=60).returncode == 3  # inconclusive


def test_report_command_on_a_missing_directory(tmp_path: Path) -> None:
    result = run_cli("report", str(tmp_path / "nope"), timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_html_is_self_contained(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy)
    render_run_dir(run)
    html = unescape((run / "report.html").read_text())
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<svg" in html


def test_vendored_chart_library_matches_its_pinned_checksums() -> None:
    import hashlib

    from loadkit.report import html as report_html

    vendor = Path(report_html.__file__).resolve().parent / "vendor"
    pinned = dict(reversed(line.split()) for line in (vendor / "SHA256SUMS").read_text().splitlines() if line)
    assert set(pinned) == {"uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"}
    for name, digest in pinned.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    assert "MIT License" in (vendor / "uPlot.LICENSE").read_text()
    assert "(v1.6.32)" in (vendor / "uPlot.iife.min.js").read_text()[:80]


def test_embedded_json_cannot_end_its_script_block() -> None:
    from loadkit.report.html import json_for_html

    text = json_for_html({"name": "</script><script>alert(1)</script> & \u2028\u2029 <!--"})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script> & \u2028\u2029 <!--"}


def test_csp_allows_exactly_the_embedded_scripts_and_style(tmp_path: Path) -> None:
    import base64
    import hashlib

    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy)
    render_run_dir(run)
    html = (run / "report.html").read_text()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    csp = unescape(csp)
    bodies = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(bodies) == 2
    for body in bodies:
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    assert base64.b64encode(hashlib.sha256(style.encode()).digest()).decode() in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert not re.search(r"\son[a-z]+\s*=", re.sub(r"<script>.*?</script>", "", html, flags=re.S))  # no inline handlers


def probe_only(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
    """Slow only above 24/s: the default scenario's peak (20/s) holds, its headroom probe (30/s) breaks."""
    return [40.0 if rate < 24 else 900.0] * max(1, int(rate)), {}


def test_report_command_reads_loadkit_strict_as_run_does(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), probe_only)
    assert run_cli("report", str(run), timeout=60).returncode == 0  # at-risk
    assert run_cli("report", str(run), env={"LOADKIT_STRICT": "1"}, timeout=60).returncode == 1
    assert run_cli("report", str(run), "--strict", env={"LOADKIT_STRICT": "0"}, timeout=60).returncode == 1
    empty = run_cli("report", str(run), env={"LOADKIT_STRICT": ""}, timeout=60)
    assert empty.returncode == 2 and "LOADKIT_STRICT is set but empty" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1


def test_report_command_exits_1_for_the_saved_baseline_regression(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), healthy)
    assert run_cli("report", str(run), timeout=60).returncode == 0
    change = {"endpoint": "overall", "metric": "p95_ms", "base": 30.0, "new": 60.0, "low": 25.0, "high": 35.0,
              "decision": "regression"}
    (run / "baseline.json").write_text(json.dumps({
        "base": "base-run", "new": "r", "base_verdict": "survives", "new_verdict": "survives", "regression": True,
        "min_change": 0.1, "min_error_change": 0.005, "notes": [], "changes": [change],
        "baseline_dir": str(tmp_path / "base")}), encoding="utf-8")
    result = run_cli("report", str(run), timeout=60)
    assert "regression beyond noise" in (run / "summary.md").read_text()
    assert result.returncode == 1, result.stderr  # as `run --baseline` exited


def test_junit_marks_load_not_delivered_under_a_fails_verdict(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "r", scenario_doc(), lambda t, e, r: ([2000.0] * max(1, int(r)), {}),
                       delivered_share=0.5)
    render_run_dir(run)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["verdict"] == "fails"
    assert any(r.startswith("Not all of the planned load was delivered") for r in summary["reasons"])
    suite = ET.parse(run / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    delivered = next(c for c in suite.iter("testcase") if c.get("name") == "load delivered as planned")
    marked = delivered.find("error")
    assert marked is not None and marked.get("type") == "not-delivered"
    assert "Not all of the planned load" not in (marked.get("message") or "")  # the cause, not the preamble
    assert int(suite.get("errors") or 0) == 1


def test_job_summary_fits_4_kb_of_utf8_without_cutting_a_character(tmp_path: Path) -> None:
    from dataclasses import replace

    from loadkit.report.markdown import MAX_JOB_SUMMARY, cap_utf8, render_job_summary

    model = render_run_dir(make_run_dir(tmp_path / "r", scenario_doc(), healthy)).model
    wide = replace(model, reasons=tuple("€ " * 400 + f"reason {i}" for i in range(5)))  # 3 bytes a €
    text = render_job_summary(wide)
    assert len(text.encode("utf-8")) <= MAX_JOB_SUMMARY
    assert text.endswith("(truncated; see the report)\n") and "\ufffd" not in text
    assert cap_utf8("ab€\n" * 3, 100) == "ab€\n" * 3  # what fits is kept whole
    capped = cap_utf8("x" * 10 + "\n" + "€" * 50, 60)
    assert len(capped.encode("utf-8")) <= 60 and capped.startswith("x" * 10)


PERCENT = re.compile(r"-?\d+(?:\.\d+)?%")
# the rule (docs/verdict.md, units.format_percent): at most two decimals unless a nonzero share needs more
# to read above 0%, and never a trailing zero
RULE = re.compile(r"(?:0|[1-9]\d*)(?:\.\d*[1-9])?%")


def test_slo_shares_read_the_same_as_limits_and_as_observed_values_in_every_renderer(tmp_path: Path) -> None:
    """An error-rate limit and the observed share are written one way in the HTML SLO table, summary.md,
    junit.xml and the reasons: "1%" beside "0%", never "1.00%" beside "0%"."""
    from loadkit.units import format_percent

    slos = [{"metric": "error_rate", "below": "1%"}, {"metric": "error_rate", "below": "0.1%", "phase": "peak"},
            {"endpoint": "GET /", "metric": "error_rate", "below": "2.5%"}]

    def errors_at_peak(t: int, endpoint: str, rate: float) -> tuple[list[float], dict[str, int]]:
        n = max(1, int(round(rate)))
        return [30.0] * n, ({"http_500": 1} if t == 25 and endpoint == "POST /checkout" else {})

    clean = make_run_dir(tmp_path / "clean", scenario_doc(slos=slos), lambda t, e, r: ([30.0] * max(1, int(r)), {}))
    broken = make_run_dir(tmp_path / "broken", scenario_doc(slos=slos), errors_at_peak)
    for run in (clean, broken):
        render_run_dir(run)
        summary = json.loads((run / "summary.json").read_text())
        assert {s["threshold"] for s in summary["slos"]} == {0.01, 0.001, 0.025}
        html = unescape((run / "report.html").read_text())
        table = html[html.index("<th>limit</th>"):]
        table = table[:table.index("</table>")]
        markdown = (run / "summary.md").read_text()
        rows = [line for line in markdown.splitlines() if line.startswith("| error\\_rate")]
        junit = (run / "junit.xml").read_text()
        for slo in summary["slos"]:
            if slo["metric"] != "error_rate":
                continue
            limit, observed = format_percent(slo["threshold"]), format_percent(slo["observed"])
            assert RULE.fullmatch(limit) and RULE.fullmatch(observed), (limit, observed)
            cells = f"<td class=\"num\">{observed}"
            assert cells in table and f"<td class=\"num\">{limit}</td>" in table, (observed, limit, table)
            assert any(f"| {observed} | {limit} |" in row for row in rows), (observed, limit, rows)
        assert [format_percent(x) for x in (0.01, 0.001, 0.025)] == ["1%", "0.1%", "2.5%"]
        # every share any renderer wrote follows the rule: no "1.00%", no "0.100%", no "25.0%"
        texts = {"report.html": table, "summary.md": markdown, "junit.xml": junit,
                 "reasons": "\n".join(summary["reasons"])}
        for name, text in texts.items():
            odd = [p for p in PERCENT.findall(text) if not RULE.fullmatch(p)]
            assert not odd, (name, odd)
    clean_summary = json.loads((clean / "summary.json").read_text())
    assert {format_percent(s["observed"]) for s in clean_summary["slos"] if s["metric"] == "error_rate"} == {"0%"}
    broken_summary = json.loads((broken / "summary.json").read_text())
    # a single failure among hundreds of requests is a small share, yet not "0%"
    shares = [s["observed"] for s in broken_summary["slos"] if s["phase"] == "peak" and s["endpoint"] is None]
    assert shares and all(0 < share < 0.005 for share in shares) and "0%" not in {format_percent(s) for s in shares}
    failed = [s for s in broken_summary["slos"] if not s["passed"]]
    assert failed and failed[0]["threshold"] == 0.001
    junit = (broken / "junit.xml").read_text()
    assert re.search(r"error_rate \d+(\.\d{1,2})?% &gt; 0\.1% during the peak", junit), junit
