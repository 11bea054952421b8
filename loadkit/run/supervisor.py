"""What the controlling process does every second while the load runs: flush the data to disk, report
progress, watch the generator's CPU and the abort rule, and turn SIGINT/SIGTERM into a clean stop."""

from __future__ import annotations

import logging
import math
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent
from gevent.event import Event

from .. import data as rundata
from ..errors import DiskFullError, is_disk_full
from .export import LiveExport
from ..traffic import Plan
from ..units import format_percent
from .job import RunJob
from .observe import SiteSampler
from .outcome import Progress, RunOutcome
from .recorder import Recorder

__all__ = ["FLUSH_EVERY_S", "PUBLISH_LAG_S", "Gauges", "Supervisor"]

FLUSH_EVERY_S = 2.0
# A second goes out on the live endpoints once it ended this long before the flush that carries it, so
# every request that started in it and took less than this is in (a request ends after it starts).
PUBLISH_LAG_S = 1.0
# the files the load appends to, in the order of Supervisor.write's rows
_DATA_FILES = (rundata.METRICS, rundata.ARRIVALS, rundata.ERRORS, rundata.SCENARIO_ERRORS, rundata.JOURNEYS)
PROGRESS_EVERY_S = 1.0
# The live warning (run.json's problems, the log): a load process pinned at or above this CPU share for
# SATURATED_FOR_S. Stricter than the analysis's per-second mark (analysis.SATURATED_CPU, 85%), which the
# verdict reads from the recorded seconds; this one only says so while the run goes.
PINNED_CPU = 95.0
SATURATED_FOR_S = 5

log = logging.getLogger("loadkit.run")


@dataclass(frozen=True)
class Gauges:
    """What the supervisor reads from the load processes: each one's CPU share, the running users (closed
    model) and the visitors in flight."""

    cpu: Callable[[], dict[str, float]]
    users: Callable[[], int]
    in_flight: Callable[[], int]


