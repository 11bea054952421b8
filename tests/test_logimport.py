"""``loadkit init --from-log``: synthetic logs with a known truth (tests/loggen.py) converted and checked
against it: the journey mix, the pauses, the everyday rate, the spike's shape, what is dropped, and that
no planted secret or visitor address reaches the scenario. One short replay against the demo storefront."""

from __future__ import annotations

import gzip
import json
import re
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.errors import UsageError
from loadkit.logimport import analyse_logs, convert_logs
from loadkit.logimport.endpoints import Templates
from loadkit.logimport.readers import (
    ReadStats,
    detect,
    json_parser,
    parse_alb,
    parse_clf,
    read_logs,
)
from loadkit.logimport.sessions import think_range
from loadkit.scenario import parse_scenario
from tests import loggen
from tests.helpers import read_summary, run_cli, write_scenario

JOURNEY_OF = {  # a converted journey's steps -> the generator's journey
    ("GET /products/{product}",): "product",
    ("GET /products/{product}", "POST /cart", "GET /cart"): "basket",
    ("GET /products/{product}", "POST /cart", "GET /cart", "POST /checkout"): "checkout",
    ("GET /search?q={q}", "GET /products/{product}"): "search",
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, loggen.Truth, list[Path]]:
    folder = tmp_path_factory.mktemp("logs")
    paths, truth = loggen.generate(folder / "access.log", peak=20.0, seed=3)
    return convert_logs(paths), truth, paths


