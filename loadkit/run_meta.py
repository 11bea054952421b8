"""``run.json`` read back: the run's metadata as a frozen, typed record (docs/run-directory.md).

Sub-documents echoed into the reports as written (``generator``, ``preflight``, ``rehearsal``, ``ci``) stay
JSON, made read-only all the way down (:func:`frozen_json`); :func:`thawed_json` gives the plain value back
to write it out again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

JsonValue = Any  # a value read from a JSON document: frozen by :func:`frozen_json`


def frozen_json(value: Any) -> Any:
    """A JSON value made read-only all the way down: objects as mappings that refuse writes, arrays as tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): frozen_json(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen_json(v) for v in value)
    return value


def thawed_json(value: Any) -> Any:
    """The plain JSON value (dicts and lists) of a :func:`frozen_json` value, to write it out again."""
    if isinstance(value, Mapping):
        return {k: thawed_json(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thawed_json(v) for v in value]
    return value


EMPTY: Mapping[str, Any] = MappingProxyType({})  # an empty, read-only JSON object


@dataclass(frozen=True)
class RunMeta:
    """``run.json``: the run's metadata, as the run stage wrote it (docs/run-directory.md).

    Fields a run did not record (an older or interrupted run) are None, empty or their defaults.
    Sub-documents echoed into the reports as written (``generator``, ``preflight``, ``rehearsal``, ``ci``)
    stay JSON, frozen.
    """

    scenario: str | None = None
    target: str | None = None
    started_at: str | None = None
    duration_s: float | None = None  # how long the run took (None: not recorded)
    load_s: float | None = None  # how long the load was sent
    complete: bool = False
    interrupted: bool = False
    workers: JsonValue = 1
    demo: bool = False
    loadkit_version: str | None = None
    locust_version: str | None = None
    python_version: str | None = None
    machine: str | None = None
    # cpu_percent_max, cut_short, started/dropped/late arrivals
    generator: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    preflight: JsonValue = None
    notes: tuple[JsonValue, ...] = ()
    verify_tls: JsonValue = True
    connections: JsonValue = "new"
    aborted: str | None = None  # why the safety abort stopped the load
    lost_workers: tuple[JsonValue, ...] = ()
    inconclusive_reasons: tuple[JsonValue, ...] = ()
    disk_full: str | None = None
    rehearsal: JsonValue = None
    ci: Mapping[str, Any] = field(default_factory=lambda: EMPTY)
    # a capacity search's own account of why it stopped: {ended_by, level, reason, kind?} (run/searching.py)
    search: Mapping[str, Any] = field(default_factory=lambda: EMPTY)

    @property
    def cpu_percent_max(self) -> float:
        """The busiest load process's highest CPU sample (% of a core; 0 when not recorded)."""
        return float(self.generator.get("cpu_percent_max") or 0.0)

    @property
    def cut_short(self) -> int:
        """Visitors still walking when the plan and its drain ended, stopped mid-journey."""
        return int(self.generator.get("cut_short") or 0)

    @property
    def cut_short_at(self) -> tuple[Mapping[str, Any], ...]:
        """Where those visitors stood: ``{journey, step_index, step, visitors}``, most first (older runs: none)."""
        return tuple(self.generator.get("cut_short_at") or ())

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RunMeta:
        """Read ``run.json``'s document (unknown fields are ignored)."""
        def text(name: str) -> str | None:
            value = doc.get(name)
            return None if value is None else str(value)

        def number(name: str) -> float | None:
            value = doc.get(name)
            return None if value is None else float(value)

        generator = doc.get("generator")
        ci, search = doc.get("ci"), doc.get("search")
        return cls(scenario=text("scenario"), target=text("target"), started_at=text("started_at"),
                   duration_s=number("duration_s"), load_s=number("load_s"), complete=bool(doc.get("complete")),
                   interrupted=bool(doc.get("interrupted")), workers=frozen_json(doc.get("workers", 1)),
                   demo=bool(doc.get("demo")), loadkit_version=text("loadkit_version"),
                   locust_version=text("locust_version"), python_version=text("python_version"),
                   machine=text("machine"),
                   generator=frozen_json(generator) if isinstance(generator, Mapping) else EMPTY,
                   preflight=frozen_json(doc.get("preflight")), notes=tuple(frozen_json(doc.get("notes") or [])),
                   verify_tls=doc.get("verify_tls", True), connections=doc.get("connections", "new"),
                   aborted=text("aborted") if doc.get("aborted") else None,
                   lost_workers=tuple(frozen_json(doc.get("lost_workers") or [])),
                   inconclusive_reasons=tuple(frozen_json(doc.get("inconclusive_reasons") or [])),
                   disk_full=text("disk_full") if doc.get("disk_full") else None,
                   rehearsal=frozen_json(doc.get("rehearsal")),
                   ci=frozen_json(ci) if isinstance(ci, Mapping) else EMPTY,
                   search=frozen_json(search) if isinstance(search, Mapping) else EMPTY)


__all__ = ["EMPTY", "JsonValue", "RunMeta", "frozen_json", "thawed_json"]
