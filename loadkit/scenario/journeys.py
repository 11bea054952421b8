"""The ``journeys:`` section: a visitor's steps (requests and pauses), their checks and extractors, and the
endpoint names every report uses."""

from __future__ import annotations

import json
import re
from functools import cached_property
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, ValidationInfo, model_validator
from selectolax.lexbor import LexborHTMLParser

from ..uri import ENV, VARIABLE, starts_with_expression, template_variables
from .fields import HTTP_METHODS, FrozenModel, ThinkTime, is_saved, parse_think


class Extractor(FrozenModel):
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


class Expect(FrozenModel):
    """Checks on a response; a failed check fails the request."""

    status: int | list[int] | None = Field(None, description="Expected status code(s); default: any < 400.")
    contains: str | None = Field(None, description="Text the body must contain.")
    json_fields: dict[str, Any] | None = Field(
        None, alias="json", description="JSON body fields that must hold these values: {'status': 'ok', "
                                        "'items.0.id': 3}; a value of '*' only requires the field.")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Step(FrozenModel):
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

    # Method, path, endpoint name and think time are parsed here, once (cached properties, filled by the
    # validator): visitors read them on every step of every visit.
    @model_validator(mode="after")
    def _one_action(self, info: ValidationInfo) -> Step:
        actions = [m for m in HTTP_METHODS if getattr(self, m) is not None]
        if self.think is not None:
            actions.append("think")
        if len(actions) != 1:
            raise ValueError("each step needs exactly one of get, post, put, patch, delete, head or think"
                             + (f" (found {', '.join(actions)})" if actions else ""))
        if self.think is not None:
            self.think_range  # noqa: B018 - parsed (and cached) here, where a bad value is the user's error
            if any(getattr(self, f) for f in ("form", "body", "extract", "headers", "name")):
                raise ValueError("a think step takes no request options")
            return self
        problem = None if is_saved(info) else path_problem(self.path)  # a path that ran stays readable
        if problem is not None:
            raise ValueError(problem)
        bodies = [b for b in (self.form, self.json_body, self.body) if b is not None]
        if len(bodies) > 1:
            raise ValueError("give at most one of form, json or body")
        self.endpoint  # noqa: B018 - cached with the method and path
        return self

    @cached_property
    def method(self) -> str:
        """Upper-case HTTP method, or ``THINK``."""
        for m in HTTP_METHODS:
            if getattr(self, m) is not None:
                return m.upper()
        return "THINK"

    @cached_property
    def path(self) -> str:
        """The templated path (``/products/{product}``) of a request step."""
        value = getattr(self, self.method.lower())
        if not isinstance(value, str):
            raise ValueError("a think step has no path")
        return value

    @cached_property
    def endpoint(self) -> str:
        """Endpoint name used in every report: ``GET /products/{product}`` unless ``name`` is set.

        Literal query values are masked (``GET /page?token=***``): they may be secrets, and the same page
        with other values is the same endpoint; ``{placeholders}`` stay.
        """
        return self.name or f"{self.method} {mask_query(self.path)}"

    @cached_property
    def think_range(self) -> ThinkTime:
        """(low, high) seconds of a think step."""
        if self.think is None:
            raise ValueError(f"a {self.method} step has no think time")
        return parse_think(self.think)


class Journey(FrozenModel):
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
        return sum(s.think_range.mean for s in self.steps if s.method == "THINK")


def path_problem(path: str) -> str | None:
    """What is wrong with a step's path, or None: it starts with '/', is an absolute URL or a whole
    ``{+variable}``, and is a valid URI template."""
    if starts_with_expression(path):
        if not path.startswith(("{+", "{#")):
            return (f"a path taken whole from a variable keeps its '/' only as {{+var}}, got "
                    f"{path!r}: write {{+{path[1:]}")
    elif not path.startswith(("/", "http://", "https://")):
        return f"the path must start with '/' (or be a whole {{+variable}}), got {path!r}"
    elif (problem := authority_problem(path)) is not None:
        return problem
    try:
        template_variables(path)
    except Exception as exc:  # noqa: BLE001 - uritemplate's parse errors have no common type
        return f"the path {path!r} is not a valid URI template ({exc})"
    return None


def authority_problem(url: str) -> str | None:
    """What is wrong with the host part of an absolute step URL written out in the scenario, or None (a
    path, or a host built from values, which is checked per request). The URL is not repeated: it may
    hold credentials."""
    if "://" not in url:
        return None
    scheme, _, rest = url.partition("://")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "{" in authority:
        return None
    try:
        parts = urlsplit(f"{scheme}://{authority}")
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is not a number
        return ("the absolute URL's host part cannot be read (a '[' without its ']', or a port that is not a "
                "number from 1 to 65535): write it like http://[::1]:8080/path")
    if not parts.hostname or port == 0:
        return "the absolute URL has no host, or port 0: write it like https://shop.example.com/path"
    return None


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
    return names | {m.group(1) for t in texts for m in VARIABLE.finditer(ENV.sub("", t))}  # ${ENV} is no variable


__all__ = ["Expect", "Extractor", "Journey", "Step", "mask_query", "mean_visit_seconds", "step_variables"]
