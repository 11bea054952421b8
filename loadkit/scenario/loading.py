"""Reading scenarios: a YAML file or a bundled name, a parsed document, or the scenario saved in a run
directory; every problem is one :class:`~loadkit.errors.ScenarioError` line naming the file and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..errors import DataError, ScenarioError
from .bundled import resolve_scenario_path
from .errors import describe_error
from .fields import SAVED
from .models import Scenario


def parse_scenario(document: Any, source: str = "<scenario>") -> Scenario:
    """Validate a parsed YAML/JSON document into a :class:`Scenario`.

    Raises :class:`ScenarioError` naming ``source``, the field path and the fix.
    """
    return _validate(document, source, {})


def _validate(document: Any, source: str, context: dict[str, Any]) -> Scenario:
    if not isinstance(document, dict):
        raise ScenarioError(f"{source}: a scenario is a mapping of fields (name, traffic, journeys, ...), "
                            f"got {type(document).__name__}.",
                            "start from a bundled scenario (`loadkit scenarios` lists them)")
    try:
        return Scenario.model_validate(document, context=context)
    except ValidationError as exc:
        errors = exc.errors()
        first = describe_error(errors[0])
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise ScenarioError(f"{source}: {first}{more}".replace("\n", "\\n").replace("\r", "\\r")) from None
    except (TypeError, ValueError) as exc:  # a validator met a value of a shape it cannot read
        raise ScenarioError(f"{source}: {exc}.", "correct the value (see docs/scenario-format.md)") from None


def load_scenario(spec: str | Path) -> Scenario:
    """Read and validate a scenario from a path or a bundled name."""
    path = resolve_scenario_path(str(spec))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the file ({exc}).", "check the path and its permissions") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ScenarioError(f"{path}: {where}YAML syntax error ({problem}).",
                            "check indentation and quoting around that spot") from None
    return parse_scenario(document, str(path))


def scenario_base_dir(spec: str | Path) -> Path:
    """Folder that relative data paths in the scenario are resolved against."""
    return resolve_scenario_path(str(spec)).resolve().parent


SAVED_SCENARIO = "scenario.yaml"  # in a run directory: the scenario as run, secrets redacted


def saved_scenario(document: Any, source: str) -> Scenario:
    """The scenario a run directory saved (``scenario.yaml`` as :func:`loadkit.redaction.redacted_document`
    wrote it, already read from YAML), validated again into a :class:`Scenario`.

    Every saved scenario loads again: redaction keeps it valid (``***`` for secret header values and query
    values, a target without credentials), durations, rates and percentages are saved as numbers, and the
    checks that only guard sending (a target that is a base URL, paths and placeholders as this version
    reads them) are skipped, so the scenario of a run by an earlier loadkit loads too. A file that does
    not load was edited or damaged: :class:`~loadkit.errors.DataError` naming ``source``.
    """
    try:
        return _validate(document, source, {SAVED: True})
    except ScenarioError as exc:
        problem = str(exc).split(" Fix: ", 1)[0].rstrip(".")
        raise DataError(f"{problem} (in the scenario saved with the run).",
                        "re-run the scenario, or restore scenario.yaml as `loadkit run` wrote it") from None


def load_saved_scenario(run_dir: Path) -> Scenario:
    """Read and validate the scenario saved in a run directory (``RUN_DIR/scenario.yaml``).

    Raises :class:`~loadkit.errors.DataError` when the file is missing, unreadable or no longer valid.
    """
    path = Path(run_dir) / SAVED_SCENARIO
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{run_dir}: {SAVED_SCENARIO} is missing; this is not a complete run directory.",
                        "pass a folder written by `loadkit run`") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DataError(f"{path}: the saved scenario is unreadable ({type(exc).__name__}).",
                        "re-run the scenario; the run directory cannot be trusted") from None
    return saved_scenario(document, str(path))


__all__ = ["SAVED_SCENARIO", "load_saved_scenario", "load_scenario", "parse_scenario", "saved_scenario",
           "scenario_base_dir"]
