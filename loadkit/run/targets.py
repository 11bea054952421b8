"""Where the load may go: the loopback rule (``loopback_only``, LOADKIT_LOOPBACK_ONLY) and the test of a
host being this machine. No locust here: the public API checks a run before anything starts."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from ..errors import UsageError
from ..redaction import redact_url
from ..scenario import Scenario

__all__ = ["check_loopback_only", "is_loopback"]


def is_loopback(url: str) -> bool:
    """Whether the URL's host is this machine's loopback (localhost, or every address it resolves to)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return all(str(info[4][0]).startswith("127.") or info[4][0] == "::1" for info in infos)


def check_loopback_only(scenario: Scenario, target: str | None) -> None:
    """With ``loopback_only`` set, every host a step can reach (``target``, when known, and
    ``allowed_hosts``) must be this machine (the demo storefront always is); a UsageError otherwise."""
    if target and not is_loopback(target):
        raise UsageError(f"target {redact_url(target)} is not on this machine and LOADKIT_LOOPBACK_ONLY=1.",
                         "point --target at 127.0.0.1, or unset LOADKIT_LOOPBACK_ONLY")
    for host in scenario.allowed_hosts:
        if not is_loopback(f"http://{host}"):
            raise UsageError(f"allowed_hosts lists {host}, which is not on this machine, and "
                             "LOADKIT_LOOPBACK_ONLY=1.", "remove it from allowed_hosts, or unset LOADKIT_LOOPBACK_ONLY")
