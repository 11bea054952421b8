"""HAR conversion on a hand-made recording (no browser, no load): what is kept, dropped and templated."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from loadkit.errors import ScenarioError
from loadkit.har import convert_har
from loadkit.scenario import parse_scenario

from tests.helpers import run_cli

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
    # the link the visitor followed is the whole path ({+var} keeps its '/'), found by the link's text
    assert [next(iter(s)) + " " + next(iter(s.values())) for s in requests] == [
        "get /", "get {+lamp_link}", "post /basket", "post /api/quote"]
    assert {"think": "2.2s"} in steps  # from the end of the page load (assets included) to the next page
    assert requests[0]["extract"]["lamp_link"] == {"css": "a", "text": "Lamp", "attr": "href"}
    # the sku inside the link: a regex anchored on the text before it, stopping at the value's end
    sku = requests[0]["extract"]["item"]["regex"]
    assert sku.startswith("<a href='/item/")
    assert re.search(sku, "<a href='/item/sku-9/'>").group(1) == "sku-9"
    # the token: the form field of that name, whatever its place among the page's attributes
    assert requests[1]["extract"]["csrf_token"] == {"css": 'input[name="csrf_token"]', "attr": "value"}
    assert requests[2]["form"] == {"sku": "{item}", "csrf_token": "{csrf_token}"}
    assert requests[2]["expect"] == {"status": 303}
    assert requests[3]["json"] == {"sku": "{item}", "qty": 2}
    # credentials from the environment, never copied; other hosts, beacons and assets listed
    assert document["headers"] == {"Authorization": "${AUTHORIZATION}", "Cookie": "${COOKIE}"}
    for secret in ("SECRET-123456", "consent=yes", "sid=abc"):
        assert secret not in text
    assert "www.google-analytics.com" in text and "/api/events" in text and "/static/app.css" in text


def test_a_signed_url_s_credential_signature_and_key_never_reach_the_file(tmp_path: Path) -> None:
    secrets = {"X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20261127/eu-west-1/s3/aws4_request",
               "X-Amz-Signature": "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024",
               "sig": "c2lnbmF0dXJlLXZhbHVl", "key": "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
               "nonce": "n-0S6_WzA2Mj", "ticket": "ST-9931-kq2LmB", "access_key": "ak-77f2c91d"}
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in secrets.items())
    har = _har(tmp_path, [_entry("GET", f"{SITE}/download/report.pdf?{query}&page=2", 0, mime="application/pdf"),
                          _entry("GET", f"{SITE}/?{query}", 1.0)])
    out = tmp_path / "signed.yaml"
    result = run_cli("init", "--from-har", str(har), "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    for value in secrets.values():
        for form in {value, quote(value, safe=""), value.split("/")[0]}:
            assert form not in text, form
    assert "${X_AMZ_SIGNATURE}" in text and "page=2" in text  # read from the environment; the rest kept
    parse_scenario(yaml.safe_load(text))


def test_a_file_that_is_not_a_har_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.har"
    bad.write_text("{\"not\": \"a har\"}")
    with pytest.raises(ScenarioError, match="not a HAR file"):
        convert_har(bad)
    with pytest.raises(ScenarioError, match="no such HAR file"):
        convert_har(tmp_path / "missing.har")


def _shop_recording(tmp_path: Path) -> dict[str, Any]:
    """A storefront visit as a browser records it: the pages hold several links and forms alike, so only an
    extractor anchored on what the shopper used finds the recorded values."""
    token = "Xq8ZtVb2Lr0Pw9Kd7Hs3Nm4c"
    header = ("<form action='/search/' method='get'><input name='q' value='search me'></form>"
              "<nav><a href='/catalogue/category/clothing_1/'>Clothing</a> "
              "<a href='/catalogue/category/books_2/'>Books</a></nav>")
    home = f"<html><body>{header}<h1>Welcome</h1></body></html>"
    books = (f"<html><body>{header}<a href='/catalogue/category/books/fiction_3/'>Fiction</a>"
             "<article><a href='/catalogue/gene_11/'><img alt=''></a><a href='/catalogue/gene_11/'>The selfish gene</a>"
             "</article><article><a href='/catalogue/middlemarch_7/'><img alt=''></a>"
             "<a href='/catalogue/middlemarch_7/'>Middlemarch</a></article></body></html>")
    product = (f"<html><body>{header}<form id='add_to_basket_form' action='/basket/add/7/' method='post'>"
               f"<input type='hidden' name='csrfmiddlewaretoken' value='{token}'>"
               "<input type='number' name='quantity' value='1'></form>"
               "<ul><li>code ZZ99ZZ99</li><li>code ab12cd34</li></ul></body></html>")
    form = "application/x-www-form-urlencoded"
    har = _har(tmp_path, [
        _entry("GET", f"{SITE}/", 0, text=home),
        _entry("GET", f"{SITE}/static/shop.css", 0.1, mime="text/css"),
        _entry("GET", "https://fonts.example-cdn.test/font.woff2", 0.1, mime="font/woff2"),
        _entry("GET", f"{SITE}/catalogue/category/books_2/", 1, text=books),
        _entry("GET", f"{SITE}/catalogue/middlemarch_7/", 2, text=product),
        _entry("POST", f"{SITE}/basket/add/7/", 3, status=302,
               post={"mimeType": form, "text": f"csrfmiddlewaretoken={token}&quantity=1"}),
        _entry("GET", f"{SITE}/catalogue/middlemarch_7/", 3.1, text=product),  # redirected back to the product
        _entry("GET", f"{SITE}/offers/ab12cd34/", 4),
        _entry("POST", f"{SITE}/checkout/payment/", 5, status=302,
               post={"mimeType": form, "text": "card_number=4111+1111+1111+1111&email=shopper%40example.test"
                                               "&password=hunter22&quantity=1"}),
        _entry("GET", f"{SITE}/checkout/return/?token=tok_5d8e2f9a7c1b&status=ok", 6),
    ])
    text = convert_har(har)
    return {"text": text, "document": yaml.safe_load(text)}


def test_each_extractor_finds_the_value_the_shopper_used(tmp_path: Path) -> None:
    converted = _shop_recording(tmp_path)
    document, text = converted["document"], converted["text"]
    parse_scenario(document)  # a valid scenario
    steps = [s for s in document["journeys"][0]["steps"] if "think" not in s]
    paths = [next(iter(s.values())) for s in steps]
    # the clicked links, whole (no slash captured into a segment, no encoded '/'), by their text
    assert paths[:3] == ["/", "{+books_link}", "{+middlemarch_link}"]
    assert steps[0]["extract"]["books_link"] == {"css": "a", "text": "Books", "attr": "href"}  # not Clothing
    assert steps[1]["extract"]["middlemarch_link"] == {"css": "a", "text": "Middlemarch", "attr": "href"}
    # the product's own form: its action is the add-to-basket path, the token its named field
    assert paths[3] == "{+add_to_basket_form_action}"
    extract = steps[2]["extract"]
    assert extract["add_to_basket_form_action"] == {"css": "form#add_to_basket_form", "attr": "action"}
    assert extract["csrfmiddlewaretoken"] == {"css": 'input[name="csrfmiddlewaretoken"]', "attr": "value"}
    assert steps[3]["form"] == {"csrfmiddlewaretoken": "{csrfmiddlewaretoken}", "quantity": "1"}
    assert paths[4] == "{+middlemarch_link}"  # the same page again: the same variable
    steps = steps[:4] + steps[5:]
    paths = paths[:4] + paths[5:]
    # an extractor that would find another value on the recorded page is refused, with a note
    assert paths[4] == "/offers/ab12cd34/"
    assert "# Not extracted: path value: no extractor found 'ab12cd34' again" in text
    # secrets and personal data: read from the environment, never copied
    assert steps[5]["form"] == {"card_number": "${CARD_NUMBER}", "email": "${EMAIL}", "password": "${PASSWORD}",
                                "quantity": "1"}
    assert paths[6] == "/checkout/return/?token=${TOKEN}&status=ok"
    for literal in ("4111", "shopper", "hunter22", "tok_5d8e2f9a7c1b"):
        assert literal not in text
    assert "${CARD_NUMBER}" in text.split("\nname:")[0]  # the header says what to export
    # static assets and other hosts: left out, and the header says so
    assert "static assets (1 requests): /static/shop.css" in text and "fonts.example-cdn.test (1)" in text


def test_generated_extractors_reproduce_the_recorded_values(tmp_path: Path) -> None:
    """Every extractor the converter wrote finds, in the recorded page, exactly the value sent later."""
    from loadkit.extract import extract_value
    from loadkit.scenario import Extractor

    converted = _shop_recording(tmp_path)
    steps = [s for s in converted["document"]["journeys"][0]["steps"] if "think" not in s]
    har = json.loads((tmp_path / "visit.har").read_text())
    pages = {e["request"]["url"]: e["response"]["content"]["text"] for e in har["log"]["entries"]}
    expected = {"books_link": "/catalogue/category/books_2/", "middlemarch_link": "/catalogue/middlemarch_7/",
                "add_to_basket_form_action": "/basket/add/7/", "csrfmiddlewaretoken": "Xq8ZtVb2Lr0Pw9Kd7Hs3Nm4c"}
    urls = [f"{SITE}/", f"{SITE}/catalogue/category/books_2/", f"{SITE}/catalogue/middlemarch_7/"]
    found = {name: extract_value(Extractor(**spec), pages[url])
             for url, step in zip(urls, steps, strict=False) for name, spec in step.get("extract", {}).items()}
    assert found == expected


def test_values_from_a_json_answer_are_found_by_their_json_path(tmp_path: Path) -> None:
    cart = {"cart": {"id": "c_8f3a9b2c", "lines": [{"sku": "sku-12345", "qty": 1}, {"sku": "sku-67890", "qty": 2}]}}
    har = _har(tmp_path, [
        _entry("GET", f"{SITE}/", 0, text="<h1>Shop</h1>"),
        _entry("GET", f"{SITE}/api/cart", 1, mime="application/json", text=json.dumps(cart)),
        _entry("POST", f"{SITE}/api/cart/c_8f3a9b2c/lines?after=sku-67890", 2, mime="application/json",
               post={"mimeType": "application/json", "text": json.dumps({"sku": "sku-67890", "qty": 3})}),
    ])
    steps = [s for s in yaml.safe_load(convert_har(har))["journeys"][0]["steps"] if "think" not in s]
    assert steps[1]["extract"] == {"id": {"json": "cart.id"}, "sku": {"json": "cart.lines.1.sku"}}
    assert steps[2]["post"] == "/api/cart/{id}/lines?after={sku}"
    assert steps[2]["json"] == {"sku": "{sku}", "qty": 3}
