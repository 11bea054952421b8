"""``convert_har``: the stages in order (read the recording, choose the requests, find where each value
came from, write the scenario)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import ScenarioError
from .choosing import choose_requests
from .correlation import resolve
from .recording import load_entries, recorded_site
from .writing import comments, name_from, scenario_document


def convert_har(path: Path, name: str | None = None) -> str:
    """The scenario YAML (with explanatory comments) for the HAR file at ``path``."""
    entries = load_entries(path)
    site = recorded_site(entries)
    chosen = choose_requests(entries, site)
    if not chosen.steps:
        raise ScenarioError(f"{path}: no request to {site} is left once other hosts, beacons and assets are "
                            "set aside.", "record a visit to the site itself") from None
    flows = resolve(chosen.steps)
    document = scenario_document(chosen.steps, site, name or name_from(path), chosen.secrets)
    return comments(path, site, chosen, flows) + yaml.safe_dump(document, sort_keys=False, allow_unicode=True,
                                                                width=110)


__all__ = ["convert_har"]
