"""Journeys -> visitors: one visitor walks one journey with its own cookie jar and connection.

Each request goes through Locust's ``FastHttpSession`` (geventhttpclient), named by its templated
endpoint (``GET /products/{product}``), never the expanded URL. A request that fails (connection error,
unexpected status, a failed check, a value that could not be extracted) ends the visit, as it would for
a real visitor, and is reported with a stable failure kind.
"""

from __future__ import annotations

import errno
import json
import random
import re
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import gevent
from locust.contrib.fasthttp import FastHttpSession

from ..scenario import Journey, Scenario, Step
from .recorder import BODY_SNIPPET, RequestFailure

_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def classify_error(error: BaseException) -> str:
    """A stable failure kind for a transport error."""
    if isinstance(error, ConnectionRefusedError):
        return "connection_refused"
    if isinstance(error, ConnectionResetError | BrokenPipeError):
        return "connection_reset"
    if isinstance(error, socket.gaierror):
        return "dns"
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return "tls"
    if isinstance(error, TimeoutError | socket.timeout | gevent.Timeout):
        return "timeout"
    if isinstance(error, OSError) and error.errno == errno.ECONNREFUSED:
        return "connection_refused"
    name = type(error).__name__.lower()
    if "timeout" in name:
        return "timeout"
    if "ssl" in name or "certificate" in name:
        return "tls"
    return "connection_error"


def render(template: str, values: Mapping[str, Any], *, in_path: bool = False) -> str:
    """Replace ``{var}`` with its value (URL-quoted inside a path)."""
    def sub(match: re.Match[str]) -> str:
        value = str(values[match.group(1)])
        return quote(value, safe="") if in_path else value
    return _VAR.sub(sub, template)


def render_json(value: Any, values: Mapping[str, Any]) -> Any:
    """Render ``{var}`` inside every string of a JSON document."""
    if isinstance(value, str):
        whole = _VAR.fullmatch(value)
        return values[whole.group(1)] if whole else render(value, values)
    if isinstance(value, list):
        return [render_json(v, values) for v in value]
    if isinstance(value, dict):
        return {render(k, values): render_json(v, values) for k, v in value.items()}
    return value


def json_path(document: Any, path: str) -> Any:
    """Follow a dotted path (``items.0.id``) into parsed JSON; KeyError when absent."""
    node = document
    for part in path.split("."):
        if isinstance(node, list) and part.lstrip("-").isdigit():
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(path)
    return node


@dataclass
class DataPool:
    """Per-visitor draws from the scenario's data sources (random, or sequential across visitors)."""

    values: dict[str, list[Any]]
    sequential: frozenset[str]
    rng: random.Random
    offset: int = 0  # this worker's place in a sequential walk
    stride: int = 1  # how many workers share the walk
    _counter: int = 0

    def draw(self) -> dict[str, Any]:
        """One value per source for a new visitor."""
        drawn: dict[str, Any] = {}
        index = self.offset + self._counter * self.stride
        self._counter += 1
        for name, column in self.values.items():
            drawn[name] = column[index % len(column)] if name in self.sequential else self.rng.choice(column)
        return drawn


