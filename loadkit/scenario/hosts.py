"""Targets and hosts: what a target URL may be, and which hosts absolute step URLs may reach."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import SplitResult, urlsplit

from ..errors import ScenarioError
from ..uri import VARIABLE
from .journeys import authority_problem

if TYPE_CHECKING:
    from .models import Scenario

DEMO_TARGET = "demo"  # as a target: the embedded demo storefront, asked for by name
HOST_PATTERN = r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$"


def target_problem(value: str) -> tuple[str, str] | None:
    """What is wrong with a target (problem, fix), or None for a base URL (or ``demo``).

    A target is an http(s) URL with a host, and a base: a query string or fragment would end up inside every
    step's path, so it is refused. The messages never repeat credentials or query values.
    """
    if value == DEMO_TARGET:
        return None
    shown = redacted(value)
    if not value.strip():
        return ("is empty", "give the site's base URL (https://shop.example.com), or leave the setting out")
    parts = _split(value)
    if parts is None:  # the parser's reason is not shown: it can repeat the host part, credentials included
        return ("is not a valid URL (a '[' without its ']', or a host with characters a host cannot have)",
                "write it like https://shop.example.com or http://[::1]:8080 (an IPv6 address in brackets)")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        written = value.strip()
        # "http:/host" or "http:host": the slashes were lost, not the scheme
        guess = (f"{parts.scheme}://{written[len(parts.scheme) + 1:].lstrip('/')}" if parts.scheme in ("http", "https")
                 else "http://" + written)
        guessed = _split(guess)
        if "://" not in value and guessed is not None and guessed.hostname and _port_ok(guess):
            return (f"{shown!r} is not a URL: a target needs http:// or https:// and a host",
                    f"did you mean {redacted(guess)}?")
        return (f"{shown!r} is not an http:// or https:// URL with a host",
                "write it like https://shop.example.com or http://127.0.0.1:8080")
    if not _port_ok(value):
        return f"{shown!r} has a port that is not a number from 1 to 65535", "correct the port"
    if parts.query or parts.fragment or value.rstrip().endswith(("?", "#")):
        base = parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()
        return ((f"{shown!r} has a query string or fragment, but a target is a base URL (each step's path is "
                 "added to it)"),
                (f"use {base.rstrip('/')} as the target, and put tokens in headers: (Authorization: "
                 "'${TOKEN}') or in the steps' paths"))
    return None


def _split(url: str) -> SplitResult | None:
    """``url`` split into its parts, or None if it cannot be (an unclosed IPv6 bracket, say)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _port_ok(url: str) -> bool:
    try:
        port = urlsplit(url).port
    except ValueError:
        return False
    return port is None or port > 0


def redacted(url: str) -> str:
    """A URL as it may appear in a message: no ``user:pass@``, no query values ("(an invalid URL)" when it
    cannot be parsed). An ``@`` in a path, query or fragment is kept (see :func:`loadkit.redaction.redact_url`)."""
    from ..redaction import redact_url  # redaction imports this package

    try:
        return redact_url(url)
    except ValueError:  # never the URL itself: it may hold user:pass@ or a token
        return "(an invalid URL)"


def host_entry(entry: str) -> tuple[str, int | None] | None:
    """``host`` or ``host:port`` (``[::1]:8081``) as (lower-case host, port or None), or None if malformed."""
    if not re.fullmatch(HOST_PATTERN, entry):
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
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed IPv6 bracket: no host (so never an allowed one)
        return "", None
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
        parsed = host_entry(entry)
        if parsed is not None and parsed[0] == host and parsed[1] in (None, port):
            return True
    return False


def literal_host(path: str) -> str | None:
    """The scheme and host part of an absolute step URL when it has no placeholder (checkable before the
    run), else None (a path on the target, or a host built from values: checked per request)."""
    if "://" not in path:
        return None
    # Cut by hand, not by urlsplit, which raises on a malformed host (check_step_hosts names the step).
    scheme, _, rest = path.partition("://")
    head = f"{scheme}://{re.split(r'[/?#]', rest, maxsplit=1)[0]}"
    return None if VARIABLE.search(head) else head


def check_step_hosts(scenario: Scenario, target: str) -> None:
    """Every literal absolute URL of the journeys goes to the target's host or an allowed host; a
    :class:`ScenarioError` naming the step and the fix otherwise (before any load is sent)."""
    for j, journey in enumerate(scenario.journeys):
        for k, step in enumerate(journey.steps):
            head = literal_host(step.path) if step.method != "THINK" else None
            if head is None:
                continue
            problem = authority_problem(head)
            if problem is not None:  # a scenario read back without its checks (saved) can still hold one
                raise ScenarioError(f"journeys[{j}].steps[{k}] ({journey.name}): {problem}; nothing was sent.")
            if not host_allowed(head, target, scenario.allowed_hosts):
                host, port = url_host(head)
                entry = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"  # IPv6 in brackets
                raise ScenarioError(
                    f"journeys[{j}].steps[{k}]: {redacted(head)} is not the target's host "
                    f"({redacted(target)}) and not in allowed_hosts; nothing was sent.",
                    f"add '{entry}' to allowed_hosts: in the scenario if the site really calls it, or "
                    "use a path on the target")


__all__ = ["DEMO_TARGET", "HOST_PATTERN", "check_step_hosts", "host_allowed", "host_entry", "literal_host",
           "redacted", "target_problem", "url_host"]
