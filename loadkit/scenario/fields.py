"""Field types shared by the scenario's sections: durations, rates and percentages parsed at validation
(``'2m'`` -> ``120.0``), and the frozen base model every section derives from."""

from __future__ import annotations

from typing import Annotated, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, WithJsonSchema

from ..units import parse_duration, parse_percent, parse_rate

_DURATION_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h)\s*)+$"},
                              {"type": "number", "minimum": 0}],
                    "description": "A duration: '250ms', '45s', '2m', '1m30s' or seconds."}
_RATE_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*/\s*(s|m|h)\s*$"},
                          {"type": "number", "minimum": 0}],
                "description": "A rate: '120/s', '600/m' or a number per second (users, for model: users)."}
_PERCENT_SCHEMA = {"anyOf": [{"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"},
                             {"type": "number", "minimum": 0, "maximum": 1}],
                   "description": "A percentage: '1%', '0.4%' or a fraction from 0 to 1."}

Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
Rate = Annotated[float, BeforeValidator(parse_rate), WithJsonSchema(_RATE_SCHEMA)]
Percent = Annotated[float, BeforeValidator(parse_percent), WithJsonSchema(_PERCENT_SCHEMA)]

HTTP_METHODS = ("get", "post", "put", "patch", "delete", "head")


class FrozenModel(BaseModel):
    """A section of the scenario: unknown fields refused, nothing changed after validation."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ThinkTime(NamedTuple):
    """A think step's pause in seconds: ``'2s'`` is (2, 2), ``'1s..4s'`` a uniform draw from (1, 4)."""

    low: float
    high: float

    @property
    def mean(self) -> float:
        """The mean pause, for Little's-law estimates."""
        return (self.low + self.high) / 2


def parse_think(raw: object) -> ThinkTime:
    """``'2s'``, ``1.5`` or a range ``'1s..4s'`` as a :class:`ThinkTime`; ValueError otherwise."""
    if isinstance(raw, str) and ".." in raw:
        lo_text, hi_text = raw.split("..", 1)
        low, high = parse_duration(lo_text), parse_duration(hi_text)
        if high < low:
            raise ValueError(f"think range {raw!r} ends before it starts")
        return ThinkTime(low, high)
    value = parse_duration(raw)
    return ThinkTime(value, value)


# Validation context of a scenario read back from a run directory: the checks that only guard sending
# (a target that is a base URL, paths and placeholders as this version reads them) are skipped, so the
# scenario of any earlier run loads again.
SAVED = "saved"


def is_saved(info: ValidationInfo) -> bool:
    """Whether this validation reads a scenario saved with a run (see :data:`SAVED`)."""
    return isinstance(info.context, dict) and bool(info.context.get(SAVED))


__all__ = ["HTTP_METHODS", "SAVED", "Duration", "FrozenModel", "Percent", "Rate", "ThinkTime", "is_saved",
           "parse_think"]