@dataclass
class Supervisor:
    """What the controlling process does every second: flush data, report progress, watch health."""

    job: RunJob
    recorder: Recorder
    stop: Event
    gauges: Gauges
    aborted: str | None = None
    interrupted: Event = field(default_factory=Event)
    cpu_max: float = 0.0
    saturated: str | None = None
    disk_full: str | None = None  # why the data files stopped growing
    live: LiveExport | None = None  # the live figures out (--prometheus, --otlp)
    site: SiteSampler | None = None  # the site's own metrics in (the scenario's observe:)
    current_plan: Callable[[], Plan] | None = None  # a plan that grows as the run goes (a capacity search)
    # how long after a second ends its rows may still be on their way here: PUBLISH_LAG_S in the process that
    # measures; a master's workers also hold their rows for up to a flush
    publish_lag_s: float = PUBLISH_LAG_S
    _hot: dict[str, float] = field(default_factory=dict)
    _bad_since: float | None = None
    _site_greenlet: gevent.Greenlet[[], None] | None = None

    @property
    def plan(self) -> Plan:
        """The plan as it stands (a search's grows level by level)."""
        return self.current_plan() if self.current_plan is not None else self.job.plan

    def start_observing(self) -> None:
        """Open the live export and start sampling the site's metrics; call once the run's clock is set.
        Only this controlling process does either (in a distributed run, the master)."""
        settings = self.job.options.export
        if settings.enabled:
            self.live = LiveExport(settings, self.job.out.name, self.job.scenario.name, self.job.plan)
            self.live.start()
        if self.job.scenario.observe is not None:
            self.site = SiteSampler(self.job.scenario.observe, self.job.out, lambda: self.recorder.t0,
                                    sleep=gevent.sleep)
            self._site_greenlet = gevent.spawn(self.site.run)

    def stop_observing(self) -> None:
        """Stop sampling (a round under way may finish within its timeouts), publish the last seconds and,
        for a last scrape, keep the endpoint up for its linger time."""
        if self.site is not None and self._site_greenlet is not None:
            self.site.stop()
            self._site_greenlet.join(timeout=self.site.observe.timeout + 0.5)
            self._site_greenlet.kill(block=False)
        if self.live is not None:
            self.live.close()

    def flush(self) -> None:
        """Append what the recorder holds to the data files."""
        metrics, arrivals, samples = self.recorder.flush()
        self.write(metrics, arrivals, samples, self.recorder.flush_scenario_errors(), self.recorder.flush_journeys())

    def sync(self) -> None:
        """Once the load is over: wait until the data files are on the disk. Not during the load, where each
        wait would stop the event loop (and with it the load) for as long as the disk is busy."""
        if self.disk_full is not None:
            return
        try:
            rundata.sync_to_disk([self.job.out / name for name in _DATA_FILES])
        except OSError as exc:
            if is_disk_full(exc):  # what did not fit shows only now, when the disk takes the appended rows
                self.disk_full = ("the disk of the run directory filled up: what the load measured last may be "
                                  "missing")
                log.error("%s", self.disk_full)
            else:
                log.warning("the data files may not all be on the disk yet (%s)", exc.strerror or exc)

    def write(self, metrics: list[dict[str, Any]], arrivals: list[dict[str, Any]],
              samples: list[dict[str, Any]], scenario_errors: list[dict[str, Any]] | None = None,
              journeys: list[dict[str, Any]] | None = None) -> None:
        """Append rows to the data files. When the disk is full, stop the load: what it measured could no
        longer be recorded, and load nobody records is load nobody planned."""
        if self.disk_full is not None:
            return
        try:
            for name, rows in zip(_DATA_FILES, (metrics, arrivals, samples, scenario_errors or [], journeys or []),
                                  strict=True):
                rundata.append_jsonl(self.job.out / name, rows, durable=False)  # synced once the load ends
            if self.live is not None:  # the same rows, once written; seconds published once complete
                self.live.add(metrics, arrivals)
                self.live.publish(math.floor(time.time() - self.recorder.t0 - self.publish_lag_s) - 1)
        except DiskFullError:
            elapsed = max(0.0, time.time() - self.recorder.t0) if self.recorder.t0 else 0.0
            self.disk_full = (f"the disk of the run directory filled up {elapsed:.0f} s into the run: the load was "
                              "stopped and what it measured from then on is missing")
            log.error("%s", self.disk_full)
            self.stop.set()

    def loop(self) -> None:
        """Every second until killed."""
        last_flush = time.monotonic()
        while True:
            gevent.sleep(PROGRESS_EVERY_S)
            elapsed = time.time() - self.recorder.t0
            self.watch_cpu(elapsed)
            if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                self.flush()
                last_flush = time.monotonic()
            self.check_abort(elapsed)
            if self.job.plan.model == "users":
                self.recorder.on_users(elapsed, self.gauges.users())
            if self.job.on_progress is not None:
                live = self.recorder.live_window(elapsed)
                plan = self.plan
                self.job.on_progress(Progress(
                    elapsed_s=elapsed, total_s=max(plan.duration, elapsed), phase=plan.phase_at(elapsed),
                    planned_per_s=plan.integral(int(elapsed) - 5, int(elapsed)) / 5,
                    delivered_per_s=float(live["arrivals_per_s"] or 0), rps=float(live["rps"] or 0),
                    p95_ms=live["p95_ms"], error_rate=live["error_rate"], in_flight=self.gauges.in_flight(),
                    requests=self.recorder.total_requests, failures=self.recorder.total_failures))

    def watch_cpu(self, elapsed: float) -> None:
        """Note the busiest load process; a process pinned near 100% CPU is a saturated generator."""
        for name, pct in self.gauges.cpu().items():
            self.cpu_max = max(self.cpu_max, pct)
            if pct >= PINNED_CPU:
                since = self._hot.setdefault(name, elapsed)
                if elapsed - since >= SATURATED_FOR_S and self.saturated is None:
                    self.saturated = (f"{name} ran at or above {PINNED_CPU:.0f}% CPU from {since:.0f} s into "
                                      "the run (saturated), so visitors may have started late")
                    log.warning(self.saturated)
            else:
                self._hot.pop(name, None)

    def check_abort(self, elapsed: float) -> None:
        """safety.abort_when: stop the load when the error rate stays above the limit."""
        abort = self.job.scenario.safety.abort_when
        if abort is None or self.aborted:
            return
        rate = self.recorder.live_window(elapsed, seconds=1)["error_rate"]
        if rate is None:
            return
        if rate > abort.error_rate:
            self._bad_since = elapsed if self._bad_since is None else self._bad_since
            if elapsed - self._bad_since >= abort.for_:
                self.aborted = (f"error rate above {format_percent(abort.error_rate)} for {abort.for_:g} s "
                                f"from {self._bad_since:.0f} s into the run")
                log.warning("aborted to protect the site: %s", self.aborted)
                self.stop.set()
        else:
            self._bad_since = None

    def install_signals(self) -> None:
        """SIGINT/SIGTERM stop the load; a second SIGINT leaves at once, keeping what is on disk."""
        def on_signal() -> None:
            if self.interrupted.is_set():
                os._exit(3)
            log.warning("interrupted: stopping the load")
            self.interrupted.set()
            self.stop.set()

        gevent.signal_handler(signal.SIGINT, on_signal)
        gevent.signal_handler(signal.SIGTERM, on_signal)

    @staticmethod
    def restore_signals() -> None:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def outcome(self, t0: float, load_s: float | None, cut_short: int, workers: int,
                notes: list[str]) -> RunOutcome:
        """The run's outcome once the load has stopped."""
        duration = time.time() - t0
        rec = self.recorder
        if cut_short:
            notes.append(f"{cut_short} visitors were still in flight when the run ended and were stopped")
        log.info("run ended after %.1f s: %d requests, %d failures", duration, rec.total_requests,
                 rec.total_failures)
        return RunOutcome(started_at=t0, duration_s=duration, load_s=min(load_s or duration, self.plan.duration),
                          interrupted=self.interrupted.is_set(), cut_short=cut_short, workers=workers,
                          requests=rec.total_requests, failures=rec.total_failures,
                          started_arrivals=rec.total_started, dropped_arrivals=rec.total_dropped,
                          late_arrivals=rec.total_late, cpu_percent_max=self.cpu_max, notes=notes,
                          aborted=self.aborted, saturated=self.saturated, disk_full=self.disk_full)
