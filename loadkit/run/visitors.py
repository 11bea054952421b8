"""Journeys -> visitors: one visitor walks one journey with its own cookie jar and connection.

Each request goes through the visitor's :class:`~loadkit.run.client.VisitorClient` (geventhttpclient), and is
reported to Locust's ``events.request`` named by its templated endpoint (``GET /products/{product}``), never
the expanded URL. A request that fails (connection error,
unexpected status, a failed check, a value that could not be extracted) ends the visit, as it would for
a real visitor, and is reported with a stable failure kind.
"""

from __future__ import annotations

import json
import os
import random
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import gevent

from .. import failures as kinds
from ..extract import NotFound, extract_value, json_path
from ..redaction import secret_header_names
from ..scenario import Journey, Scenario, Step, host_allowed, mask_query, url_host
from .browser import cacheable, csrf_field, csrf_headers, origin, page_assets
from .client import Connections, Response, VisitorClient
from .kinds import RequestFailure, classify_error
from .recorder import BODY_SNIPPET
from .steps import DataPool, Prepared, render, render_json
from .walking import Walkers


MAX_REDIRECTS = 5
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def shared_pool_size() -> int:
    """Connections a shared pool may open: most of this process's file descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(64, min(10_000, soft - 256)) if soft > 0 else 10_000


class VisitorFactory:
    """Builds and runs visitors for a scenario against one target."""

    def __init__(self, scenario: Scenario, target: str, request_event: Any, data: DataPool,
                 headers: Mapping[str, str], rng: random.Random) -> None:
        self.scenario = scenario
        self.target = target
        self.request_event = request_event
        self.data = data
        self.headers = dict(headers)  # scenario-wide headers, environment already expanded
        self.rng = rng
        self.journeys = scenario.journeys
        self.weights = [j.weight for j in scenario.journeys]
        # Even spacing interleaves journeys in exact proportion (smooth weighted round-robin), so every
        # stretch of the run carries the planned mix; Poisson spacing draws them at random.
        self.interleave = scenario.traffic.spacing == "uniform"
        self._credit = [0.0] * len(self.journeys)
        self._total_weight = sum(self.weights)
        self.resources = scenario.page_resources
        self._cacheable: set[str] = set()  # asset URLs browsers may cache (warm-cache skips them)
        # Automatic CSRF costs a scan of every HTML page; only journeys that post forms need it.
        self.csrf = scenario.csrf == "auto" and any(
            step.method not in _SAFE_METHODS for j in self.journeys for step in j.steps)
        self.reads_pages = self.csrf or self.resources != "off"  # HTML is parsed after each page
        shared = scenario.connections == "shared"
        self.connections = Connections(target, shared, scenario.verify_tls, scenario.request_timeout,
                                       shared_pool_size() if shared else 1)
        self.on_offsite: Callable[[str, str, str], None] | None = None  # (endpoint, method, location)
        # (journey, start epoch s, duration s, outcome: completed | cut_short | a failure kind, step number)
        self.on_journey: Callable[[str, float, float, str, int], None] | None = None
        # scenario-wide headers that carry secrets: sent to the target's origin only
        self._secret_headers = frozenset(secret_header_names(scenario))
        self._origin = origin(target)
        self._prepared: dict[int, Prepared] = {}
        self.walking = Walkers()  # the visits in flight, each at its step: those the run's end cuts short
        self._step_names = {id(j): tuple(_step_name(s) for s in j.steps) for j in self.journeys}

    def pick(self) -> Journey:
        """Choose a journey by weight."""
        if len(self.journeys) == 1:
            return self.journeys[0]
        if not self.interleave:
            return self.rng.choices(self.journeys, weights=self.weights)[0]
        for i, weight in enumerate(self.weights):
            self._credit[i] += weight
        best = max(range(len(self.journeys)), key=self._credit.__getitem__)
        self._credit[best] -= self._total_weight
        return self.journeys[best]

    def new_client(self) -> VisitorClient:
        """A fresh visitor's client: its own cookie jar and connection (or, with ``connections: shared``,
        keep-alive connections borrowed from the process's pool); no retries."""
        return VisitorClient(self.connections, self.request_event)

    def visit(self, journey: Journey | None = None, sleep: Callable[[float], None] = gevent.sleep,
              client: VisitorClient | None = None) -> bool:
        """Walk one journey; True when every step succeeded.

        A new visitor gets a new client (cookie jar and connection), closed afterwards; a looping user
        (closed model) passes its own, which it keeps.
        """
        journey = journey or self.pick()
        values = self.data.draw()
        own = client is None
        client = client or self.new_client()
        walker = self.walking.start(journey.name, self._step_names.get(id(journey)) or
                                    tuple(_step_name(s) for s in journey.steps))
        began = time.time()
        outcome = JOURNEY_CUT_SHORT  # what a visit stopped from outside (the run ended) leaves
        try:
            for walker.index, step in enumerate(journey.steps, 1):
                if step.method == "THINK":
                    lo, hi = step.think_range
                    sleep(lo if hi == lo else self.rng.uniform(lo, hi))
                    continue
                if not self.request(client, step, values):
                    outcome = values.get(_FAILURE) or "error"
                    return False
                if self.resources != "off" and values.get(_ASSETS):
                    self.fetch_assets(client, values)
            outcome = JOURNEY_COMPLETED
            return True
        except Exception:
            outcome = "error"  # a bug's exception: the visit failed at this step, the run goes on
            raise
        finally:
            self.walking.end(walker)
            if own:
                client.close()  # the visitor leaves: its own connection closes
            if self.on_journey is not None:  # once per visit: the per-request path pays nothing
                self.on_journey(journey.name, began, time.time() - began, outcome, walker.index or 0)

    def request(self, client: VisitorClient, step: Step, values: dict[str, Any]) -> bool:
        """Send one step's request (and, with ``follow_redirects``, its redirects on this site), check it,
        extract values; False when it failed.

        Every hop is a request of the step's endpoint, as the site sees it. A redirect to another host is
        never followed (loadkit loads the target only); it is counted for the report.
        """
        prepared = self._prepared.get(id(step))
        if prepared is None:
            prepared = self._prepared[id(step)] = Prepared.of(step, self.headers, os.environ)
        url = prepared.path.expand(values) if prepared.path_vars else prepared.path.source
        if not url.startswith("/") and "://" not in url:  # a relative link, as the page it came from had it
            url = urljoin(values.get(_PAGE_URL) or self.target + "/", url)
        headers = prepared.headers if prepared.headers_static else \
            {**prepared.defaults, **self.headers, **{k: render(v, values) for k, v in prepared.step_headers.items()}}
        if "://" in url and origin(url) != self._origin:
            if not host_allowed(url, self.target, self.scenario.allowed_hosts):
                values[_FAILURE] = "host_not_allowed"
                return self._refuse(client, step, url)
            own = {name.lower() for name in step.headers}
            headers = {k: v for k, v in headers.items() if k.lower() not in self._secret_headers or k.lower() in own}
        form = {render(k, values): render(v, values) for k, v in prepared.form.items()} \
            if prepared.form is not None else None
        if self.csrf and step.method not in _SAFE_METHODS:
            remembered = values.get(_CSRF_FIELD)
            if form is not None and remembered is not None and remembered[0] not in form:
                form[remembered[0]] = remembered[1]  # the page's form carried it
            extra = csrf_headers(client.cookiejar)
            if extra:
                headers = {**headers, **extra}
        body: str | None = None
        if form is not None:
            body = urlencode(form)
        elif prepared.json_body is not None:
            body = json.dumps(render_json(prepared.json_body, values))
        elif prepared.body is not None:
            body = render(prepared.body, values)
        method = step.method
        for hop in range(MAX_REDIRECTS + 1):
            response = client.send(method, url, headers, body)
            status = response.status_code
            location = response.headers.get("Location") if status in REDIRECT_STATUSES else None
            if location:
                here = url if "://" in url else self.target + url
                there = urljoin(here, location)
                same_site = origin(there) == origin(self.target)
                if not same_site and self.on_offsite is not None:
                    self.on_offsite(step.endpoint, method, there)
                if step.follow_redirects and same_site and hop < MAX_REDIRECTS and not _expects(step, status):
                    client.report(step.endpoint, response, None)  # one hop of a redirect chain; the last is judged
                    url = there
                    if status in (301, 302, 303):
                        method, body = "GET", None
                    continue
            failure = self.check(response, step)
            if failure is None:
                failure = self.extract(response, step, values)
            if failure is None:
                if method == "GET":
                    values[_PAGE_URL] = url if "://" in url else self.target + url  # relative links resolve here
                html = _html(response) if self.reads_pages else None  # decoded only when needed
                if self.csrf and html is not None:
                    field = csrf_field(html)
                    if field is not None:
                        values[_CSRF_FIELD] = field
                if self.resources != "off" and method == "GET" and html is not None:
                    values[_ASSETS] = page_assets(html, url if "://" in url else self.target + url, self.target)
            client.report(step.endpoint, response, failure)
            if failure is not None:
                values[_FAILURE] = failure.kind
            return failure is None
        return False  # unreachable: the last hop always returns

    def _refuse(self, client: VisitorClient, step: Step, url: str) -> bool:
        """A step whose URL, built from values, leads to a host that is neither the target's nor allowed: it
        is not sent, and counts as a failure of kind ``host_not_allowed`` (the scenario's, not the site's)."""
        host, port = url_host(url)
        response = Response(step.method, url, time.time())
        client.report(step.endpoint, response, RequestFailure(
            kinds.HOST_NOT_ALLOWED, f"{host}:{port} is not the target's host and not in allowed_hosts; not sent"))
        return False

    def check(self, response: Response, step: Step) -> RequestFailure | None:
        """The failure a response represents, or None."""
        error = response.error
        status = response.status_code
        if status == 0:
            return RequestFailure(classify_error(error) if error else kinds.CONNECTION_ERROR, str(error or ""))
        if error is not None:  # the status line had arrived, the body had not
            return RequestFailure(classify_error(error), f"the response broke off: {error}", status)
        expected = step.expect.status
        body = ""
        if expected is not None:
            allowed = expected if isinstance(expected, list) else [expected]
            if status not in allowed:
                body = _text(response)
                kind = _status_kind(response, status) if status >= 400 else kinds.UNEXPECTED_STATUS
                return RequestFailure(kind, f"expected status {', '.join(map(str, allowed))}, got {status}; "
                                            f"body: {body}", status)
        elif status >= 400:
            return RequestFailure(_status_kind(response, status), _text(response), status)
        if step.expect.contains is not None and step.expect.contains not in (body or _text(response, None)):
            return RequestFailure(kinds.CHECK_FAILED, f"body does not contain {step.expect.contains!r}", status)
        if step.expect.json_fields:
            return _check_json(_text(response, None), step.expect.json_fields, status)
        return None

    def extract(self, response: Response, step: Step, values: dict[str, Any]) -> RequestFailure | None:
        """Store extracted values for later steps; a failure when one is absent."""
        text = _text(response, None) if step.extract else ""
        for name, extractor in step.extract.items():
            try:
                values[name] = extract_value(extractor, text)
            except NotFound as missing:
                return RequestFailure(kinds.EXTRACT_FAILED, f"{name}: {missing}", response.status_code)
        return None

    # --- page resources (page_resources: empty-cache | warm-cache) --------------------------------

    def fetch_assets(self, client: VisitorClient, values: dict[str, Any]) -> None:
        """Fetch a page's assets one by one, as ``asset: GET /path`` endpoints; a broken asset is a failure
        of its endpoint but does not end the visit (a missing image does not send a visitor away)."""
        seen: set[str] = values.setdefault(_ASSETS_SEEN, set())
        for url in values.pop(_ASSETS):
            if url in seen or (self.resources == "warm-cache" and url in self._cacheable):
                continue
            seen.add(url)
            path = urlsplit(url)
            name = f"asset: GET {mask_query(path.path + ('?' + path.query if path.query else ''))}"
            response = client.send("GET", url)
            failure = self.check(response, _ASSET_STEP)
            if failure is None and cacheable(response):
                self._cacheable.add(url)
            client.report(name, response, failure)


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "THINK"})
# keys in a visitor's values (none is a valid {placeholder} name)
_ASSETS, _ASSETS_SEEN, _CSRF_FIELD = "assets:pending", "assets:seen", "csrf:form-field"
_PAGE_URL = "page:url"  # the last page's URL, which relative links resolve against
_FAILURE = "visit:failure"  # the failure kind of the step that ended the visit
JOURNEY_COMPLETED, JOURNEY_CUT_SHORT = "completed", "cut_short"  # a visit's outcome, when not a failure kind
_ASSET_STEP = Step(get="/")  # asset checks: any status below 400