def _requests(journey: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for step in journey["steps"]:
        if "think" in step:
            continue
        method = "GET" if "get" in step else "POST"
        line = f"{method} {step[method.lower()]}"
        if not out or out[-1] != line:
            out.append(line)
    return tuple(out)


def _weights(document: dict[str, Any]) -> dict[str, float]:
    return {JOURNEY_OF[_requests(j)]: float(j["weight"]) for j in document["journeys"]}


def _truth_shares(truth: loggen.Truth) -> dict[str, float]:
    total = sum(truth.visits.values())
    return {k: 100.0 * n / total for k, n in truth.visits.items()}


def _secrets_absent(text: str, truth: loggen.Truth) -> None:
    for secret in loggen.SECRETS:
        assert secret not in text, secret
    assert "PLANTED" not in text.upper()
    written = set(re.findall(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])", text))
    assert not written & (truth.addresses | {"66.249.66.1", "203.0.113.50"})
    assert "Mozilla" not in text and "sid=s0" not in text  # user agents and session cookies are never written


def test_mix_pauses_rate_and_spike_match_the_truth(converted: tuple[str, loggen.Truth, list[Path]]) -> None:
    text, truth, _ = converted
    document = yaml.safe_load(text)
    parse_scenario(document)  # loads as a scenario
    truth_shares = _truth_shares(truth)
    weights = _weights(document)
    assert set(weights) == set(loggen.MIX)
    for journey, share in loggen.MIX.items():
        assert abs(weights[journey] - 100 * share) <= 2.0, (journey, weights)
        assert abs(weights[journey] - truth_shares[journey]) <= 0.5, (journey, weights, truth_shares)
    assert [j["weight"] for j in document["journeys"]] == sorted(weights.values(), reverse=True)  # most common first
    product = next(j for j in document["journeys"] if JOURNEY_OF[_requests(j)] == "product")
    assert sum(1 for s in product["steps"] if "get" in s) == 2  # 1, 2 or 3 pages in a row: 2 on average
    # pauses: a uniform range with the measured mean (log-normal, mean 4.79 s; the log's clock ticks in seconds)
    for journey in document["journeys"]:
        for step in journey["steps"]:
            if "think" in step:
                lo, hi = (float(x.rstrip("s")) for x in step["think"].split(".."))
                assert abs((lo + hi) / 2 - loggen.THINK_MEAN_S) <= 0.1 * loggen.THINK_MEAN_S, step
    # no pause between a form post answered 303 and the page it redirected to
    basket = next(j for j in document["journeys"] if JOURNEY_OF[_requests(j)] == "basket")
    kinds = [next(iter(s)) for s in basket["steps"]]
    assert kinds[kinds.index("post") + 1] == "get"
    traffic = document["traffic"]

    def rate(text: object) -> float:
        return float(str(text).removesuffix("/s"))

    def seconds(text: object) -> float:
        return float(str(text).removesuffix("s"))

    assert traffic["profile"] == "burst"
    assert abs(rate(traffic["baseline"]) - truth.baseline) <= 0.1 * truth.baseline
    assert abs(rate(traffic["peak"]) - truth.peak) <= 0.1 * truth.peak, traffic
    assert abs(seconds(traffic["decay_half_life"]) - truth.half_life) <= 0.1 * truth.half_life, traffic
    assert abs(seconds(traffic["ramp"]) - truth.ramp) <= 0.25 * truth.ramp, traffic
    assert set(document["data"]["product"]) <= set(loggen.PRODUCTS)
    assert {v.replace(" ", "+") for v in document["data"]["q"]} <= {t.replace(" ", "+") for t in loggen.TERMS}


def test_bots_assets_methods_and_malformed_lines_are_dropped_and_counted(
        converted: tuple[str, loggen.Truth, list[Path]]) -> None:
    text, _, _ = converted
    header = [line for line in text.splitlines() if line.startswith("#")]
    joined = "\n".join(header)
    assert "Googlebot (2,400)" in joined  # the crawler that names itself
    assert "the 1 visits of those visitors (crawlers)" in joined  # the one that read robots.txt
    assert re.search(r"Dropped: [\d,]+ static assets", joined)
    assert "PUT (20)" in joined and "/api/events (20)" in joined and "20 requests answered 4xx" in joined
    assert "20 requests to one-time or personal links" in joined
    malformed = re.search(r"Malformed lines skipped: ([\d,]+)", joined)
    assert malformed is not None and int(malformed.group(1).replace(",", "")) > 50
    assert "<address>" in joined and "<e-mail>" in joined  # samples shown, scrubbed
    assert "secret or personal" in joined and "tracking" in joined
    document = yaml.safe_load(text)
    paths = {str(s.get("get") or s.get("post")) for j in document["journeys"] for s in j["steps"] if "think" not in s}
    assert not any("static" in p or "robots" in p or "reset" in p or "utm_" in p for p in paths)


def test_no_planted_secret_or_visitor_address_in_the_output(converted: tuple[str, loggen.Truth, list[Path]]) -> None:
    text, truth, _ = converted
    _secrets_absent(text, truth)


def test_session_cookie_json_lines_gzip_and_several_files(tmp_path: Path) -> None:
    """Two JSON-lines files (a visitor's requests all in one, as behind a load balancer), gzip-compressed,
    merged in time order; visits grouped by the session cookie the log carries."""
    paths, truth = loggen.generate(tmp_path / "access.json", hours=2.0, peak=10.0, fmt="json", files=2,
                                   cookie=True, gz=True, seed=11)
    assert all(p.suffix == ".gz" for p in paths)
    text = convert_logs(paths)
    document = yaml.safe_load(text)
    parse_scenario(document)
    assert "grouped by the session cookie" in text and "(nginx-json)" in text
    weights, shares = _weights(document), _truth_shares(truth)
    for journey in loggen.MIX:
        assert abs(weights[journey] - shares[journey]) <= 0.5, (weights, shares)
    _secrets_absent(text, truth)


def test_formats_and_presets_read_one_line_each() -> None:
    clf = parse_clf('203.0.113.9 - - [01/Dec/2025:08:00:05 +0100] "GET /a?b=1 HTTP/1.1" 200 12 "-" "Mozilla/5.0"'
                    ' "sid=abc123; theme=dark"')
    assert (clf.t, clf.method, clf.target, clf.status, clf.ua, clf.session) == \
        (1764572405.0, "GET", "/a?b=1", 200, "Mozilla/5.0", "sid=abc123")
    common = '10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "POST /cart HTTP/1.0" 303 -'
    assert detect(common)[0] == "common" and parse_clf(common).method == "POST"
    alb = ('https 2025-12-01T08:00:05.123456Z app/shop/50dc6c495c0c9188 192.0.2.1:2817 10.0.0.1:80 0.000 0.001 '
           '0.000 200 200 34 366 "GET https://shop.example:443/products/7?x=1 HTTP/1.1" "curl/8.0" - - '
           'arn:aws:elasticloadbalancing:us-east-2:1:targetgroup/t/1 "Root=1-58337262" "-" "-" 0 '
           '2025-12-01T08:00:05.100000Z "forward" "-" "-" "10.0.0.1:80" "200" "-" "-"')
    assert detect(alb)[0] == "alb"
    record = parse_alb(alb)
    assert (record.target, record.addr, record.status) == ("/products/7?x=1", "192.0.2.1", 200)
    caddy = json.dumps({"level": "info", "ts": 1764576005.5, "logger": "http.log.access", "msg": "handled request",
                        "request": {"remote_ip": "192.0.2.1", "client_ip": "192.0.2.1", "method": "GET",
                                    "host": "shop", "uri": "/search?q=lamp",
                                    "headers": {"User-Agent": ["Mozilla/5.0"], "Cookie": ["session=zz9"]}},
                        "status": 200, "size": 10})
    name, fields = detect(caddy)
    assert name == "caddy" and fields is not None
    record = json_parser(fields)(caddy)
    assert (record.t, record.target, record.ua, record.session) == (1764576005.5, "/search?q=lamp", "Mozilla/5.0",
                                                                    "session=zz9")
    traefik = json.dumps({"ClientHost": "192.0.2.1", "RequestMethod": "GET", "RequestPath": "/p/1",
                          "DownstreamStatus": 200, "StartUTC": "2025-12-01T08:00:05.123456789Z",
                          "request_User-Agent": "Mozilla/5.0"})
    name, fields = detect(traefik)
    assert name == "traefik" and fields is not None
    assert json_parser(fields)(traefik).t == pytest.approx(1764576005.123456)
    gcp = json.dumps({"timestamp": "2025-12-01T08:00:05Z", "httpRequest": {
        "requestMethod": "GET", "requestUrl": "https://shop.example/p/2", "status": 200, "userAgent": "UA",
        "remoteIp": "192.0.2.1"}})
    name, fields = detect(gcp)
    assert name == "gcp" and fields is not None and json_parser(fields)(gcp).target == "/p/2"


def test_json_field_names_are_configurable(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    lines = [json.dumps({"at": 1764576000 + i * 7, "req": {"verb": "GET", "path": f"/orders/{1000 + i}"},
                         "code": 200, "client": f"10.1.0.{i % 5}", "agent": "Mozilla/5.0"}) for i in range(40)]
    log.write_text("\n".join(lines) + "\n")
    stats = ReadStats()
    spec = "json:time=at,method=req.verb,url=req.path,status=code,addr=client,ua=agent"
    records = list(read_logs([log], spec, stats, progress=False))
    assert len(records) == 40 and stats.malformed == 0
    assert records[3].target == "/orders/1003"
    text = convert_logs([log], log_format=spec)
    assert "get: /orders/{order}" in text.replace("'", "")
    with pytest.raises(UsageError, match="not KEY=FIELD"):
        list(read_logs([log], "json:when=at"))


def test_templates_ids_slugs_hashes_and_query_rule() -> None:
    templates = Templates()
    for i in range(40):
        templates.path_key(f"/products/item-{i}")
        templates.path_key(f"/orders/{i}/items")
        templates.path_key(f"/section-{i}")  # the site's own sections never merge
    assert templates.retemplate("/products/item-3") == "/products/{}"
    assert templates.retemplate("/orders/7/items") == "/orders/{}/items"
    assert templates.retemplate("/section-5") == "/section-5"
    assert templates.path_key("/files/0f3a9c2b1d4e5f60718293a4b5c6d7e8") == "/files/{}"
    assert templates.path_key("/o/3f2504e0-4f89-41d3-9d2a-0c04fd2b3a4f") == "/o/{}"
    assert templates.path_key("/account/reset-password/Zx8pQ2r7Lm4Nv9Ks3Tq6Wy1") is None  # a one-time link
    assert templates.path_key("/u/bob@example.com") is None
    assert templates.path_key("/cart;jsessionid=ABCDEF0123456789abcdef") == "/cart"
    key = templates.query_key("/search", "q=lamp&utm_source=tv&_=1764576000000&token=Zx8pQ2r7Lm4Nv9Ks3T&page=2")
    assert key == "page&q"
    assert templates.query_key("/search", "q=alice@example.com") == ""  # an e-mail as a search: dropped
    assert set(templates.dropped_params) == {"tracking", "cache-buster or time", "secret or personal"}


def test_think_range_keeps_the_mean() -> None:
    from collections import Counter

    uniform = Counter({round(2.0 + i / 100, 2): 1 for i in range(201)})  # 2 s to 4 s, evenly
    rng, median, p90, mean = think_range(uniform)
    assert rng == (pytest.approx(2.0, abs=0.05), pytest.approx(4.0, abs=0.05)) and mean == pytest.approx(3.0)
    assert median == pytest.approx(3.0, abs=0.01) and p90 == pytest.approx(3.8, abs=0.01)
    rng, *_ = think_range(Counter({0.5: 90, 30.0: 10}))  # heavy tail: clipped at 0, mean kept
    assert rng == (0.0, pytest.approx(2 * 3.45, abs=0.1))


def test_spike_window_given_by_the_user(tmp_path: Path) -> None:
    paths, truth = loggen.generate(tmp_path / "access.log", hours=2.0, peak=20.0, seed=5)
    from datetime import datetime
    start = datetime.fromtimestamp(truth.spike_start - 300, UTC).strftime("%H:%M")
    end = datetime.fromtimestamp(truth.spike_start + 1500, UTC).strftime("%H:%M")
    analysis = analyse_logs(paths, spike=f"{start}..{end}", progress=False)
    spike = analysis.rates.spike
    assert spike is not None and spike.given
    assert abs(spike.peak - truth.peak) <= 0.1 * truth.peak
    assert abs(spike.half_life - truth.half_life) <= 0.1 * truth.half_life
    found = analyse_logs(paths, progress=False).rates.spike  # the same spike when loadkit finds it itself
    assert found is not None and not found.given and abs(found.peak - spike.peak) <= 0.02 * spike.peak


def test_progress_bar_only_on_a_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths, _ = loggen.generate(tmp_path / "a.log", hours=0.2, peak=1.0, seed=2)
    list(read_logs(paths))  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    list(read_logs(paths, progress=True))
    assert "reading logs" in capsys.readouterr().err


def test_cli_writes_a_scenario_that_validates(tmp_path: Path) -> None:
    paths, _ = loggen.generate(tmp_path / "shop.log", hours=1.0, peak=6.0, seed=4)
    gz = tmp_path / "shop.log.gz"
    gz.write_bytes(gzip.compress(paths[0].read_bytes()))
    result = run_cli("init", "--from-log", str(gz), timeout=120)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "shop.yaml"
    assert out.is_file()
    assert run_cli("validate", str(out), timeout=60).returncode == 0
    again = run_cli("init", "--from-log", str(gz), timeout=60)
    assert again.returncode == 2 and "already exists" in again.stderr
    bad = run_cli("init", "--from-log", str(gz), "--out", str(tmp_path / "x.yaml"), "--log-format", "nope")
    assert bad.returncode == 2 and "unknown log format" in bad.stderr and "Traceback" not in bad.stderr
    empty = tmp_path / "empty.log"
    empty.write_text("garbage\nmore garbage\n")
    none = run_cli("init", "--from-log", str(empty), "--out", str(tmp_path / "y.yaml"))
    assert none.returncode == 2 and "no request could be read" in none.stderr


@pytest.mark.timing
def test_replay_against_the_demo_storefront_shows_the_mix(tmp_path: Path, demo_factory: Any) -> None:
    """Converted with --target (form fields read from the shop), replayed briefly: the per-endpoint counts
    carry the logged mix within 3 points."""
    site = demo_factory()
    paths, _ = loggen.generate(tmp_path / "access.log", hours=1.0, peak=8.0, seed=9)
    text = convert_logs(paths, target=site.url)
    document = yaml.safe_load(text)
    # a few seconds: a constant rate instead of the logged burst, short pauses (the mix is what is checked)
    document["traffic"] = {"profile": "constant", "rate": "40/s", "duration": "5s"}
    document["verdict"] = {"headroom_probe": False}
    for journey in document["journeys"]:
        for step in journey["steps"]:
            if "think" in step:
                step["think"] = "0s..0.05s"
    scenario = write_scenario(tmp_path / "replay.yaml", document)
    out = tmp_path / "run"
    result = run_cli("run", str(scenario), "--target", site.url, "--out", str(out), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = read_summary(out)
    assert summary["totals"]["failures"] == 0, summary["endpoints"]
    counts: dict[str, int] = {}
    for endpoint in summary["endpoints"]:
        method, _, path = endpoint["name"].partition(" ")
        key = f"{method} /{path.strip('/').split('/')[0].split('?')[0]}"
        counts[key] = counts.get(key, 0) + int(endpoint["requests"])
    total = sum(counts.values())
    expected_total = sum(loggen.EXPECTED_PER_VISIT.values())
    for key, per_visit in loggen.EXPECTED_PER_VISIT.items():
        share = 100.0 * counts.get(key, 0) / total
        assert abs(share - 100.0 * per_visit / expected_total) <= 3.0, (key, counts)


def test_hashes_and_uuids_become_data_and_the_scenario_loads(tmp_path: Path) -> None:
    import time

    lines = []
    for i in range(60):
        at = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(1764576000 + i * 40))
        lines.append(f'10.0.0.{i} - - [{at}] "GET /files/{i:02d}0f3a9c2b1d4e5f60718293a4b5c6d7?h=Zx8pQ2r7Lm4Nv9Ks3Tq6 '
                     f'HTTP/1.1" 200 5 "-" "Mozilla/5.0"')
        lines.append(f'10.0.0.{i} - - [{at}] "GET /o/3f2504e0-4f89-41d3-9d2a-0c04fd2b3a{i:02d} HTTP/1.1" 200 5 "-" '
                     '"Mozilla/5.0"')
    log = tmp_path / "h.log"
    log.write_text("\n".join(lines) + "\n")
    text = convert_logs([log])
    document = yaml.safe_load(text)
    parse_scenario(document)
    assert [s["get"] for s in document["journeys"][0]["steps"]] == ["/files/{file}", "/o/{o}"]
    assert "070f3a9c2b1d4e5f60718293a4b5c6d7" in document["data"]["file"]  # a content hash: kept as data
    assert "Zx8pQ2r7Lm4Nv9Ks3Tq6" not in text  # a random query value: dropped
