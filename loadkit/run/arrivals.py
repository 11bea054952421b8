"""Open-model arrival scheduling: start each visitor at its planned time, whatever the site's latency.

The schedule comes from the plan (:meth:`loadkit.traffic.Plan.arrival_times`), so a slow site cannot slow
the load down (no coordinated omission). Every arrival is accounted for: started (with its lateness:
actual start minus planned time) or dropped because the generator was at its in-flight limit.
Visitors run on a :class:`Crew` of greenlets that stay for the next arrival.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import gevent
from gevent import Greenlet
from gevent.event import Event
from gevent.hub import Waiter

from .recorder import Recorder

# The shortest wait between starts. At high rates the gap to the next arrival is a fraction of a
# millisecond; waking for each one alone costs a pass of the event loop per visitor, and the generator's
# CPU goes to waking instead of visiting (measured: 152 vs 106 microseconds of CPU a one-request visit at
# 5,000 visitors/s). Waiting at least this long starts every arrival that came due meanwhile together,
# each at most about this much late; the lateness histogram records it.
MIN_WAIT_S = 0.001


# Idle crew members kept for the next arrivals; beyond, a member that finishes leaves. A few hundred cover
# the arrivals of one dispatcher wake at any rate; a burst's extra members leave as it ends.
IDLE_KEEP = 256
# what an idle crew member is woken with: the visit to run and its argument, or None to leave
_Job = tuple[Callable[[float], object], float] | None


class Crew:
    """The greenlets that walk visits, reused from one arrival to the next.

    A greenlet that starts on Python 3.11 gets its own frame stack, 16 KiB mapped from the kernel and
    unmapped when it dies: a new greenlet per visitor (``Pool.spawn``) cost an mmap, an munmap, their page
    faults and the pool's bookkeeping per visit (``benchmarks/bench_cpu.py``: 134 vs 109 microseconds of CPU
    per one-request shared visit at 5,000/s). A member that finishes a visit waits for the next arrival
    instead; at most ``keep_idle`` wait, the rest leave.
    ``len()`` is the visitors in flight; at ``limit`` in flight the crew is full.
    """

    def __init__(self, limit: int, keep_idle: int = IDLE_KEEP) -> None:
        self.limit = limit
        self.keep_idle = keep_idle
        self.busy = 0
        self._idle: list[Waiter[_Job]] = []
        self._members: set[Greenlet[..., None]] = set()
        self._quiet = Event()
        self._quiet.set()
        self._hub = gevent.get_hub()

    def __len__(self) -> int:
        return self.busy

    def full(self) -> bool:
        """Whether ``limit`` visitors are in flight."""
        return self.busy >= self.limit

    def start(self, work: Callable[[float], object], arg: float) -> None:
        """Run ``work(arg)`` on an idle member (from the next turn of the event loop) or a new one."""
        self.busy += 1
        self._quiet.clear()
        if self._idle:
            self._hub.loop.run_callback(self._idle.pop().switch, (work, arg))
        else:
            member = Greenlet(self._member, (work, arg))
            self._members.add(member)
            member.start()

    def _member(self, job: _Job) -> None:
        try:
            while job is not None:
                work, arg = job
                try:
                    work(arg)
                finally:
                    self.busy -= 1
                    if not self.busy:
                        self._quiet.set()
                if len(self._idle) >= self.keep_idle:
                    return
                waiter: Waiter[_Job] = Waiter(self._hub)
                self._idle.append(waiter)
                job = waiter.get()
        finally:
            self._members.discard(gevent.getcurrent())

    def join(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` s until no visitor is in flight; True when none is."""
        return self._quiet.wait(timeout)

    def kill(self, timeout: float = 5) -> None:
        """Stop every member, busy or idle."""
        self._idle.clear()
        gevent.killall(list(self._members), block=True, timeout=timeout)


def dispatch(times: Iterable[float], t0: float, visit: Callable[[], object], recorder: Recorder,
             crew: Crew, stop: Event, max_rate: float | None = None) -> None:
    """Start ``visit`` once per planned time (seconds after ``t0``) until the plan ends or ``stop`` is set.

    ``max_rate`` (safety.max_rate) skips arrivals that would exceed that many starts per second; they are
    counted as dropped.
    """
    min_gap = 1.0 / max_rate if max_rate else 0.0
    last_start = -1e9

    def visitor(planned: float) -> None:
        recorder.on_arrival(planned, time.time() - t0)
        visit()

    for planned in times:
        delay = planned - (time.time() - t0)
        if delay > 0.05:
            if stop.wait(delay):  # long gaps: wake at once when the run stops
                return
        elif delay > 0:
            gevent.sleep(max(delay, MIN_WAIT_S))  # short gaps: a plain timer costs less than an event wait
        if stop.is_set():
            return
        if planned - last_start < min_gap * 0.999 or crew.full():
            recorder.on_dropped(planned)
            continue
        last_start = planned
        crew.start(visitor, planned)


def drain_timeout(request_timeout: float) -> float:
    """How long the end of a run waits for visitors in flight: their request's timeout and 5 s more, at most
    30 s (the slowest request can still answer; a hung site does not hold the run)."""
    return min(30.0, request_timeout + 5.0)


def drain(crew: Crew, timeout: float, before_stop: Callable[[], object] | None = None) -> int:
    """Wait up to ``timeout`` s for in-flight visitors; stop the rest and the idle crew; return how many
    visitors were cut short. ``before_stop`` runs once the wait is over and before anyone is stopped
    (where the visitors left stand can still be read)."""
    crew.join(timeout=timeout)
    left = len(crew)
    if before_stop is not None:
        before_stop()
    crew.kill(timeout=5)
    gevent.sleep(0)
    return left