def _step_name(step: Step) -> str:
    """A step as the reports name it: its endpoint, or ``think 1s..4s``."""
    return f"think {step.think}" if step.method == "THINK" else step.endpoint


def _html(response: Response) -> str | None:
    """The body of an HTML response as text, else None."""
    if "html" not in (response.headers.get("Content-Type") or ""):
        return None
    return _text(response, None)


def _check_json(text: str, fields: Mapping[str, Any], status: int) -> RequestFailure | None:
    """The JSON body must have each field (dotted path) with its value ('*': any value)."""
    try:
        document = json.loads(text)
    except ValueError:
        return RequestFailure(kinds.CHECK_FAILED, "the body is not JSON", status)
    for path, expected in fields.items():
        try:
            actual = json_path(document, path)
        except (KeyError, IndexError, TypeError, ValueError):
            return RequestFailure(kinds.CHECK_FAILED, f"JSON field {path!r} is missing", status)
        if expected != "*" and actual != expected:
            return RequestFailure(kinds.CHECK_FAILED, f"JSON field {path!r} is {actual!r}, expected {expected!r}",
                                  status)
    return None


def _expects(step: Step, status: int) -> bool:
    """Whether the step's ``expect.status`` names this status (then the redirect is the answer)."""
    expected = step.expect.status
    if expected is None:
        return False
    return status in (expected if isinstance(expected, list) else [expected])


def _status_kind(response: Response, status: int) -> str:
    """``http_NNN``; a 503 that says when to come back (``Retry-After``) is shedding, kept apart."""
    return kinds.http_kind(status, retry_after=response.headers.get("Retry-After") is not None)


def _text(response: Response, limit: int | None = BODY_SNIPPET) -> str:
    """The response body as text (undecodable bytes replaced), optionally truncated."""
    content = response.content if limit is None else response.content[:limit * 4]
    text = content.decode("utf-8", errors="replace")
    return text[:limit] if limit is not None else text


__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "DataPool", "VisitorFactory", "classify_error", "render",
           "render_json", "shared_pool_size"]
