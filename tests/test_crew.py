"""The crew of visitor greenlets: reused between arrivals, counted in flight, drained and stopped.

The checks run in a child process: the run stage's gevent stays out of the test process.
"""

from __future__ import annotations

import textwrap

from tests.helpers import run_child

CHILD = textwrap.dedent('''
    import json
    import gevent
    from gevent.event import Event
    from loadkit.run.arrivals import Crew, drain

    out = {}

    # Arrivals a few at a time, each visit short: the same few greenlets walk them all.
    crew = Crew(limit=100, keep_idle=8)
    walkers = set()
    def short(arg):
        walkers.add(gevent.getcurrent())  # held: ids of dead greenlets recur
        gevent.sleep(0.001)
    for batch in range(40):
        for _ in range(3):
            crew.start(short, batch)
        gevent.sleep(0.003)
    out["reuse_done"] = crew.join(2)
    out["reuse_walkers"] = len(walkers)
    out["reuse_busy"] = len(crew)

    # In flight up to the limit; released, the crew is quiet again; only keep_idle members stay.
    gate = Event()
    crew = Crew(limit=20, keep_idle=4)
    for i in range(20):
        crew.start(lambda arg: gate.wait(), i)
    gevent.sleep(0.01)
    out["full_busy"], out["full"] = len(crew), crew.full()
    out["quiet_before_release"] = crew.join(0.05)
    gate.set()
    out["quiet_after_release"] = crew.join(2)
    gevent.sleep(0.01)
    out["members_after"] = len(crew._members)
    out["idle_after"] = len(crew._idle)

    # A visit that raises frees its place; the others go on.
    crew = Crew(limit=10)
    done = []
    def boom(arg):
        raise ValueError("visit failed")
    def fine(arg):
        gevent.sleep(0.005)
        done.append(arg)
    gevent.get_hub().print_exception = lambda *a: None  # the expected traceback stays out of the output
    crew.start(boom, 0)
    crew.start(fine, 1)
    crew.start(fine, 2)
    out["after_error_quiet"] = crew.join(2)
    out["after_error_done"] = sorted(done)
    out["after_error_busy"] = len(crew)

    # drain: visitors still walking when the time is up are cut short and counted; every member stops.
    crew = Crew(limit=10)
    for i in range(3):
        crew.start(lambda arg: gevent.sleep(30), i)
    crew.start(lambda arg: None, 9)
    gevent.sleep(0.01)
    out["drain_cut_short"] = drain(crew, 0.1)
    out["drain_members_left"] = len(crew._members)
    out["drain_busy"] = len(crew)
    print(json.dumps(out))
''')


def test_crew_reuses_counts_drains_and_stops() -> None:
    out = run_child(CHILD)
    # 120 visits three at a time: a handful of greenlets, not one per visit
    assert out["reuse_done"] is True and out["reuse_busy"] == 0
    assert out["reuse_walkers"] <= 12
    assert (out["full_busy"], out["full"]) == (20, True)
    assert out["quiet_before_release"] is False and out["quiet_after_release"] is True
    assert out["members_after"] == 4 and out["idle_after"] == 4
    assert out["after_error_quiet"] is True and out["after_error_done"] == [1, 2] and out["after_error_busy"] == 0
    assert out["drain_cut_short"] == 3 and out["drain_members_left"] == 0 and out["drain_busy"] == 0
