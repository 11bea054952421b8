"""Scenario files: YAML in, frozen typed objects out; and the JSON Schema of the format.

Every validation error becomes one :class:`~loadkit.errors.ScenarioError` line that names the file, the
field path (``journeys[1].steps[0].post``) and how to fix it. The format is documented in
``docs/scenario-format.md``.
"""

from __future__ import annotations

import csv
import json
import re
from importlib import resources
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from urllib.parse import urlsplit

import yaml
from selectolax.lexbor import LexborHTMLParser
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from .errors import ScenarioError
from .uri import ENV, starts_with_expression, template_variables
from .units import parse_duration, parse_percent, parse_rate

_DURATION_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h)\s*)+$"},
                              {"type": "number", "minimum": 0}],
                    "description": "A duration: '250ms', '45s', '2m', '1m30s' or seconds."}
_RATE_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*/\s*(s|m|h)\s*$"},
                          {"type": "number", "minimum": 0}],
                "description": "A rate: '120/s', '600/m' or a number per second (users, for model: users)."}
_PERCENT_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                             {"type": "number", "minimum": 0, "maximum": 1}],
                   "description": "A percentage: '1%', '0.4%' or a fraction from 0 to 1."}

Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
Rate = Annotated[float, BeforeValidator(parse_rate), WithJsonSchema(_RATE_SCHEMA)]
Percent = Annotated[float, BeforeValidator(parse_percent), WithJsonSchema(_PERCENT_SCHEMA)]

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")
_VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- traffic -----------------------------------------------------------------------------------


class Audience(_Frozen):
    """Marketing numbers: how many people see the moment, what share visits, over what window."""

    viewers: int = Field(gt=0, description="People who see the mention (TV viewers, mailing list).")
    visit_share: Percent = Field(description="Share of viewers who visit the site, e.g. '0.4%'.")
    window: Duration = Field(description="Time within which those visitors arrive (ramp + hold + decay).")

    @field_validator("visit_share")
    @classmethod
    def _share_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("visit_share must be above 0%")
        return value

    @property
    def visitors(self) -> float:
        """Expected visitors caused by the moment."""
        return self.viewers * self.visit_share


class _TrafficBase(_Frozen):
    model: Literal["arrivals", "users"] = Field(
        "arrivals", description="arrivals: open model (visitors arrive on schedule, run one journey, leave); "
        "users: closed model (N looping users).")
    rate_scale: float = Field(1.0, gt=0, description="Run this fraction of the planned load (0.1 = 10%).")
    spacing: Literal["uniform", "poisson"] = Field(
        "uniform", description="How arrivals are spaced within each moment: evenly, or at random (Poisson).")
    seed: int = Field(1, description="Seed for journey choice, data draws and Poisson spacing.")


class BurstTraffic(_TrafficBase):
    """A viral burst: baseline -> ramp -> hold at peak -> exponential decay (-> headroom probe)."""

    profile: Literal["burst"] = "burst"
    baseline: Rate = Field(1.0, description="Everyday traffic before and after the moment.")
    peak: Rate | None = Field(None, description="Peak arrivals per second; or give audience.")
    audience: Audience | None = None
    lead_in: Duration = Field(15.0, description="Time at baseline before the ramp.")
    ramp: Duration = Field(30.0, description="Time from baseline to peak.")
    hold: Duration = Field(60.0, description="Time at peak.")
    decay_half_life: Duration = Field(30.0, gt=0, description="Half-life of the decay back to baseline.")
    decay: Duration | None = Field(None, description="Length of the decay (default: three half-lives, "
                                                     "or the rest of the audience window).")
    recovery: Duration = Field(20.0, description="Time at baseline at the end, to see the site recover.")

    @model_validator(mode="after")
    def _peak_or_audience(self) -> BurstTraffic:
        if (self.peak is None) == (self.audience is None):
            raise ValueError("give exactly one of 'peak' (e.g. 120/s) or 'audience' "
                             "({viewers, visit_share, window})")
        if self.peak is not None and self.peak < self.baseline:
            raise ValueError(f"peak ({self.peak:g}/s) is below baseline ({self.baseline:g}/s)")
        if self.audience is not None and self.audience.window <= self.ramp + self.hold:
            raise ValueError("audience.window must be longer than ramp + hold")
        return self


