"""A browser recording of a real shop replays: django-oscar (public packages) on 127.0.0.1 with SQLite.

Chromium (Debian's, driven by Playwright) browses home -> a category -> a sub-category -> a product (not the
first listed) -> add to basket -> the basket, while Playwright records a HAR. ``loadkit init --from-har``
converts it; ``loadkit run`` replays it at 1 visitor/s against the shop, and the shop's own count of requests
(a WSGI middleware) must equal loadkit's, with no failure: every link, form action and CSRF token the
recording used is found again on each visitor's own pages.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from .helpers import ROOT, read_summary, rehearsal_requests, run_cli

pytestmark = pytest.mark.integration

# Also in pyproject.toml's test extras; installed here when missing so the test runs on a fresh machine.
SHOP_PACKAGES = ["django-oscar>=3.2", "sorl-thumbnail>=12.9", "whoosh>=2.7"]


def _ensure_packages() -> None:
    # found, not imported: the shop runs in its own process, and importing Django apps here would be noise
    if not all(importlib.util.find_spec(name) for name in ("oscar", "sorl", "whoosh")):
        done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", *SHOP_PACKAGES], capture_output=True,
                              text=True, timeout=600)
        if done.returncode != 0:
            pytest.skip("django-oscar could not be installed with pip (offline?): " + done.stderr.strip()[-300:])


class Shop:
    """The running shop: its URL and its own request count."""

    def __init__(self, url: str) -> None:
        self.url = url

    def requests(self) -> int:
        """Requests the shop's server received (its WSGI middleware's count)."""
        with urllib.request.urlopen(self.url + "/__requests__", timeout=10) as answer:  # loopback
            return int(answer.read())


@pytest.fixture(scope="module")
def oscar_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """A fresh django-oscar shop with five products, served by werkzeug on 127.0.0.1."""
    _ensure_packages()
    state = tmp_path_factory.mktemp("oscarshop")
    port_file = state / "port"
    log = (state / "server.log").open("w")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    server = subprocess.Popen([sys.executable, "-m", "tests.oscarshop.serve", str(state / "site"), str(port_file)],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not port_file.exists():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the oscar shop did not start: " + (state / "server.log").read_text()[-2000:])
            time.sleep(0.2)
        yield Shop(f"http://127.0.0.1:{port_file.read_text().strip()}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)
        log.close()


def _record(url: str, har: Path) -> None:
    """A shopper in headless Chromium: home, Books, Non-fiction, the second book, add to basket, basket."""
    from .test_browser import CHROMIUM, sync_api

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run",
                                          "--disable-background-networking", "--disable-component-update"])
        context = browser.new_context(record_har_path=str(har), record_har_content="embed")
        page = context.new_page()
        page.goto(url + "/")
        page.locator("a:visible", has_text="Books").first.click()
        page.wait_for_url("**/category/books_*/")
        page.locator("a:visible", has_text="Non-fiction").first.click()
        page.wait_for_url("**/category/books/non-fiction_*/")
        page.locator("h3 a:visible", has_text="The selfish gene").click()  # the second product listed
        page.wait_for_url("**/the-selfish-gene_*/")
        page.locator("#add_to_basket_form button[type=submit]").click()
        page.wait_for_load_state("load")
        page.goto(url + "/en-gb/basket/")
        assert "The selfish gene" in page.content()
        context.close()
        browser.close()


def test_a_recorded_oscar_visit_replays_with_exact_counts(tmp_path: Path, oscar_shop: Shop) -> None:
    pytest.importorskip("playwright.sync_api")
    from .test_browser import CHROMIUM

    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); .ci/run installs it")
    har = tmp_path / "oscar.har"
    _record(oscar_shop.url, har)
    out = tmp_path / "oscar.yaml"
    converted = run_cli("init", "--from-har", str(har), "--out", str(out))
    assert converted.returncode == 0, converted.stderr
    text = out.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    steps = [s for s in document["journeys"][0]["steps"] if "think" not in s]
    paths = [next(iter(s.values())) for s in steps]
    # the links the shopper clicked and the form it submitted, whole and found by their text / form id
    assert "{+books_link}" in paths and "{+non_fiction_link}" in paths and "{+the_selfish_gene_link}" in paths
    assert "{+add_to_basket_form_action}" in paths
    post = next(s for s in steps if "post" in s)
    assert post["form"]["csrfmiddlewaretoken"] == "{csrfmiddlewaretoken}"
    assert "static assets" in text  # oscar's CSS and scripts are left out, and said so
    assert "Not extracted" not in text, text
    # replay at 1 visitor/s for a short plan
    document["traffic"] = {"profile": "constant", "rate": "1/s", "duration": "5s"}
    out.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    before = oscar_shop.requests()
    run = run_cli("run", str(out), "--target", oscar_shop.url, "--out", str(tmp_path / "run"), timeout=120)
    summary = read_summary(tmp_path / "run")
    assert summary["totals"]["failures"] == 0, (summary.get("errors"), run.stderr[-1500:])
    assert summary["traffic"]["delivered_arrivals"] == 5
    assert summary["totals"]["requests"] == 5 * len(steps)
    # the shop saw loadkit's requests, loadkit's one preflight GET / and the rehearsal's one visit before the
    # load (run.json records both), nothing else
    assert json.loads((tmp_path / "run" / "run.json").read_text())["preflight"]["status"] < 400
    assert rehearsal_requests(tmp_path / "run") == len(steps)
    assert oscar_shop.requests() - before == summary["totals"]["requests"] + 1 + len(steps)
