"""The JSON Schema of the scenario format (``loadkit schema``), for editors."""

from __future__ import annotations

from typing import Any

from .models import Scenario


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scenario format, for editors."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "loadkit scenario"
    return schema


__all__ = ["json_schema"]
