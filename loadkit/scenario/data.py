"""The ``data:`` section: values steps draw from (a CSV column, a range of integers, an inline list), read
into memory once before the run, and their form in the setup message to workers."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator

from ..errors import ScenarioError
from .fields import FrozenModel

if TYPE_CHECKING:
    from .models import Scenario


class CsvSource(FrozenModel):
    """Values from one column of a CSV file (path relative to the scenario file)."""

    csv: str
    column: str
    order: Literal["random", "sequential"] = "random"


class RangeSource(FrozenModel):
    """Integers from ``start`` to ``stop`` inclusive, drawn from the bounds: never expanded into a list."""

    range: tuple[int, int]
    order: Literal["random", "sequential"] = "random"

    @field_validator("range")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[1] < value[0]:
            raise ValueError("range [start, stop] needs start <= stop")
        if any(not -2**63 <= bound < 2**63 for bound in value):  # the bounds travel to workers as 64-bit ints
            raise ValueError("range bounds must lie between -2**63 and 2**63 - 1")
        return value


class ListSource(FrozenModel):
    """An inline list of values."""

    values: list[str | int | float] = Field(min_length=1)
    order: Literal["random", "sequential"] = "random"


def _data_source(value: Any) -> Any:
    return {"values": value} if isinstance(value, list) else value


DataSource = Annotated[CsvSource | RangeSource | ListSource, BeforeValidator(_data_source)]


# Inline lists and CSV columns are held in memory by every load process (and a CSV column travels to each
# worker), so each source is capped; ranges are drawn from their bounds and cost nothing whatever their size.
MAX_DATA_VALUES = 1_000_000
MAX_DATA_BYTES = 64 * 1024 * 1024  # of text, per source


def load_data_values(scenario: Scenario, base_dir: Path) -> dict[str, Sequence[Any]]:
    """Every data source as a sequence to draw from: the values of a list or CSV column (CSV read once,
    here, and capped at :data:`MAX_DATA_VALUES` values and :data:`MAX_DATA_BYTES`), and a lazy ``range``
    for a range source, whatever its size."""
    values: dict[str, Sequence[Any]] = {}
    for name, source in scenario.data.items():
        if isinstance(source, ListSource):
            if len(source.values) > MAX_DATA_VALUES:
                raise ScenarioError(f"data.{name}: the inline list has {len(source.values):,} values, more than "
                                    f"the limit of {MAX_DATA_VALUES:,} per data source.",
                                    "use {range: [START, STOP]} for numbers, or a shorter list")
            values[name] = list(source.values)
        elif isinstance(source, RangeSource):
            values[name] = range(source.range[0], source.range[1] + 1)
        else:
            values[name] = _read_csv_column(name, source, base_dir)
    return values


def _read_csv_column(name: str, source: CsvSource, base_dir: Path) -> list[str]:
    """The non-empty values of one CSV column, refused beyond the caps before they are all in memory."""
    path = (base_dir / source.csv) if not Path(source.csv).is_absolute() else Path(source.csv)
    too_many = ScenarioError(
        f"data.{name}: {path} has more than {MAX_DATA_VALUES:,} values or {MAX_DATA_BYTES // 2**20} MB in column "
        f"{source.column!r}, the limit per data source.",
        f"use a sample of at most {MAX_DATA_VALUES:,} rows, or {{range: [START, STOP]}} for numeric ids")
    column: list[str] = []
    size = 0
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or source.column not in reader.fieldnames:
                raise ScenarioError(
                    f"data.{name}: column {source.column!r} is not in {path} "
                    f"(columns: {', '.join(reader.fieldnames or [])}).", "name an existing column")
            for row in reader:
                value = row.get(source.column)
                if not value:
                    continue
                size += len(value)
                if len(column) >= MAX_DATA_VALUES or size > MAX_DATA_BYTES:
                    raise too_many
                column.append(value)
    except OSError as exc:
        raise ScenarioError(f"data.{name}: cannot read {path} ({exc.strerror}).",
                            "give a CSV path relative to the scenario file") from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ScenarioError(f"data.{name}: {path} is not a readable UTF-8 CSV file ({exc}).",
                            "save it as UTF-8 CSV with a header row") from None
    if not column:
        raise ScenarioError(f"data.{name}: {path} has no values in column {source.column!r}.",
                            "add rows to the CSV")
    return column


def data_to_wire(values: Mapping[str, Sequence[Any]]) -> dict[str, dict[str, Any]]:
    """Data sources for the setup message to workers: a range as its bounds, never its values."""
    return {name: {"range": [column.start, column.stop - 1]} if isinstance(column, range)
            else {"values": list(column)} for name, column in values.items()}


def data_from_wire(wire: Mapping[str, Mapping[str, Any]]) -> dict[str, Sequence[Any]]:
    """The inverse of :func:`data_to_wire`, on a worker."""
    return {name: range(int(entry["range"][0]), int(entry["range"][1]) + 1) if "range" in entry
            else list(entry["values"]) for name, entry in wire.items()}


__all__ = [
    "MAX_DATA_BYTES",
    "MAX_DATA_VALUES",
    "CsvSource",
    "DataSource",
    "ListSource",
    "RangeSource",
    "data_from_wire",
    "data_to_wire",
    "load_data_values",
]
