"""Writing the scenario: the recorded steps as a journey (pauses as think steps), a placeholder traffic
burst and default SLOs, under a header of comments that says what was done and left out."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .choosing import Chosen
from .correlation import Flows
from .recording import RecordedStep

THINK_MIN_S = 0.5  # shorter gaps between requests are the browser's, not the visitor's


def scenario_document(steps: list[RecordedStep], site: str, name: str, secrets: dict[str, str]) -> dict[str, Any]:
    """The scenario as data: one journey of the recorded steps, a placeholder burst, default SLOs."""
    journey: list[dict[str, Any]] = []
    for step in steps:
        if step.think_before >= THINK_MIN_S and journey:
            journey.append({"think": f"{round(step.think_before, 1)}s"})
        out: dict[str, Any] = {step.method.lower(): step.path_out or step.path}
        if step.headers:
            out["headers"] = dict(step.headers)
        if step.form is not None:
            out["form"] = step.form
        elif step.json_body is not None:
            out["json"] = step.json_body
        elif step.body is not None:
            out["body"] = step.body
        if step.extract:
            out["extract"] = step.extract
        if step.status and step.status != 200:
            out["expect"] = {"status": step.status}
        journey.append(out)
    document: dict[str, Any] = {
        "name": name,
        "description": f"Converted from a browser recording of {site}.",
        "target": site,
    }
    if secrets:  # credentials come from the environment at run time, for every request
        document["headers"] = {"-".join(w.capitalize() for w in header.split("-")): f"${{{var}}}"
                               for header, var in sorted(secrets.items())}
    document["traffic"] = {"profile": "burst", "baseline": "1/s", "peak": "5/s", "lead_in": "10s", "ramp": "20s",
                           "hold": "30s", "decay_half_life": "10s", "decay": "20s", "recovery": "20s"}
    document["journeys"] = [{"name": "recorded", "steps": journey}]
    document["slos"] = [{"metric": "p95", "below": "1s"}, {"metric": "error_rate", "below": "1%"}]
    return document


def name_from(path: Path) -> str:
    """A scenario name from the HAR file's name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "recorded"


def comments(path: Path, site: str, chosen: Chosen, flows: Flows) -> str:
    """The file's header: what was converted, what was left out, which secrets to export, what was not
    extracted."""
    hosts, beacons, assets = chosen.dropped_hosts, chosen.dropped_beacons, chosen.dropped_assets
    lines = [f"# Converted by `loadkit init --from-har {path.name}`: one journey, the recorded visit to {site}.",
             "# Review it: the traffic below is a small placeholder burst; set the peak you expect.",
             "# Values the site handed out (links clicked, form fields, ids, tokens) are extracted from the page",
             "# that held them (each extractor was checked against the recorded page) and sent back as {var};",
             "# a whole link is {+var} (RFC 6570: its '/' kept), one path segment or query value {var} (encoded)."]
    if hosts:
        lines.append("# Left out, other hosts (loadkit loads the target only): "
                     + ", ".join(f"{h} ({n})" for h, n in hosts.most_common()))
    if beacons:
        lines.append(f"# Left out, analytics beacons: {', '.join(sorted(set(beacons))[:10])}")
    if assets:
        lines.append(f"# Left out, static assets ({len(assets)} requests): {', '.join(sorted(set(assets))[:10])}")
    for header, var in sorted(chosen.secrets.items()):
        lines.append(f"# The recording sent a {header} header; it is read from ${{{var}}} at run time, never "
                     "copied: export it before `loadkit run`.")
    for var, what in sorted(flows.secrets.items()):
        lines.append(f"# The recording sent {what}; it is read from ${{{var}}} at run time, never copied: "
                     "export it (a test value) before `loadkit run`.")
    for note in flows.notes:
        lines.append(f"# Not extracted: {note}.")
    return "\n".join(lines) + "\n"


__all__ = ["THINK_MIN_S", "comments", "name_from", "scenario_document"]
