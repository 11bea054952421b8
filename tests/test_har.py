"""HAR conversion on a hand-made recording (no browser, no load): what is kept, dropped and templated."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadkit.errors import ScenarioError
from loadkit.har import convert_har
from loadkit.scenario import parse_scenario

SITE = "https://shop.example.test"


def _entry(method: str, url: str, at: float, status: int = 200, *, mime: str = "text/html", text: str = "",
           headers: dict[str, str] | None = None, post: dict[str, Any] | None = None,
           set_cookie: str | None = None) -> dict[str, Any]:
    response_headers = [{"name": "Set-Cookie", "value": set_cookie}] if set_cookie else []
    return {
        "startedDateTime": f"2026-11-27T10:00:{at:06.3f}Z", "time": 50,
        "request": {"method": method, "url": url,
                    "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()],
                    **({"postData": post} if post else {})},
        "response": {"status": status, "headers": response_headers, "content": {"mimeType": mime, "text": text}},
    }


def _har(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "visit.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    return path


def test_conversion_keeps_the_site_templates_tokens_and_hides_credentials(tmp_path: Path) -> None:
    token = "tok_8f3a9c2b1d"
    har = _har(tmp_path, [
        _entry("GET", f"{SITE}/", 0, text="<a href='/item/sku-12345'>Lamp</a>", set_cookie="sid=abc; Path=/",
               headers={"Authorization": "Bearer SECRET-123456", "Cookie": "consent=yes-4242"}),
        _entry("GET", f"{SITE}/static/app.css", 0.1, mime="text/css"),
        _entry("GET", "https://www.google-analytics.com/collect?v=1", 0.2, mime="image/gif"),
        _entry("POST", f"{SITE}/api/events", 0.3, mime="application/json"),
        _entry("GET", f"{SITE}/item/sku-12345", 2.56,
               text=f"<form><input type='hidden' name='csrf_token' value='{token}'></form>",
               headers={"Cookie": "sid=abc; consent=yes-4242"}),
        _entry("POST", f"{SITE}/basket", 2.76, status=303,
               post={"mimeType": "application/x-www-form-urlencoded", "text": f"sku=sku-12345&csrf_token={token}"}),
        _entry("POST", f"{SITE}/api/quote", 2.96, mime="application/json",
               post={"mimeType": "application/json", "text": json.dumps({"sku": "sku-12345", "qty": 2})}),
    ])
    text = convert_har(har)
    document = yaml.safe_load(text)
    scenario = parse_scenario(document)  # loads as a scenario
    assert scenario.target == SITE
    steps = document["journeys"][0]["steps"]
    requests = [s for s in steps if "think" not in s]
    assert [next(iter(s)) + " " + next(iter(s.values())) for s in requests] == [
        "get /", "get /item/{item}", "post /basket", "post /api/quote"]
    assert {"think": "2.2s"} in steps  # from the end of the page load (assets included) to the next page
    assert requests[0]["extract"]["item"]["regex"].startswith("<a href='/item/")
    extract = requests[1]["extract"]["csrf_token"]["regex"]
    assert extract.startswith("name='csrf_token' value='")
    assert re.search(extract, "<input type='hidden' name='csrf_token' value='other-777'>").group(1) == "other-777"
    assert requests[2]["form"] == {"sku": "{item}", "csrf_token": "{csrf_token}"}
    assert requests[2]["expect"] == {"status": 303}
    assert requests[3]["json"] == {"sku": "{item}", "qty": 2}
    # credentials from the environment, never copied; other hosts, beacons and assets listed
    assert document["headers"] == {"Authorization": "${AUTHORIZATION}", "Cookie": "${COOKIE}"}
    for secret in ("SECRET-123456", "consent=yes", "sid=abc"):
        assert secret not in text
    assert "www.google-analytics.com" in text and "/api/events" in text and "/static/app.css" in text


def test_a_file_that_is_not_a_har_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text("{\"not\": \"a har\"}")
    with pytest.raises(ScenarioError, match="not a HAR file"):
        convert_har(bad)
    with pytest.raises(ScenarioError, match="no such HAR file"):
        convert_har(tmp_path / "missing.har")
