"""What a step's request is made of: the values a visitor draws from the scenario's data (:class:`DataPool`),
templates rendered with them, and the parts of each step worked out once (:class:`Prepared`), so the
request path (``run/visitors.py``) only expands and sends."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..scenario import Step
from ..uri import ENV, VARIABLE, PathTemplate


def render(template: str, values: Mapping[str, Any]) -> str:
    """Replace ``{var}`` with its value (form fields, headers, bodies; paths are URI templates)."""
    return VARIABLE.sub(lambda match: str(values[match.group(1)]), template)


def render_json(value: Any, values: Mapping[str, Any]) -> Any:
    """Render ``{var}`` inside every string of a JSON document."""
    if isinstance(value, str):
        whole = VARIABLE.fullmatch(value)
        return values[whole.group(1)] if whole else render(value, values)
    if isinstance(value, list):
        return [render_json(v, values) for v in value]
    if isinstance(value, dict):
        return {render(k, values): render_json(v, values) for k, v in value.items()}
    return value


def _env_json(value: Any, environ: Mapping[str, str]) -> Any:
    """``${NAME}`` read from the environment inside every string of a JSON document."""
    if isinstance(value, str):
        return ENV.sub(lambda m: environ[m.group(1)], value)
    if isinstance(value, list):
        return [_env_json(v, environ) for v in value]
    if isinstance(value, dict):
        return {k: _env_json(v, environ) for k, v in value.items()}
    return value


@dataclass
class DataPool:
    """Per-visitor draws from the scenario's data sources (random, or sequential across visitors)."""

    values: Mapping[str, Sequence[Any]]  # lists, or ``range`` objects drawn from their bounds (never expanded)
    sequential: frozenset[str]
    rng: random.Random
    offset: int = 0  # this worker's place in a sequential walk
    stride: int = 1  # how many workers share the walk
    _counter: int = 0

    def draw(self) -> dict[str, Any]:
        """One value per source for a new visitor."""
        drawn: dict[str, Any] = {}
        index = self.offset + self._counter * self.stride
        self._counter += 1
        for name, column in self.values.items():
            if isinstance(column, range):
                # From the bounds: len() of a range wider than sys.maxsize would overflow. randrange(n) draws
                # what choice() on the expanded list would have drawn, so seeded runs repeat as before.
                size = (column.stop - column.start) // column.step
                position = index % size if name in self.sequential else self.rng.randrange(size)
                drawn[name] = column.start + position * column.step
            else:
                drawn[name] = column[index % len(column)] if name in self.sequential else self.rng.choice(column)
        return drawn


@dataclass(frozen=True)
class Prepared:
    """What a step's requests share, worked out once (the request path runs thousands of times a second)."""

    path: PathTemplate  # compiled once: expanding it is all a request pays
    path_vars: bool
    headers_static: bool
    headers: dict[str, str]  # the whole set when static (never mutated)
    step_headers: dict[str, str]  # the step's own, ${ENV} read
    defaults: dict[str, str]  # what the step's body implies (its Content-Type), below any header given
    form: dict[str, str] | None  # the step's body with ${ENV} read (secrets are never in the scenario)
    json_body: Any
    body: str | None

    @classmethod
    def of(cls, step: Step, base_headers: Mapping[str, str], environ: Mapping[str, str]) -> Prepared:
        def env(text: str) -> str:
            return ENV.sub(lambda m: environ[m.group(1)], text)

        step_headers = {k: env(v) for k, v in step.headers.items()}
        static = not any(VARIABLE.search(v) for v in step_headers.values())
        given = {name.lower() for name in (*base_headers, *step.headers)}
        implied = {"Content-Type": "application/x-www-form-urlencoded"} if step.form is not None else \
            {"Content-Type": "application/json", "Accept": "application/json"} if step.json_body is not None else \
            {"Content-Type": "text/plain; charset=utf-8"} if step.body is not None else {}
        defaults = {name: value for name, value in implied.items() if name.lower() not in given}
        path = PathTemplate(step.path, environ)
        return cls(path=path, path_vars=bool(path.variables), headers_static=static, defaults=defaults,
                   step_headers=step_headers, headers={**defaults, **base_headers, **step_headers} if static else {},
                   form={env(k): env(v) for k, v in step.form.items()} if step.form is not None else None,
                   json_body=_env_json(step.json_body, environ) if step.json_body is not None else None,
                   body=env(step.body) if step.body is not None else None)


__all__ = ["DataPool", "Prepared", "render", "render_json"]
