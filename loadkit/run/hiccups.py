"""The event loop's own hiccups, measured as jHiccup does, and the generator's CPU, every second.

A greenlet sleeps a short fixed interval, again and again, and records how much later than asked it
woke. Nothing else in a load process can make it late but the process itself not running: the event
loop busy with visitors (then the process's CPU is near a core) or the machine not scheduling the
process at all (a busy neighbour, a stolen virtual CPU, a stop of the whole machine; then its CPU is
low). Each stall is recorded into every second of the run clock it covers, so a second's value is the
longest stall that touched it; the process's CPU share is recorded per second beside it. The verdict
uses both to tell a saturated generator from a paused machine (docs/verdict.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent
from gevent import Greenlet

from .recorder import Recorder

# The meter's period. The stall it reports is exact (the time the loop woke minus the time it was due),
# whatever the period; the period bounds how much of a pause it may miss (a pause that begins just after a
# wake shows one period shorter) and sets its cost when the process is otherwise idle. Each wake of an
# idle gevent loop cost about 200 microseconds of CPU on the 2-core VM of docs/benchmarks.md (kernel time
# included, from /proc/self/schedstat; the meter's own code is lost in it): 2% of a core at 10 ms, 1% at
# 20 ms. Under load the loop is awake anyway and a timer costs far less. 20 ms still sees every pause of
# 70 ms or more as one of at least 50 ms (the report's mark, analysis.PAUSE_MS).
INTERVAL_S = 0.020


def measure(recorder: Recorder, sample_cpu: Callable[[], float], interval: float = INTERVAL_S) -> None:
    """Run forever (kill the greenlet to stop): record stalls and, once a second, this process's CPU share."""
    mono = time.perf_counter
    last_sec = int(time.time() - recorder.t0)
    while True:
        due = mono() + interval
        gevent.sleep(interval)
        late = mono() - due
        now = time.time() - recorder.t0
        if late > 0.001:  # a wake within a millisecond is the timer's own granularity
            recorder.on_hiccup(now - late, now, late)
        sec = int(now)
        if sec > last_sec:
            recorder.on_cpu(last_sec, sample_cpu())
            last_sec = sec


def start(recorder: Recorder, sample_cpu: Callable[[], float]) -> Greenlet[..., None]:
    """Start the meter in this process (after the run's clock is set); kill the greenlet to stop it."""
    return gevent.spawn(measure, recorder, sample_cpu)