@dataclass(frozen=True)
class _Prepared:
    """What a step's requests share, worked out once (the request path runs thousands of times a second)."""

    path_vars: bool
    headers_static: bool
    headers: dict[str, str]  # the whole set when static (never mutated: the session copies it)
    defaults: dict[str, str]  # what the step's body implies (Content-Type of a form), below any header given

    @classmethod
    def of(cls, step: Step, base_headers: Mapping[str, str]) -> _Prepared:
        static = not any(_VAR.search(v) for v in step.headers.values())
        defaults = {"Content-Type": "application/x-www-form-urlencoded"} if step.form is not None else {}
        return cls(path_vars=bool(_VAR.search(step.path)), headers_static=static, defaults=defaults,
                   headers={**defaults, **base_headers, **step.headers} if static else {})


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
        self._prepared: dict[int, _Prepared] = {}

    def pick(self) -> Journey:
        """Choose a journey by weight."""
        if len(self.journeys) == 1:
            return self.journeys[0]
        return self.rng.choices(self.journeys, weights=self.weights)[0]

    def new_session(self) -> FastHttpSession:
        """A fresh visitor's client: its own cookie jar and connection, no retries."""
        timeout = self.scenario.request_timeout
        return FastHttpSession(self.target, request_event=self.request_event, user=None, insecure=False,
                               network_timeout=timeout, connection_timeout=timeout, max_retries=0,
                               concurrency=1)

    def visit(self, journey: Journey | None = None, sleep: Callable[[float], None] = gevent.sleep,
              session: FastHttpSession | None = None) -> bool:
        """Walk one journey; True when every step succeeded.

        A new visitor gets a new session (cookie jar and connection), closed afterwards; a looping user
        (closed model) passes its own, which it keeps.
        """
        journey = journey or self.pick()
        values = self.data.draw()
        own = session is None
        session = session or self.new_session()
        try:
            for step in journey.steps:
                if step.method == "THINK":
                    lo, hi = step.think_range
                    sleep(lo if hi == lo else self.rng.uniform(lo, hi))
                    continue
                if not self.request(session, step, values):
                    return False
            return True
        finally:
            if own:
                session.client.close()

    def request(self, session: FastHttpSession, step: Step, values: dict[str, Any]) -> bool:
        """Send one step's request, check it, extract values; False when it failed."""
        prepared = self._prepared.get(id(step))
        if prepared is None:
            prepared = self._prepared[id(step)] = _Prepared.of(step, self.headers)
        url = render(step.path, values, in_path=True) if prepared.path_vars else step.path
        headers = prepared.headers if prepared.headers_static else \
            {**prepared.defaults, **self.headers, **{k: render(v, values) for k, v in step.headers.items()}}
        kwargs: dict[str, Any] = {}
        if step.form is not None:
            kwargs["data"] = urlencode({render(k, values): render(v, values) for k, v in step.form.items()})
        elif step.json_body is not None:
            kwargs["json"] = render_json(step.json_body, values)
        elif step.body is not None:
            kwargs["data"] = render(step.body, values)
        with session.request(step.method, url, name=step.endpoint, headers=headers, catch_response=True,
                             allow_redirects=step.follow_redirects, **kwargs) as response:
            failure = self.check(response, step)
            if failure is None:
                failure = self.extract(response, step, values)
            if failure is None:
                response.success()
                return True
            response.failure(failure)
            return False

    def check(self, response: Any, step: Step) -> RequestFailure | None:
        """The failure a response represents, or None."""
        error = getattr(response, "error", None)
        status = response.status_code or 0
        if status == 0:
            return RequestFailure(classify_error(error) if error else "connection_error", str(error or ""))
        expected = step.expect.status
        body = ""
        if expected is not None:
            allowed = expected if isinstance(expected, list) else [expected]
            if status not in allowed:
                body = _text(response)
                kind = f"http_{status}" if status >= 400 else "unexpected_status"
                return RequestFailure(kind, f"expected status {', '.join(map(str, allowed))}, got {status}; "
                                            f"body: {body}", status)
        elif status >= 400:
            return RequestFailure(f"http_{status}", _text(response), status)
        if step.expect.contains is not None and step.expect.contains not in (body or _text(response, None)):
            return RequestFailure("check_failed", f"body does not contain {step.expect.contains!r}", status)
        return None

    def extract(self, response: Any, step: Step, values: dict[str, Any]) -> RequestFailure | None:
        """Store extracted values for later steps; a failure when one is absent."""
        for name, extractor in step.extract.items():
            text = _text(response, None)
            if extractor.regex is not None:
                match = re.search(extractor.regex, text)
                if match is None:
                    return RequestFailure("extract_failed", f"{name}: regex {extractor.regex!r} did not match",
                                          response.status_code)
                values[name] = match.group(1)
            else:
                assert extractor.json_path is not None
                try:
                    values[name] = json_path(json.loads(text), extractor.json_path)
                except (ValueError, KeyError, IndexError, TypeError):
                    return RequestFailure("extract_failed", f"{name}: JSON path {extractor.json_path!r} not found",
                                          response.status_code)
        return None


def _text(response: Any, limit: int | None = BODY_SNIPPET) -> str:
    """The response body as text (undecodable bytes replaced), optionally truncated."""
    try:
        content = response.content or b""
    except Exception:  # a body that failed mid-read: treat as empty
        content = b""
    if limit is not None:
        content = content[:limit * 4]
    text = content.decode("utf-8", errors="replace") if isinstance(content, bytes) else str(content)
    return text[:limit] if limit is not None else text
