"""The scenario a calibration runs: the same journeys, as cheap to answer as possible and sent only to the
local catch-all server. Pure."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..scenario import HTTP_METHODS, Scenario, parse_scenario

__all__ = ["EXTRACTED_VALUE", "calibration_scenario"]

EXTRACTED_VALUE = "calibration"  # what a step that extracted a value sends in its place


def calibration_scenario(scenario: Scenario, target: str) -> Scenario:
    """``scenario``'s journeys against ``target`` (the catch-all server), with what would make them wait or
    fail there taken out:

    - think steps are dropped: only the generator's work is measured, not its idle time;
    - checks (``expect``) and extractors go: the catch-all answers every request ``200`` with the same small
      page, so a check for ``303`` would fail and end the visit; extracted names get a fixed value instead, so
      every later step is still sent;
    - a step with an absolute URL keeps its path and goes to the target; no other host is allowed (a URL
      taken whole from a value that names another host is refused, never sent);
    - SLOs, business figures and the site's metrics go (nothing is judged); the traffic section is a
      placeholder (the calibration sets the rate itself).
    """
    doc = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("slos", "business", "observe", "verdict", "safety"):
        doc.pop(key, None)
    doc.update(target=target, allowed_hosts=[], rehearsal=False,
               traffic={"profile": "constant", "rate": 1.0, "duration": 10.0, "seed": scenario.traffic.seed,
                        "spacing": scenario.traffic.spacing})
    extracted: set[str] = set()
    for journey in doc.get("journeys", []):
        steps = []
        for step in journey["steps"]:
            if "think" in step:
                continue
            extracted.update(step.pop("extract", {}) or {})
            step.pop("expect", None)
            step["follow_redirects"] = False
            _relative(step)
            steps.append(step)
        journey["steps"] = steps
    data: dict[str, Any] = doc.setdefault("data", {})
    for name in sorted(extracted - set(data)):
        data[name] = {"values": [EXTRACTED_VALUE]}
    return parse_scenario(doc, f"{scenario.name} (as calibrated)")


def _relative(step: dict[str, Any]) -> None:
    """An absolute URL written in a step becomes its path (and query) on the target."""
    for method in HTTP_METHODS:
        path = step.get(method)
        if isinstance(path, str) and path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            step[method] = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
