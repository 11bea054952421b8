"""The site's own metrics during the run: Prometheus queries sampled on the run's clock.

The controlling process (one process, or the master) runs one sampler beside the load. Each round asks
every query at the same instant through Prometheus's HTTP API (``/api/v1/query``) and appends one row per
query to observed.jsonl: the run's second, the value, or why there is none. A slow or failing source
costs the load nothing: each query has its own timeout, a round that overruns skips ahead, and
errors are written down and logged once per query, never raised.
"""

from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import data as rundata
from ..observed import OBSERVED
from ..scenario import Observe

log = logging.getLogger("loadkit")



def query_once(base_url: str, query: str, at: float, timeout: float) -> tuple[float | None, int, str | None]:
    """(value, series, error) of one instant query: the largest value when the query returns several series."""
    url = f"{base_url}/api/v1/query?" + urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = json.loads(response.read(1_000_000))
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read(10_000)).get("error", "")
        except (ValueError, OSError):
            detail = ""
        return None, 0, f"HTTP {exc.code}" + (f": {detail}" if detail else "")
    except (OSError, ValueError) as exc:  # refused, timed out, not JSON
        reason = getattr(exc, "reason", None) or exc
        return None, 0, f"{type(reason).__name__ if not str(reason) else reason}"
    if body.get("status") != "success":
        return None, 0, str(body.get("error") or "the query failed")
    result = body.get("data", {})
    kind, items = result.get("resultType"), result.get("result")
    values: list[float] = []
    if kind == "vector":
        values = [float(item["value"][1]) for item in items or []]
    elif kind == "scalar" and items:
        values = [float(items[1])]
    else:
        return None, 0, f"the query returned a {kind}, not an instant vector or scalar"
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None, len(values), "no series" if not values else "no finite value"
    return max(finite), len(values), None


class SiteSampler:
    """Samples ``observe.queries`` every ``observe.every`` seconds of the run until stopped."""

    def __init__(self, observe: Observe, run_dir: Path, t0: Callable[[], float],
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.observe = observe
        self.path = run_dir / OBSERVED
        self.t0 = t0
        self.sleep = sleep
        self.stopped = False
        self.rounds = 0
        self._warned: set[str] = set()

    def sample(self) -> list[dict[str, Any]]:
        """One round: every query at the same instant; the rows are appended to observed.jsonl."""
        at = time.time()
        second = round(at - self.t0(), 1)
        rows: list[dict[str, Any]] = []
        for name, query in self.observe.queries.items():
            value, series, error = query_once(self.observe.prometheus, query, at, self.observe.timeout)
            row: dict[str, Any] = {"t": second, "name": name, "value": value}
            if series > 1:
                row["series"] = series
            if error is not None:
                row["error"] = error[:200]
                if name not in self._warned:
                    self._warned.add(name)
                    log.warning("site metric %s: no value (%s); the run goes on", name, row["error"])
            rows.append(row)
        try:
            rundata.append_jsonl(self.path, rows, durable=False)  # no wait for the disk in the load's event loop
        except OSError as exc:  # a full disk is the supervisor's to report
            log.warning("site metrics not saved (%s)", exc)
        self.rounds += 1
        return rows

    def run(self) -> None:
        """Sample on the run's clock (0, every, 2 x every, ...) until :meth:`stop`."""
        every = self.observe.every
        while not self.stopped:
            self.sample()
            elapsed = time.time() - self.t0()
            self.sleep(max(0.05, every - (elapsed % every)))  # an overrun skips to the next tick

    def stop(self) -> None:
        """End after the current round."""
        self.stopped = True


__all__ = ["OBSERVED", "SiteSampler", "query_once"]
