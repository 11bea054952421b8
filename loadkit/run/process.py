"""A load process's housekeeping: Locust's statistics off the hot path, its CPU share, the garbage
collector's pace while the load runs, and ``run.log``."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from locust.env import Environment

__all__ = ["LOAD_GC_THRESHOLD", "burst_tolerant_gc", "cpu_sampler", "drop_locust_request_stats", "run_log"]

# Python's cyclic collector makes a young-generation pass after every 700 new container objects still alive.
# Steady load leaves few (a visit's objects die by reference counting), but a burst of late visitors (after
# a pause of the machine, say) keeps thousands of greenlets, frames and sockets alive at once: the collector
# then walks them again and again, the generator falls further behind and the burst grows. After a 150 ms
# pause near the generator's capacity (benchmarks/bench_burst.py, 10,000 visitors/s with the crew of reused
# greenlets, medians of 3): 1,547 ms collecting and 44,664 visitors late with the default; 151 ms and 13,756
# with this. Well below capacity (7,200/s) both recover; the default then collects 162 ms against 5.
LOAD_GC_THRESHOLD = (10_000, 10, 10)


def drop_locust_request_stats(env: Environment) -> None:
    """Detach Locust's own per-request statistics (the runner's ``events.request`` listener).

    loadkit's recorder measures every request into exact, mergeable per-second histograms; Locust's
    rounded statistics would be computed for nothing, on the hottest path of the run.
    """
    handlers = getattr(env.events.request, "_handlers", [])
    for handler in list(handlers):
        if getattr(handler, "__qualname__", "") == "Runner.__init__.<locals>.on_request":
            env.events.request.remove_listener(handler)


def cpu_sampler() -> Callable[[], float]:
    """This process's CPU share (percent of one core) since the previous call.

    Locust's own monitor samples every 10 s, too coarse to catch a generator pinned for a few seconds.
    """
    import psutil

    process = psutil.Process()
    process.cpu_percent(None)
    return lambda: float(process.cpu_percent(None))


@contextmanager
def burst_tolerant_gc() -> Iterator[None]:
    """While the load runs, collect cyclic garbage less often (``LOAD_GC_THRESHOLD``); restored after."""
    before = gc.get_threshold()
    gc.set_threshold(*LOAD_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class _QuietFileHandler(logging.FileHandler):
    """A log file that drops a record it cannot write (a full disk) instead of printing a traceback: the
    run reports the full disk itself."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def setup_logging(path: Path) -> logging.Handler:
    """Send log records (loadkit's and Locust's) to ``path``."""
    handler = _QuietFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


@contextmanager
def run_log(path: Path) -> Iterator[None]:
    """Log records (loadkit's and Locust's) go to ``path`` for the duration of the block."""
    handler = setup_logging(path)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
