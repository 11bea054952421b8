"""The scenarios shipped inside the package (``loadkit/scenarios/``), and finding a scenario by name."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

from ..errors import ScenarioError


def bundled_scenarios_dir() -> Path:
    """The bundled scenarios and their data: package data in ``loadkit/scenarios/``, found the same way
    from a source tree, an editable install or a wheel."""
    folder = resources.files("loadkit").joinpath("scenarios")
    # Relative data paths (data/products.csv) resolve against the scenario's folder on disk, so the
    # package must be installed as files (pip always unpacks wheels); a zipped install is not supported.
    if not isinstance(folder, Path):
        raise ScenarioError("the bundled scenarios are not on disk (loadkit was imported from an archive).",
                            "install loadkit with pip, which unpacks it")
    return folder


def bundled_scenarios() -> list[tuple[str, str, Path]]:
    """The bundled scenarios as (name, description, path), by name; a file that does not parse is listed
    with its problem as the description."""
    found = []
    for path in sorted(bundled_scenarios_dir().glob("*.yaml")):
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
            description = str(document.get("description", "")) if isinstance(document, dict) else ""
        except (OSError, yaml.YAMLError) as exc:
            description = f"(unreadable: {type(exc).__name__})"
        found.append((path.stem, " ".join(description.split()), path))
    return found


def resolve_scenario_path(spec: str) -> Path:
    """A path, or the name of a bundled scenario (``tv-spot`` -> ``loadkit/scenarios/tv-spot.yaml``); a
    ``scenarios/NAME.yaml`` in the working folder comes first, so a project's own copy wins."""
    path = Path(spec)
    if path.is_file():
        return path
    if path.exists():
        raise ScenarioError(f"{spec}: is not a file.", "pass a scenario YAML file or a bundled name")
    if path.suffix == "" and path.parent == Path("."):
        for base in (Path("scenarios"), bundled_scenarios_dir()):
            candidate = base / f"{spec}.yaml"
            if candidate.is_file():
                return candidate
    names = [name for name, _, _ in bundled_scenarios()]
    raise ScenarioError(f"{spec}: no such scenario file.",
                        f"pass a path, or one of the bundled names: {', '.join(names)} (`loadkit scenarios`)")


__all__ = ["bundled_scenarios", "bundled_scenarios_dir", "resolve_scenario_path"]
