"""Scenario files: YAML in, frozen typed objects out; and the JSON Schema of the format.

Every validation error becomes one :class:`~loadkit.errors.ScenarioError` line that names the file, the
field path (``journeys[1].steps[0].post``) and how to fix it. The format is documented in
``docs/scenario-format.md``. The modules follow the file's sections:

- ``models``: the whole :class:`Scenario` and its cross-section checks
- ``traffic``, ``journeys``, ``data``, ``slos`` (with ``verdict:`` and ``safety:``): one section each
- ``fields``: durations, rates and percentages parsed at validation; the frozen base model
- ``hosts``: targets and the hosts absolute step URLs may reach
- ``errors``: validation errors as one line with the field path and the fix
- ``loading``: files, documents and the scenario saved in a run directory
- ``bundled``: the scenarios shipped in the package; ``schema``: the JSON Schema
"""

from __future__ import annotations

from .bundled import bundled_scenarios, bundled_scenarios_dir, resolve_scenario_path
from .data import (
    MAX_DATA_BYTES,
    MAX_DATA_VALUES,
    CsvSource,
    DataSource,
    ListSource,
    RangeSource,
    data_from_wire,
    data_to_wire,
    load_data_values,
)
from .errors import FieldProblem
from .fields import HTTP_METHODS, Duration, Percent, Rate
from .hosts import DEMO_TARGET, check_step_hosts, host_allowed, literal_host, target_problem, url_host
from .journeys import Expect, Extractor, Journey, Step, mask_query, mean_visit_seconds, step_variables
from .loading import (
    SAVED_SCENARIO,
    load_saved_scenario,
    load_scenario,
    parse_scenario,
    saved_scenario,
    scenario_base_dir,
)
from .models import ROOT_FIELDS, Scenario
from .observe import Observe
from .schema import json_schema
from .slos import JOURNEY_METRICS, AbortWhen, Business, Safety, Slo, VerdictPolicy, parse_money
from .traffic import (
    SEARCH_WINDOW_S,
    Audience,
    BurstTraffic,
    ConstantTraffic,
    PointsTraffic,
    SearchTraffic,
    StepsTraffic,
    Traffic,
)

__all__ = [
    "DEMO_TARGET",
    "HTTP_METHODS",
    "JOURNEY_METRICS",
    "MAX_DATA_BYTES",
    "MAX_DATA_VALUES",
    "ROOT_FIELDS",
    "SAVED_SCENARIO",
    "SEARCH_WINDOW_S",
    "AbortWhen",
    "Audience",
    "BurstTraffic",
    "Business",
    "ConstantTraffic",
    "CsvSource",
    "DataSource",
    "Duration",
    "Expect",
    "Extractor",
    "FieldProblem",
    "Journey",
    "ListSource",
    "Observe",
    "Percent",
    "PointsTraffic",
    "RangeSource",
    "Rate",
    "Safety",
    "Scenario",
    "SearchTraffic",
    "Slo",
    "Step",
    "StepsTraffic",
    "Traffic",
    "VerdictPolicy",
    "bundled_scenarios",
    "bundled_scenarios_dir",
    "check_step_hosts",
    "data_from_wire",
    "data_to_wire",
    "host_allowed",
    "json_schema",
    "literal_host",
    "load_data_values",
    "load_saved_scenario",
    "load_scenario",
    "mask_query",
    "mean_visit_seconds",
    "parse_money",
    "parse_scenario",
    "resolve_scenario_path",
    "saved_scenario",
    "scenario_base_dir",
    "step_variables",
    "target_problem",
    "url_host",
]
