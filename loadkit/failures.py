"""Failure kinds: what the run stage records for a failed request, and how the analysis classes them.

The run stage (``run/visitors.py``) names every failed request with one of these kinds; ``metrics.jsonl``
counts them per (second, endpoint) under ``failures``. The analysis classes each kind (docs/verdict.md,
"Errors: turned away politely, or breaking down"):

- **shedding**: the site refuses work it cannot do and says so (429, or 503 with Retry-After);
- **collapse**: the site fails at its job (any other 5xx, timeouts, dropped or refused connections);
- **other**: client errors (4xx), failed checks and extractions, TLS and DNS problems.
"""

from __future__ import annotations

from enum import StrEnum
from http import HTTPStatus

# The kinds named by the run stage (an unexpected status >= 400 is ``http_<status>``: see :func:`http_kind`).
TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_RESET = "connection_reset"  # reset, or closed before a byte of the answer
CONNECTION_ERROR = "connection_error"
DNS = "dns"
TLS = "tls"
UNEXPECTED_STATUS = "unexpected_status"  # a status below 400 that the step did not expect
CHECK_FAILED = "check_failed"  # ``expect.contains`` or a JSON check did not match
EXTRACT_FAILED = "extract_failed"
HOST_NOT_ALLOWED = "host_not_allowed"  # a step's URL led off the target and its allowed hosts (not sent)
# a locustfile's request that could not be built (no host or scheme, a malformed URL or header): not sent
INVALID_REQUEST = "invalid_request"
HTTP_503_RETRY_AFTER = "http_503_retry_after"  # a 503 that says when to come back: load shedding
HTTP_429 = "http_429"


class ErrorClass(StrEnum):
    """What a failure says about the site."""

    SHEDDING = "shedding"
    COLLAPSE = "collapse"
    OTHER = "other"


ERROR_CLASSES = tuple(c.value for c in ErrorClass)  # the order every report shows them in

# Graceful shedding: the site refuses work it cannot do and says so (429, or 503 with Retry-After).
SHEDDING_KINDS = frozenset({HTTP_429, HTTP_503_RETRY_AFTER})
# Collapse: the site fails at its job (server errors, timeouts, dropped or refused connections).
COLLAPSE_KINDS = frozenset({TIMEOUT, CONNECTION_RESET, CONNECTION_REFUSED, CONNECTION_ERROR})


def http_kind(status: int, retry_after: bool = False) -> str:
    """The kind of an unexpected HTTP status >= 400 (a 503 with ``Retry-After`` is load shedding)."""
    return HTTP_503_RETRY_AFTER if status == 503 and retry_after else f"http_{status}"


def http_status(kind: str) -> int | None:
    """The status of an ``http_<status>`` kind (``http_503_retry_after`` included), else None."""
    return int(kind[5:8]) if kind.startswith("http_") and kind[5:8].isdigit() else None


def error_class(kind: str) -> str:
    """``shedding``, ``collapse`` or ``other`` (client errors, failed checks, TLS, DNS) for a failure kind."""
    if kind in SHEDDING_KINDS:
        return ErrorClass.SHEDDING.value
    if kind in COLLAPSE_KINDS or (kind.startswith("http_5") and http_status(kind) is not None):
        return ErrorClass.COLLAPSE.value
    return ErrorClass.OTHER.value



_KIND_WORDS = {TIMEOUT: "timed out", "connection_timeout": "connection timed out",
               "network_timeout": "response timed out", CONNECTION_RESET: "connection reset by the site",
               CONNECTION_REFUSED: "connection refused", CONNECTION_ERROR: "connection failed",
               DNS: "host name did not resolve", TLS: "TLS (certificate) error",
               CHECK_FAILED: "a check on the page failed", EXTRACT_FAILED: "a value to extract was missing",
               HTTP_503_RETRY_AFTER: "HTTP 503 with Retry-After (shedding load)",
               HTTP_429: "HTTP 429 Too Many Requests", "error": "request failed",
               INVALID_REQUEST: "request could not be built (the locustfile's mistake)"}
_CLASS_WORDS = {ErrorClass.SHEDDING.value: "turned away politely", ErrorClass.COLLAPSE.value: "breakdown",
                ErrorClass.OTHER.value: "other"}


def kind_words(kind: str) -> str:
    """A failure kind in words: ``http_503`` -> ``HTTP 503 Service Unavailable``."""
    if kind in _KIND_WORDS:
        return _KIND_WORDS[kind]
    code = http_status(kind)
    if code is not None:
        try:
            return f"HTTP {code} {HTTPStatus(code).phrase}"
        except ValueError:
            return f"HTTP {code}"
    return kind.replace("_", " ")


def class_words(cls: str) -> str:
    """An error class in words."""
    return _CLASS_WORDS.get(cls, cls)


__all__ = ["CHECK_FAILED", "COLLAPSE_KINDS", "CONNECTION_ERROR", "CONNECTION_REFUSED", "CONNECTION_RESET", "DNS",
           "ERROR_CLASSES", "EXTRACT_FAILED", "HOST_NOT_ALLOWED", "HTTP_429", "HTTP_503_RETRY_AFTER", "INVALID_REQUEST",
           "SHEDDING_KINDS", "TIMEOUT", "TLS", "UNEXPECTED_STATUS", "ErrorClass", "class_words", "error_class",
           "http_kind", "http_status", "kind_words"]
