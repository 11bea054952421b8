"""Property-based tests of the scenario parser: random and mutated documents never crash it.

Whatever the document, :func:`loadkit.scenario.parse_scenario` either returns a scenario or raises
:class:`loadkit.errors.ScenarioError` whose one-line message names the field at fault and a fix.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadkit.errors import ScenarioError
from loadkit.scenario import ROOT_FIELDS, bundled_scenarios_dir, parse_scenario

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20),
                    st.sampled_from(["10/s", "2m", "1s..3s", "50%", "-1s", "0/s", "1e309/s", "{x}", "${HOME}",
                                     "inf", "nan", "800ms", "1_000", "..", "/", "http://x", "burst", "users"]))
VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)), max_leaves=12)

BASE = [yaml.safe_load((bundled_scenarios_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
        for name in ("smoke", "tv-spot", "capacity-probe")]
# Messages read "<scenario>: field.path: what is wrong. Fix: ..." (paths index lists: journeys[0].steps[1]).


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for i, value in enumerate(doc):
            out += _paths(value, prefix + (i,))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A bundled scenario with a few of its values replaced, removed, or added as unknown fields."""
    doc = copy.deepcopy(draw(st.sampled_from(BASE)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(VALUES)
    return doc


def _check(document: Any) -> None:
    try:
        parse_scenario(document)
    except ScenarioError as err:
        message = str(err)
        assert "\n" not in message
        if isinstance(document, dict):
            assert message.startswith("<scenario>: ") and "Fix: " in message, message
            rest = message[len("<scenario>: "):]
            if "unknown field '" not in rest:  # (an unknown field is named in quotes)
                root = re.split(r"[.\[:]", rest, maxsplit=1)[0]
                assert root in ROOT_FIELDS, message
        else:
            assert "a scenario is a mapping of fields" in message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALUES)
def test_random_documents_raise_only_scenario_errors_naming_a_field(document: Any) -> None:
    _check(document)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_scenarios_raise_only_scenario_errors_naming_a_field(document: Any) -> None:
    _check(document)
