"""Preflight: confirm the target answers before any load is sent (httpx, one request)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from ..errors import TargetError
from ..redaction import redact_url
from .identity import USER_AGENT


@dataclass(frozen=True)
class PreflightResult:
    """What the preflight request saw."""

    url: str
    status: int
    ms: float


def preflight(target: str, headers: dict[str, str] | None = None, timeout: float = 10.0,
              verify: bool = True) -> PreflightResult:
    """GET the target's base URL once; raise TargetError with a one-line reason if it does not answer.

    Any HTTP answer counts (a 500 is an answer: the run will measure it); no answer does not.
    ``verify=False`` accepts any TLS certificate (the scenario's ``verify_tls: false``).
    """
    shown = redact_url(target)
    started = time.perf_counter()
    fix = "check the URL and that the site is up, or pass --demo (instead of --target) for the demo storefront"
    try:
        # the run's own User-Agent, unless the scenario's headers give one (httpx merges them case-blind)
        with httpx.Client(timeout=timeout, follow_redirects=False, verify=verify,
                          headers={"User-Agent": USER_AGENT}) as client:
            response = client.get(target + "/", headers=headers or {})
    except httpx.ConnectError as exc:
        text = str(exc).lower()
        if "name or service not known" in text or "nodename nor servname" in text or "name resolution" in text \
                or "getaddrinfo" in text:
            reason = "its host name does not resolve"
        elif "certificate" in text or "ssl" in text:
            reason = f"its TLS certificate was rejected ({exc})"
            fix = ("fix the site's certificate, or, for a staging site with a self-signed one, set "
                   "'verify_tls: false' in the scenario")
        elif "refused" in text:
            reason = "nothing is listening there (connection refused)"
        else:
            reason = f"it cannot be reached ({exc})"
        raise TargetError(f"target {shown} did not answer the preflight check: {reason}; no load was sent.",
                          fix) from None
    except httpx.TimeoutException:
        raise TargetError(f"target {shown} did not answer the preflight check within {timeout:g} s; "
                          "no load was sent.", "check that the site is up and reachable from here") from None
    except httpx.HTTPError as exc:
        raise TargetError(f"target {shown} did not answer the preflight check ({type(exc).__name__}: {exc}); "
                          "no load was sent.", "check the URL and that the site is up") from None
    return PreflightResult(url=shown, status=response.status_code, ms=(time.perf_counter() - started) * 1000)