class StepsTraffic(_TrafficBase):
    """A capacity probe: the rate steps up level by level."""

    profile: Literal["steps"]
    start: Rate = Field(description="First level.")
    step: Rate = Field(description="Increase per level.")
    step_duration: Duration = Field(gt=0, description="Time at each level.")
    steps: int = Field(gt=0, le=1000, description="Number of levels.")


class ConstantTraffic(_TrafficBase):
    """A steady rate for a while."""

    profile: Literal["constant"]
    rate: Rate
    duration: Duration = Field(gt=0)


class PointsTraffic(_TrafficBase):
    """A custom curve: [time, rate] points joined by straight lines."""

    profile: Literal["points"]
    points: list[tuple[Duration, Rate]] = Field(min_length=2)

    @field_validator("points")
    @classmethod
    def _increasing(cls, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        if points[0][0] != 0:
            raise ValueError("the first point must be at time 0s")
        if any(b[0] <= a[0] for a, b in zip(points, points[1:])):
            raise ValueError("point times must increase")
        return points


def _profile_tag(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("profile", "burst"))
    return str(getattr(value, "profile", "burst"))


Traffic = Annotated[
    Union[Annotated[BurstTraffic, Tag("burst")], Annotated[StepsTraffic, Tag("steps")],
          Annotated[ConstantTraffic, Tag("constant")], Annotated[PointsTraffic, Tag("points")]],
    Discriminator(_profile_tag, custom_error_type="profile",
                  custom_error_message="profile must be one of burst, steps, constant, points"),
]


# --- journeys ----------------------------------------------------------------------------------


class Extractor(_Frozen):
    """Take a value from a response for later steps: a regex's first group, a JSON path, or the first
    element a CSS selector matches (its text, or one of its attributes)."""

    regex: str | None = None
    json_path: str | None = Field(None, alias="json", description="Dotted path: 'items.0.id'.")
    css: str | None = Field(None, description="CSS selector: 'input[name=csrf_token]'.")
    attr: str | None = Field(None, description="With css: the attribute to take (default: the text).")
    text: str | None = Field(None, description="With css: only elements whose text (white space collapsed) "
                                               "is exactly this, e.g. the link the visitor clicks.")
    index: int = Field(0, ge=0, description="With css: which of the matching elements (0: the first).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one(self) -> Extractor:
        if sum(x is not None for x in (self.regex, self.json_path, self.css)) != 1:
            raise ValueError("give exactly one of 'regex', 'json' or 'css'")
        if self.css is None and (self.attr is not None or self.text is not None or self.index):
            raise ValueError("'attr', 'text' and 'index' go with 'css'")
        if self.css is not None:
            try:
                LexborHTMLParser("<p></p>").css_first(self.css)
            except Exception as exc:  # noqa: BLE001 - the parser's own error type varies by version
                raise ValueError(f"invalid CSS selector {self.css!r} ({exc})") from None
        if self.regex is not None:
            try:
                compiled = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
            if compiled.groups < 1:
                raise ValueError("the regex needs one capturing group (...) around the value")
        return self


class Expect(_Frozen):
    """Checks on a response; a failed check fails the request."""

    status: int | list[int] | None = Field(None, description="Expected status code(s); default: any < 400.")
    contains: str | None = Field(None, description="Text the body must contain.")
    json_fields: dict[str, Any] | None = Field(
        None, alias="json", description="JSON body fields that must hold these values: {'status': 'ok', "
                                        "'items.0.id': 3}; a value of '*' only requires the field.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Step(_Frozen):
    """One journey step: an HTTP request (get/post/...: path) or a pause (think: '1s..4s')."""

    get: str | None = None
    post: str | None = None
    put: str | None = None
    patch: str | None = None
    delete: str | None = None
    head: str | None = None
    think: str | float | None = Field(None, description="A pause: '2s', or a random range '1s..4s'.")
    name: str | None = Field(None, description="Endpoint name in reports (default: METHOD + templated path).")
    headers: dict[str, str] = Field(default_factory=dict)
    form: dict[str, str] | None = None
    json_body: Any = Field(None, alias="json")
    body: str | None = None
    extract: dict[str, Extractor] = Field(default_factory=dict)
    expect: Expect = Field(default_factory=Expect)
    follow_redirects: bool = Field(False, description="Follow redirects (default: a 3xx is the answer).")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [m for m in HTTP_METHODS if getattr(self, m) is not None]
        if self.think is not None:
            actions.append("think")
        if len(actions) != 1:
            raise ValueError("each step needs exactly one of get, post, put, patch, delete, head or think"
                             + (f" (found {', '.join(actions)})" if actions else ""))
        if self.think is not None:
            self.think_range  # validates
            if any(getattr(self, f) for f in ("form", "body", "extract", "headers", "name")):
                raise ValueError("a think step takes no request options")
        else:
            path = self.path
            if starts_with_expression(path):
                if not path.startswith(("{+", "{#")):
                    raise ValueError(f"a path taken whole from a variable keeps its '/' only as {{+var}}, got "
                                     f"{path!r}: write {{+{path[1:]}")
            elif not (path.startswith("/") or path.startswith("http://") or path.startswith("https://")):
                raise ValueError(f"the path must start with '/' (or be a whole {{+variable}}), got {path!r}")
            try:
                template_variables(path)
            except Exception as exc:  # noqa: BLE001 - uritemplate's parse errors have no common type
                raise ValueError(f"the path {path!r} is not a valid URI template ({exc})") from None
            bodies = [b for b in (self.form, self.json_body, self.body) if b is not None]
            if len(bodies) > 1:
                raise ValueError("give at most one of form, json or body")
        return self

    @property
    def method(self) -> str:
        """Upper-case HTTP method, or ``THINK``."""
        for m in HTTP_METHODS:
            if getattr(self, m) is not None:
                return m.upper()
        return "THINK"

    @property
    def path(self) -> str:
        """The templated path (``/products/{product}``)."""
        value = getattr(self, self.method.lower())
        assert isinstance(value, str)
        return value

    @property
    def endpoint(self) -> str:
        """Endpoint name used in every report: ``GET /products/{product}`` unless ``name`` is set.

        Literal query values are masked (``GET /page?token=***``): they may be secrets, and the same page
        with other values is the same endpoint; ``{placeholders}`` stay.
        """
        return self.name or f"{self.method} {mask_query(self.path)}"

    @property
    def think_range(self) -> tuple[float, float]:
        """(min, max) seconds of a think step."""
        raw = self.think
        if isinstance(raw, str) and ".." in raw:
            lo_text, hi_text = raw.split("..", 1)
            lo, hi = parse_duration(lo_text), parse_duration(hi_text)
            if hi < lo:
                raise ValueError(f"think range {raw!r} ends before it starts")
            return lo, hi
        value = parse_duration(raw)
        return value, value


class Journey(_Frozen):
    """A visitor's path through the site, run once per arrival (open model) or looped (users)."""

    name: str = Field(min_length=1)
    weight: float = Field(1.0, gt=0, description="Relative share of visitors taking this journey.")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_request(self) -> Journey:
        if not any(s.method != "THINK" for s in self.steps):
            raise ValueError("a journey needs at least one request step (get, post, ...)")
        return self

    @property
    def think_seconds(self) -> float:
        """Mean total think time, for Little's-law estimates."""
        return sum(sum(s.think_range) / 2 for s in self.steps if s.method == "THINK")


def mask_query(path: str) -> str:
    """``/page?token=abc&q={q}`` -> ``/page?token=***&q={q}``: literal query values hidden, placeholders kept."""
    base, sep, query = path.partition("?")
    if not sep:
        return path
    parts = []
    for item in query.split("&"):
        key, eq, value = item.partition("=")
        parts.append(f"{key}={value}" if eq and re.fullmatch(r"\{\+?[A-Za-z_][A-Za-z0-9_]*\}", value)
                     else f"{key}=***" if eq else item)
    return f"{base}?{'&'.join(parts)}"


def mean_visit_seconds(journeys: Sequence[Journey]) -> float:
    """A visit's mean length by weight: think time plus ~0.1 s per request (for Little's law)."""
    total = sum(j.weight for j in journeys)
    if not total:
        return 0.0
    return sum(j.weight * (j.think_seconds + 0.1 * sum(1 for s in j.steps if s.method != "THINK"))
               for j in journeys) / total


# --- data, SLOs, verdict, safety -----------------------------------------------------------------


class CsvSource(_Frozen):
    """Values from one column of a CSV file (path relative to the scenario file)."""

    csv: str
    column: str
    order: Literal["random", "sequential"] = "random"


class RangeSource(_Frozen):
    """Integers from ``start`` to ``stop`` inclusive, drawn from the bounds: never expanded into a list."""

    range: tuple[int, int]
    order: Literal["random", "sequential"] = "random"

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[1] < value[0]:
            raise ValueError("range [start, stop] needs start <= stop")
        if any(not -2**63 <= bound < 2**63 for bound in value):  # the bounds travel to workers as 64-bit ints
            raise ValueError("range bounds must lie between -2**63 and 2**63 - 1")
        return value


class ListSource(_Frozen):
    """An inline list of values."""

    values: list[str | int | float] = Field(min_length=1)
    order: Literal["random", "sequential"] = "random"


def _data_source(value: Any) -> Any:
    return {"values": value} if isinstance(value, list) else value


DataSource = Annotated[Union[CsvSource, RangeSource, ListSource], BeforeValidator(_data_source)]


class Slo(_Frozen):
    """A service level: a metric that must stay below a limit (over the run, an endpoint, a phase)."""

    metric: Literal["p50", "p75", "p90", "p95", "p99", "max", "mean", "error_rate"]
    below: str | float = Field(description="Latency limit ('800ms', '2s') or error rate limit ('1%').")
    endpoint: str | None = Field(None, description="Endpoint name; default: all requests.")
    phase: str | None = Field(None, description="Only this phase (baseline, ramp, peak, decay, probe, ...).")

    @model_validator(mode="after")
    def _limit_parses(self) -> Slo:
        self.limit  # validates
        return self

    @property
    def limit(self) -> float:
        """Threshold in milliseconds (latency metrics) or as a fraction (error_rate)."""
        if self.metric == "error_rate":
            return parse_percent(self.below)
        return parse_duration(self.below) * 1000.0

    @property
    def name(self) -> str:
        """A unique, readable name: ``p95 < 800ms [POST /checkout]``."""
        scope = f" [{self.endpoint}]" if self.endpoint else ""
        phase = f" during {self.phase}" if self.phase else ""
        return f"{self.metric} < {self.below}{scope}{phase}"


class VerdictPolicy(_Frozen):
    """How the verdict is reached."""

    required_headroom: float = Field(1.5, ge=1.0, description="Capacity / planned peak needed to survive.")
    headroom_probe: bool = Field(True, description="End a burst with a probe at required_headroom x peak.")
    probe_ramp: Duration = Field(10.0, description="Time from baseline up to the probe level.")
    probe_hold: Duration = Field(20.0, gt=0, description="Time held at the probe level.")
    recovery_within: Duration = Field(30.0, description="After the load falls, the site must be back to "
                                                        "its baseline latency and error rate within this.")
    max_late_share: Percent = Field(0.02, description="Share of arrivals late or missing beyond which the "
                                                      "run is inconclusive.")
    apdex_t: Duration = Field(0.5, gt=0, description="Apdex threshold T: a successful response within T "
                                                     "satisfies, within 4T is tolerated, slower or failed "
                                                     "frustrates.")


class AbortWhen(_Frozen):
    """Stop the load to protect the site when errors stay high."""

    error_rate: Percent
    for_: Duration = Field(30.0, alias="for")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Safety(_Frozen):
    """Rails that protect the site under test."""

    max_rate: Rate | None = Field(None, description="Never start more arrivals per second than this.")
    abort_when: AbortWhen | None = None


# --- targets and hosts -------------------------------------------------------------------------

DEMO_TARGET = "demo"  # as a target: the embedded demo storefront, asked for by name
_HOST_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$"


def target_problem(value: str) -> tuple[str, str] | None:
    """What is wrong with a target (problem, fix), or None for a base URL (or ``demo``).

    A target is an http(s) URL with a host, and a base: a query string or fragment would end up inside every
    step's path, so it is refused. The messages never repeat credentials or query values.
    """
    if value == DEMO_TARGET:
        return None
    shown = _redacted(value)
    if not value.strip():
        return ("is empty", "give the site's base URL (https://shop.example.com), or leave the setting out")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        guess = "http://" + value.strip()
        if "://" not in value and urlsplit(guess).hostname and _port_ok(guess):
            return (f"{shown!r} is not a URL: a target needs http:// or https:// and a host",
                    f"did you mean {_redacted(guess)}?")
        return (f"{shown!r} is not an http:// or https:// URL with a host",
                "write it like https://shop.example.com or http://127.0.0.1:8080")
    if not _port_ok(value):
        return f"{shown!r} has a port that is not a number from 1 to 65535", "correct the port"
    if parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
        base = parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()
        return (f"{shown!r} has a query string or fragment, but a target is a base URL (each step's path is "
                "added to it)",
                f"use {base.rstrip('/')} as the target, and put tokens in headers: (Authorization: "
                "'${TOKEN}') or in the steps' paths")
    return None


def _port_ok(url: str) -> bool:
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is None or port > 0


def _redacted(url: str) -> str:
    """A URL as it may appear in a message: no ``user:pass@``, no query values."""
    from .redaction import redact_url  # redaction imports this module

    try:
        return redact_url(url)
    except ValueError:
        return url


def _host_entry(entry: str) -> tuple[str, int | None] | None:
    """``host`` or ``host:port`` (``[::1]:8081``) as (lower-case host, port or None), or None if malformed."""
    if not re.fullmatch(_HOST_PATTERN, entry):
        return None
    parts = urlsplit("//" + entry)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or (port is not None and port < 1):
        return None
    return parts.hostname.lower(), port


def url_host(url: str) -> tuple[str, int | None]:
    """(lower-case host, port made explicit) of an absolute http(s) URL."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(parts.scheme)


def host_allowed(url: str, target: str, allowed_hosts: Sequence[str]) -> bool:
    """Whether an absolute URL goes to the target's host and port, or to one of ``allowed_hosts``."""
    host, port = url_host(url)
    if (host, port) == url_host(target):
        return True
    for entry in allowed_hosts:
        parsed = _host_entry(entry)
        if parsed is not None and parsed[0] == host and parsed[1] in (None, port):
            return True
    return False


def literal_host(path: str) -> str | None:
    """The scheme and host part of an absolute step URL when it has no placeholder (checkable before the
    run), else None (a path on the target, or a host built from values: checked per request)."""
    if "://" not in path:
        return None
    parts = urlsplit(path)
    head = f"{parts.scheme}://{parts.netloc}"
    return None if _VAR.search(head) else head


def check_step_hosts(scenario: Scenario, target: str) -> None:
    """Every literal absolute URL of the journeys goes to the target's host or an allowed host; a
    :class:`ScenarioError` naming the step and the fix otherwise (before any load is sent)."""
    for j, journey in enumerate(scenario.journeys):
        for k, step in enumerate(journey.steps):
            head = literal_host(step.path) if step.method != "THINK" else None
            if head is not None and not host_allowed(head, target, scenario.allowed_hosts):
                host, port = url_host(head)
                raise ScenarioError(
                    f"journeys[{j}].steps[{k}]: {_redacted(head)} is not the target's host "
                    f"({_redacted(target)}) and not in allowed_hosts; nothing was sent.",
                    f"add '{host}:{port}' to allowed_hosts: in the scenario if the site really calls it, or "
                    "use a path on the target")


# --- the scenario ------------------------------------------------------------------------------


class Scenario(_Frozen):
    """A whole scenario: who visits, how many, when, and what the site must keep up."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="Short name, used in run directory names.")
    description: str = ""
    target: str | None = Field(None, description="Base URL (http:// or https://, no query string); 'demo': the "
                                                  "embedded demo storefront, also in CI; absent: the demo storefront "
                                                  "(outside CI).")
    allowed_hosts: list[str] = Field(
        default_factory=list, json_schema_extra={"items": {"type": "string", "pattern": _HOST_PATTERN}},
        description="Hosts besides the target's that steps with absolute URLs may reach: 'api.example.com' (any "
                    "port) or '127.0.0.1:8081'. The target's credentials and secret headers never go to them.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request; "
                                                                        "'${ENV_VAR}' reads the environment.")
    request_timeout: Duration = Field(10.0, gt=0, description="Give up on a request after this long.")
    page_resources: Literal["off", "empty-cache", "warm-cache"] = Field(
        "off", description="Fetch what each HTML page references (stylesheets, scripts, images) from the "
                           "target, as a browser would: empty-cache: every asset once per visitor; "
                           "warm-cache: only assets the site does not let browsers cache. Reported as "
                           "'asset: ...' endpoints.")
    csrf: Literal["auto", "off"] = Field(
        "auto", description="auto: send back CSRF tokens the way browsers do (a hidden csrf form field into "
                            "later form posts, a csrftoken / XSRF-TOKEN cookie as a header on unsafe methods); "
                            "off: only what the steps send.")
    verify_tls: bool = Field(True, description="Check the target's TLS certificate. false: accept any "
                                                "certificate (a staging site with a self-signed one); the "
                                                "report says so.")
    connections: Literal["new", "shared"] = Field(
        "new", description="new: every visitor opens its own connections, as browsers do; shared: visitors "
                           "reuse keep-alive connections from one pool per load process, as a CDN or reverse "
                           "proxy in front of the site does (the highest rates one generator can send).")
    rehearsal: bool = Field(True, description="Before the load, walk every journey once, one visitor at a "
                                              "time, at rest; a step that fails there (404, 405, a check "
                                              "that does not match, nothing extracted, a locustfile task "
                                              "that raises) stops the run before any load. false: skip it "
                                              "(such steps then count against the site, but 404 and 405).")
    traffic: Traffic
    locustfile: str | None = Field(None, description="A locustfile whose User classes walk the journeys "
                                                     "(path relative to the scenario file).")
    journeys: list[Journey] = Field(default_factory=list)
    data: dict[str, DataSource] = Field(default_factory=dict)
    slos: list[Slo] = Field(default_factory=list)
    verdict: VerdictPolicy = Field(default_factory=VerdictPolicy)
    safety: Safety = Field(default_factory=Safety)

    @field_validator("target")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = target_problem(value)
        if problem is not None:
            raise ValueError(f"{problem[0]} ({problem[1]})")
        return value.rstrip("/")

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for index, entry in enumerate(value):
            if _host_entry(entry) is None:
                raise ValueError(f"entry {index + 1}, {entry!r}, is not a host: write a host name or host:port, "
                                 "without scheme or path ('api.example.com', '127.0.0.1:8081')")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        if not self.journeys and not self.locustfile:
            raise FieldProblem("journeys", "give journeys (at least one), or a locustfile whose User classes "
                                           "walk them")
        if self.journeys and self.locustfile:
            raise FieldProblem("locustfile", "give journeys or a locustfile, not both")
        names = [j.name for j in self.journeys]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FieldProblem(f"journeys[{names.index(dupes[0], names.index(dupes[0]) + 1)}].name",
                               f"journey names must be unique; repeated: {', '.join(dupes)}")
        endpoints = {s.endpoint for j in self.journeys for s in j.steps if s.method != "THINK"}
        for index, slo in enumerate(self.slos):
            if slo.endpoint is not None and slo.endpoint not in endpoints and not self.locustfile:
                raise FieldProblem(f"slos[{index}].endpoint", f"{slo.endpoint!r} is not a step of any journey; "
                                                              f"endpoints are: {', '.join(sorted(endpoints))}")
        for j, journey in enumerate(self.journeys):
            known = set(self.data)
            for k, step in enumerate(journey.steps):
                for var in sorted(step_variables(step)):
                    if var not in known:
                        raise FieldProblem(f"journeys[{j}].steps[{k}]",
                                           f"journey {journey.name!r} uses {{{var}}} before it is defined; "
                                           "add it under data: or extract it in an earlier step")
                known.update(step.extract)
        return self

    @property
    def endpoints(self) -> list[str]:
        """Every endpoint name, in journey order, once each."""
        seen: dict[str, None] = {}
        for journey in self.journeys:
            for step in journey.steps:
                if step.method != "THINK":
                    seen.setdefault(step.endpoint)
        return list(seen)


def step_variables(step: Step) -> set[str]:
    """Names of the ``{var}`` placeholders a step uses (path, headers, form, json, body)."""
    names: set[str] = template_variables(step.path) if step.method != "THINK" else set()
    texts: list[str] = []
    texts.extend(step.headers.values())
    if step.form:
        texts.extend(step.form.values())
        texts.extend(step.form.keys())
    if step.body:
        texts.append(step.body)
    if step.json_body is not None:
        texts.append(json.dumps(step.json_body))
    return names | {m.group(1) for t in texts for m in _VAR.finditer(ENV.sub("", t))}  # ${ENV} is no variable


# --- loading -----------------------------------------------------------------------------------


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("burst", "steps", "constant", "points") and out == "traffic":
            continue  # the discriminator's tag, not a field the user wrote
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += ("." if out else "") + _show(part)
    return out or "(top level)"


def _show(name: object) -> str:
    """A field name fit for a one-line message (control characters escaped)."""
    text = str(name)
    return text if text.isprintable() else repr(text)[1:-1]


class FieldProblem(ValueError):
    """A cross-field check that failed, naming the field (``journeys[0].steps[2]``) it points at."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def _describe(error: Any, model: type[BaseModel] | None = None) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    path = _field_path(loc)
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, FieldProblem):
        path = problem.path if path == "(top level)" else f"{path}.{problem.path}"
    msg = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return f"{path}: this field is required. Fix: add '{path.rsplit('.', 1)[-1]}:' to the file"
    if kind == "extra_forbidden":
        parent = _field_path(loc[:-1])
        return (f"{path}: unknown field '{_show(loc[-1])}'. Fix: remove it or correct its spelling "
                f"(see `loadkit schema` for the fields {parent!r} takes)")
    return f"{path}: {msg}. Fix: correct the value (see docs/scenario-format.md)"


def parse_scenario(document: Any, source: str = "<scenario>") -> Scenario:
    """Validate a parsed YAML/JSON document into a :class:`Scenario`.

    Raises :class:`ScenarioError` naming ``source``, the field path and the fix.
    """
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping of fields (name, traffic, journeys, ...), "
                            f"got {type(document).__name__}.",
                            "start from a bundled scenario (`loadkit scenarios` lists them)")
    try:
        return Scenario.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        first = _describe(errors[0])
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ScenarioError(f"{source}: {first}{more}".replace("\n", "\\n").replace("\r", "\\r")) from None
    except (TypeError, ValueError) as exc:  # a validator met a value of a shape it cannot read
        raise ScenarioError(f"{source}: {exc}.", "correct the value (see docs/scenario-format.md)") from None


def bundled_scenarios_dir() -> Path:
    """The bundled scenarios and their data: package data in ``loadkit/scenarios/``, found the same way
    from a source tree, an editable install or a wheel."""
    folder = resources.files("loadkit").joinpath("scenarios")
    # Relative data paths (data/products.csv) resolve against the scenario's folder on disk, so the
    # package must be installed as files (pip always unpacks wheels); a zipped install is not supported.
    if not isinstance(folder, Path):
        raise ScenarioError("the bundled scenarios are not on disk (loadkit was imported from an archive).",
                            "install loadkit with pip, which unpacks it")
    return folder


def bundled_scenarios() -> list[tuple[str, str, Path]]:
    """The bundled scenarios as (name, description, path), by name; a file that does not parse is listed
    with its problem as the description."""
    found = []
    for path in sorted(bundled_scenarios_dir().glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            description = str(document.get("description", "")) if isinstance(document, dict) else ""
        except (OSError, yaml.YAMLError) as exc:
            description = f"(unreadable: {type(exc).__name__})"
        found.append((path.stem, " ".join(description.split()), path))
    return found


def resolve_scenario_path(spec: str) -> Path:
    """A path, or the name of a bundled scenario (``tv-spot`` -> ``loadkit/scenarios/tv-spot.yaml``); a
    ``scenarios/NAME.yaml`` in the working folder comes first, so a project's own copy wins."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.exists():
        raise ScenarioError(f"{spec}: is not a file.", "pass a scenario YAML file or a bundled name")
    if path.suffix == "" and path.parent == Path("."):
        for base in (Path("scenarios"), bundled_scenarios_dir()):
            candidate = base / f"{spec}.yaml"
            if candidate.is_file():
                return candidate
    names = [name for name, _, _ in bundled_scenarios()]
    raise ScenarioError(f"{spec}: no such scenario file.",
                        f"pass a path, or one of the bundled names: {', '.join(names)} (`loadkit scenarios`)")


def load_scenario(spec: str | Path) -> Scenario:
    """Read and validate a scenario from a path or a bundled name."""
    path = resolve_scenario_path(str(spec))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the file ({exc}).", "check the path and its permissions") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{path}: {where}YAML syntax error ({problem}).",
                            "check indentation and quoting around that spot") from None
    return parse_scenario(document, str(path))


def scenario_base_dir(spec: str | Path) -> Path:
    """Folder that relative data paths in the scenario are resolved against."""
    return resolve_scenario_path(str(spec)).resolve().parent


# Inline lists and CSV columns are held in memory by every load process (and a CSV column travels to each
# worker), so each source is capped; ranges are drawn from their bounds and cost nothing whatever their size.
MAX_DATA_VALUES = 1_000_000
MAX_DATA_BYTES = 64 * 1024 * 1024  # of text, per source


def load_data_values(scenario: Scenario, base_dir: Path) -> dict[str, Sequence[Any]]:
    """Every data source as a sequence to draw from: the values of a list or CSV column (CSV read once,
    here, and capped at :data:`MAX_DATA_VALUES` values and :data:`MAX_DATA_BYTES`), and a lazy ``range``
    for a range source, whatever its size."""
    values: dict[str, Sequence[Any]] = {}
    for name, source in scenario.data.items():
        if isinstance(source, ListSource):
            if len(source.values) > MAX_DATA_VALUES:
                raise ScenarioError(f"data.{name}: the inline list has {len(source.values):,} values, more than "
                                    f"the limit of {MAX_DATA_VALUES:,} per data source.",
                                    "use {range: [START, STOP]} for numbers, or a shorter list")
            values[name] = list(source.values)
        elif isinstance(source, RangeSource):
            values[name] = range(source.range[0], source.range[1] + 1)
        else:
            values[name] = _read_csv_column(name, source, base_dir)
    return values


def _read_csv_column(name: str, source: CsvSource, base_dir: Path) -> list[str]:
    """The non-empty values of one CSV column, refused beyond the caps before they are all in memory."""
    path = (base_dir / source.csv) if not Path(source.csv).is_absolute() else Path(source.csv)
    too_many = ScenarioError(
        f"data.{name}: {path} has more than {MAX_DATA_VALUES:,} values or {MAX_DATA_BYTES // 2**20} MB in column "
        f"{source.column!r}, the limit per data source.",
        f"use a sample of at most {MAX_DATA_VALUES:,} rows, or {{range: [START, STOP]}} for numeric ids")
    column: list[str] = []
    size = 0
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or source.column not in reader.fieldnames:
                raise ScenarioError(
                    f"data.{name}: column {source.column!r} is not in {path} "
                    f"(columns: {', '.join(reader.fieldnames or [])}).", "name an existing column")
            for row in reader:
                value = row.get(source.column)
                if not value:
                    continue
                size += len(value)
                if len(column) >= MAX_DATA_VALUES or size > MAX_DATA_BYTES:
                    raise too_many
                column.append(value)
    except OSError as exc:
        raise ScenarioError(f"data.{name}: cannot read {path} ({exc.strerror}).",
                            "give a CSV path relative to the scenario file") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ScenarioError(f"data.{name}: {path} is not a readable UTF-8 CSV file ({exc}).",
                            "save it as UTF-8 CSV with a header row") from None
    if not column:
        raise ScenarioError(f"data.{name}: {path} has no values in column {source.column!r}.",
                            "add rows to the CSV")
    return column


def data_to_wire(values: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Data sources for the setup message to workers: a range as its bounds, never its values."""
    return {name: {"range": [column.start, column.stop - 1]} if isinstance(column, range)
            else {"values": list(column)} for name, column in values.items()}


def data_from_wire(wire: Mapping[str, Mapping[str, Any]]) -> dict[str, Sequence[Any]]:
    """The inverse of :func:`data_to_wire`, on a worker."""
    return {name: range(int(entry["range"][0]), int(entry["range"][1]) + 1) if "range" in entry
            else list(entry["values"]) for name, entry in wire.items()}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format, for editors."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "loadkit scenario"
    return schema


# Top-level field names as written in a scenario file (aliases included), for messages and tests.
ROOT_FIELDS = tuple(sorted({(f.alias or name) for name, f in Scenario.model_fields.items()}))
