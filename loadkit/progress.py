"""Progress while a run goes: a live view on a terminal, one plain status line every 5 s otherwise.

The run stage calls ``update`` once a second with a :class:`loadkit.run.Progress`; it is typed loosely
here so that the CLI does not import the run stage (and gevent) before it needs to.
"""

from __future__ import annotations

import sys
import time

from .units import format_clock, format_ms, format_percent

STATUS_EVERY_S = 5.0


class _PlainProgress:
    """One status line every few seconds (CI logs): never progress-bar spam."""

    def __init__(self) -> None:
        self.last = 0.0

    def update(self, p: object) -> None:
        now = time.monotonic()
        if now - self.last < STATUS_EVERY_S:
            return
        self.last = now
        print(_status_line(p), file=sys.stderr, flush=True)

    def close(self) -> None:
        pass


class _LiveProgress:
    """A live view on a terminal (rich), redrawn by the run's progress callback."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self.live = Live(console=Console(stderr=True), auto_refresh=False, transient=True)
        self.live.start()

    def update(self, p: object) -> None:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        table.add_row(ProgressBar(total=p.total_s, completed=min(p.elapsed_s, p.total_s), width=40),  # type: ignore[attr-defined]
                      _status_line(p))
        self.live.update(table, refresh=True)

    def close(self) -> None:
        self.live.stop()


def progress_view(tty: bool) -> _PlainProgress | _LiveProgress:
    """A live view on a terminal; one plain status line every few seconds otherwise (CI logs)."""
    return _LiveProgress() if tty else _PlainProgress()


def _status_line(p: object) -> str:
    pr = p  # a loadkit.run.Progress; typed loosely so the CLI does not import the run stage eagerly
    return (f"[{format_clock(pr.elapsed_s)}/{format_clock(pr.total_s)}] {pr.phase:<10} "  # type: ignore[attr-defined]
            f"planned {pr.planned_per_s:.3g}/s delivered {pr.delivered_per_s:.3g}/s | "  # type: ignore[attr-defined]
            f"{pr.rps:.0f} req/s | p95 {format_ms(pr.p95_ms)} | errors {format_percent(pr.error_rate)} | "  # type: ignore[attr-defined]
            f"in flight {pr.in_flight}")  # type: ignore[attr-defined]
