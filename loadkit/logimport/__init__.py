"""``loadkit init --from-log``: a scenario from a site's own access logs.

The sibling of the browser-recording import (:mod:`loadkit.har`): where a HAR holds one visit in full
detail, access logs hold every visitor's requests without bodies. One streaming pass (bounded memory)
yields the journey mix, the pauses between pages, the everyday rate and the shape of a past spike.

Stages, one module each: :mod:`.readers` (log formats, gzip, files merged in time order), :mod:`.endpoints`
(what is kept; URL templates and data lists), :mod:`.sessions` (visits, journeys, think times),
:mod:`.rates` (baseline, spike fit), :mod:`.privacy` (what is never written), :mod:`.forms` (form fields
read from the site), :mod:`.write` (the YAML and its header comment).
"""

from __future__ import annotations

import re
from pathlib import Path

from .convert import Analysis, analyse_logs
from .write import build


def convert_logs(paths: list[Path], name: str | None = None, *, log_format: str = "auto",
                 spike: str | None = None, target: str | None = None, progress: bool | None = None) -> str:
    """The scenario YAML (header comment first) for the access logs at ``paths``.

    ``log_format``: ``auto`` or a format of :mod:`.readers`; ``spike``: ``FROM..TO`` to fit instead of the
    busiest moment; ``target``: the site, written into the scenario and used to read form fields (one GET
    per form post); ``progress``: a progress bar on stderr (default: when stderr is a terminal)."""
    analysis = analyse_logs(paths, log_format, spike, progress)
    if name is None:
        stem = paths[0].name.split(".")[0] if paths else "from-logs"
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._") or "from-logs"
    sources = " ".join(p.name for p in paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
    return build(analysis, name, sources, target)


__all__ = ["Analysis", "analyse_logs", "convert_logs"]
