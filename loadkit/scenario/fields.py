"""Field types shared by the scenario's sections: durations, rates and percentages parsed at validation
(``'2m'`` -> ``120.0``), and the frozen base model every section derives from."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

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


__all__ = ["HTTP_METHODS", "Duration", "FrozenModel", "Percent", "Rate"]
