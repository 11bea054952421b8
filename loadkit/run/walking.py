"""Where each visitor in flight is: its journey (or locustfile class) and step (or task).

A visit registers a :class:`Walker` when it starts, moves it along as it walks (one attribute set per
step) and removes it when it ends, however it ends. When the plan is over and the drain has waited all it
may, the visitors still registered are the ones cut short: :meth:`Walkers.counts` says how many stood at
each step, for run.json (``generator.cut_short_at``) and the reports. Workers send theirs to the master,
which adds them up (:func:`merge_counts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any


class Walker:
    """One visit in flight: ``journey`` (a scenario's journey, or a locustfile's User class), and ``step``:
    the 1-based index of the journey's step with its name, or a locustfile task's name (index None)."""

    __slots__ = ("index", "journey", "names", "step")

    def __init__(self, journey: str, names: tuple[str, ...] | None = None) -> None:
        self.journey = journey
        self.names = names  # a journey's step names, looked up only when counted (a step sets ``index`` alone)
        self.index: int | None = None
        self.step = "start"  # before the first step; a locustfile's visit names each task as it runs it

    @property
    def where(self) -> tuple[str, int | None, str]:
        """(journey, step index, step name)."""
        if self.names is not None and self.index is not None:
            return self.journey, self.index, self.names[self.index - 1]
        return self.journey, self.index, self.step


class Walkers:
    """The visits in flight in one load process."""

    def __init__(self) -> None:
        self._walking: set[Walker] = set()

    def start(self, journey: str, names: tuple[str, ...] | None = None) -> Walker:
        """Register a new visit (``names``: its journey's step names, in order)."""
        walker = Walker(journey, names)
        self._walking.add(walker)
        return walker

    def end(self, walker: Walker) -> None:
        """The visit ended (completed, failed, or stopped)."""
        self._walking.discard(walker)

    def __len__(self) -> int:
        return len(self._walking)

    def counts(self) -> list[dict[str, Any]]:
        """How many visits stand at each (journey, step) now, most first: rows of ``journey``, ``step_index``
        (1-based, None for a locustfile's task), ``step`` and ``visitors``."""
        tally = Counter(w.where for w in list(self._walking))
        return _rows(tally)


def merge_counts(parts: Iterable[Iterable[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Add up several processes' :meth:`Walkers.counts` (a distributed run's workers)."""
    tally: Counter[tuple[str, int | None, str]] = Counter()
    for rows in parts:
        for row in rows or []:
            index = row.get("step_index")
            tally[(str(row.get("journey", "")), int(index) if index is not None else None,
                   str(row.get("step", "")))] += int(row.get("visitors") or 0)
    return _rows(tally)


def _rows(tally: Counter[tuple[str, int | None, str]]) -> list[dict[str, Any]]:
    ordered = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1] or 0, kv[0][2]))
    return [{"journey": journey, "step_index": index, "step": step, "visitors": n}
            for (journey, index, step), n in ordered if n > 0]


__all__ = ["Walker", "Walkers", "merge_counts"]
