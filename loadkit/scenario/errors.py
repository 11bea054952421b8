"""Validation errors as one line each: the field path a user wrote (``journeys[1].steps[0].post``), the
problem, and the fix."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("burst", "steps", "constant", "points") and out == "traffic":
            continue  # the discriminator's tag, not a field the user wrote
        elif isinstance(part, str) and part.startswith("function-"):
            continue
        else:
            out += ("." if out else "") + _show(part)
    return out or "(top level)"


def _show(name: object) -> str:
    """A field name fit for a one-line message (control characters escaped)."""
    text = str(name)
    return text if text.isprintable() else repr(text)[1:-1]


class FieldProblem(ValueError):
    """A cross-field check that failed, naming the field (``journeys[0].steps[2]``) it points at."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def describe_error(error: Any, model: type[BaseModel] | None = None) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    path = _field_path(loc)
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, FieldProblem):
        path = problem.path if path == "(top level)" else f"{path}.{problem.path}"
    msg = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "missing":
        return f"{path}: this field is required. Fix: add '{path.rsplit('.', 1)[-1]}:' to the file"
    if kind == "extra_forbidden":
        parent = _field_path(loc[:-1])
        return (f"{path}: unknown field '{_show(loc[-1])}'. Fix: remove it or correct its spelling "
                f"(see `loadkit schema` for the fields {parent!r} takes)")
    return f"{path}: {msg}. Fix: correct the value (see docs/scenario-format.md)"


__all__ = ["FieldProblem", "describe_error"]
