"""Strict parsers of the settings' values (a scale, a worker count, a port, a listen address, an upload or
OTLP URL): one rule for each, shared by ``loadkit``'s flags, the ``LOADKIT_*`` variables and the Locust
entry's options. Each raises ValueError with the sentence a usage error shows."""

from __future__ import annotations

import os

from .publish import upload_problem
from .units import parse_duration


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def parse_positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None
    if value <= 0:
        raise ValueError(f"expected a number above 0, got {text!r}")
    return value


def parse_workers(text: str) -> int:
    if text.strip() == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number or 'auto', got {text!r}") from None
    if value < 1:
        raise ValueError("expected at least 1 worker")
    return value


def parse_upload_url(text: str) -> str:
    """An upload URL prefix (``--upload``, ``LOADKIT_UPLOAD_URL``); the error never quotes it (its query
    string may be a credential)."""
    problem = upload_problem(text)
    if problem is not None:
        raise ValueError(f"the upload URL {problem}")
    return text.strip()


def parse_count(text: str) -> int:
    """A whole number, 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise ValueError(f"expected 0 or more, got {text!r}")
    return value


def parse_port(text: str) -> int:
    """A TCP port, 1 to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected a port number, got {text!r}") from None
    if not 1 <= value <= 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {text!r}")
    return value


def parse_seconds(text: str) -> float:
    """A duration (``60s``, ``2m``) in seconds, above 0."""
    value = parse_duration(text)
    if value <= 0:
        raise ValueError(f"expected a duration above 0, got {text!r}")
    return value


def parse_listen(text: str) -> str:
    """Where a scrape endpoint listens: ``PORT``, ``HOST:PORT`` or ``[V6]:PORT`` (the host defaults to
    127.0.0.1); returned as written once checked."""
    value = text.strip()
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535 or " " in host or "/" in host:
        raise ValueError(f"expected a port or host:port such as 9646 or 127.0.0.1:9646, got {text!r}")
    return value


def parse_linger(text: str) -> float:
    """A duration (``15s``) in seconds, 0 or more."""
    value = parse_duration(text)
    if value < 0:
        raise ValueError(f"expected a duration of 0 or more, got {text!r}")
    return value


def parse_otlp_url(text: str) -> str:
    """An OTLP/HTTP endpoint: an http(s) URL with a host."""
    value = text.strip()
    problem = upload_problem(value)
    if problem is not None:
        raise ValueError(f"the OTLP endpoint {problem}")
    return value


def parse_host(text: str) -> str:
    """An address to listen on (a host name or an IP address, without a port)."""
    value = text.strip()
    if not value or "/" in value or " " in value:
        raise ValueError(f"expected a host name or address, got {text!r}")
    return value


__all__ = ["parse_bool", "parse_count", "parse_host", "parse_linger", "parse_listen", "parse_otlp_url", "parse_port",
           "parse_positive", "parse_seconds", "parse_upload_url", "parse_workers"]
