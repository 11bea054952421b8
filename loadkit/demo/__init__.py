"""The embedded demo storefront: its capacity knobs, and starting it in a process of its own.

The server itself lives in :mod:`loadkit.demo.server` (gevent); this module imports no gevent, so the
CLI and tests can start and stop the shop without monkey-patching their own process.

Capacity model (the ground truth tests and benchmarks rely on): every page but static files and
checkout holds one of ``slots`` worker slots for its service time; checkout holds one of
``checkout_slots`` payment slots for ``checkout`` ms. So the shop serves at most
``slots / service_time`` pages per second of one type, and ``checkout_slots / checkout_time`` orders per
second. A request that waits longer than ``queue_timeout`` for a slot, or finds ``queue_limit`` requests
already waiting, is answered ``503`` with ``Retry-After`` (``when_saturated: 503``), or keeps waiting
(``when_saturated: slow``).

Recovery (``recovery_s``): a shop that was overloaded (a request shed, or one that waited more than
half a second for a slot) stays degraded for ``recovery_s`` seconds after its last overload, every
service time multiplied by ``degraded_factor``: cold caches, a backlog of jobs, a database catching up.
``recovery_s`` infinite means it never recovers once overloaded. The default, 0, recovers at once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from ..child_server import ListeningChild
from ..errors import RunError

PAGE_TYPES = ("home", "category", "search", "product", "cart", "add_to_cart", "checkout", "static")
DEFAULT_SERVICE_MS: dict[str, float] = {
    "home": 20.0, "category": 30.0, "search": 60.0, "product": 25.0, "cart": 20.0, "add_to_cart": 30.0,
    "checkout": 250.0, "static": 0.0,
}


@dataclass(frozen=True)
class DemoConfig:
    """Capacity knobs of the demo storefront."""

    slots: int = 16
    checkout_slots: int = 4
    service_ms: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SERVICE_MS))
    queue_timeout_ms: float = 2000.0
    queue_limit: int = 500
    when_saturated: str = "503"  # or "slow"
    recovery_s: float = 0.0  # stays degraded this long after its last overload (inf: never recovers)
    degraded_factor: float = 10.0

    def capacity_per_s(self, page: str) -> float:
        """Pages of one type per second the shop can serve (the knob-derived truth)."""
        ms = self.service_ms.get(page, 0.0)
        if ms <= 0:
            return float("inf")
        return (self.checkout_slots if page == "checkout" else self.slots) * 1000.0 / ms

    def to_args(self) -> list[str]:
        """Command-line arguments that recreate this config for ``loadkit.demo.server``."""
        args = ["--slots", str(self.slots), "--checkout-slots", str(self.checkout_slots),
                "--queue-timeout", f"{self.queue_timeout_ms}ms", "--queue-limit", str(self.queue_limit),
                "--when-saturated", self.when_saturated,
                "--recovery-time", "never" if self.recovery_s == float("inf") else f"{self.recovery_s}s",
                "--degraded-factor", str(self.degraded_factor)]
        for page, ms in self.service_ms.items():
            args += ["--service", f"{page}={ms}ms"]
        return args


class DemoSite:
    """A running demo storefront in a child process; use as a context manager."""

    def __init__(self, config: DemoConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or DemoConfig()
        self.host = host
        self.port = port
        self.url = ""
        self._child = ListeningChild("loadkit-demo-")

    def start(self, timeout: float = 20.0) -> DemoSite:
        """Start the process and wait until it listens; raises RunError if it does not."""
        cmd = [sys.executable, "-m", "loadkit.demo.server", "--host", self.host, "--port", str(self.port),
               *self.config.to_args()]
        url = self._child.start(cmd, timeout)
        if url is None:
            raise RunError(f"the demo storefront did not start ({self._child.last_line}).",
                           "check that the port is free, or pass --target to test another site")
        self.url, self.port = url, int(url.rsplit(":", 1)[1])
        return self

    def stats(self) -> dict[str, Any]:
        """The shop's own counts (``GET /__stats``): served requests by page type and status."""
        import httpx

        return httpx.get(f"{self.url}/__stats", timeout=5.0).json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        """Stop the process (terminate, then kill after a grace period)."""
        self._child.stop()

    def __enter__(self) -> DemoSite:
        return self if self._child.started else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["DEFAULT_SERVICE_MS", "PAGE_TYPES", "DemoConfig", "DemoSite"]
