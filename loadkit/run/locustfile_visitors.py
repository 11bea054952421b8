"""The open model over a locustfile: each arrival instantiates one User class (chosen by its ``weight``), runs
``on_start``, one pass of its tasks and ``on_stop``, then leaves (:class:`LocustfileVisitors`). One pass is
one task chosen by weight; for a ``SequentialTaskSet``, every task in order with the set's ``wait_time``
between them; for a ``MarkovTaskSet``, a walk along its transitions from its first task until the chain
comes back to it; a nested set makes one pass as well. The visit is a visit of that task's journey
(``task_journeys.py``). Also the order the rehearsal walks a Markov chain in (:func:`markov_tour`).
"""

from __future__ import annotations

import logging
import random
import traceback
from typing import Any

from locust import User
from locust.env import Environment
from locust.exception import InterruptTaskSet
from locust.user.markov_taskset import MarkovTaskSet
from locust.user.sequential_taskset import SequentialTaskSet
from locust.user.task import TaskSet

from ..redaction import redact_text
from .task_journeys import _END_OF_VISIT, COMPLETED, CUT_SHORT, RAISED, TaskJourneys, journey_name
from .walking import Walker, Walkers

log = logging.getLogger("loadkit.locustfile")  # the locustfile's logger, as in locustfile.py
MARKOV_MAX_STEPS = 100  # a Markov walk that has not come back to its first task by then ends the visit


class LocustfileVisitors:
    """Open model over a locustfile: one visit is one pass of one user's tasks."""

    def __init__(self, classes: list[type[User]], env: Environment, target: str, rng: random.Random) -> None:
        self.classes = classes
        self.weights = [max(1, int(getattr(c, "weight", 1))) for c in classes]
        self.env = env
        self.rng = rng
        self.walking = Walkers()  # the visits in flight, each at its task: those the run's end cuts short
        self.journeys = TaskJourneys()  # each visit, as a journey named after the task it chose
        for cls in classes:
            cls.host = target  # the run's target wins, as with `locust --host`

    def visit(self) -> bool:
        """Run one visit; True when it ended without an error in the user's code. The visit (on_start, one
        pass of one task, on_stop) is a visit of that task's journey."""
        cls = self.rng.choices(self.classes, weights=self.weights)[0]
        walker = self.walking.start(cls.__name__)
        user = cls(self.env)
        task = self.rng.choice(user.tasks)
        visit = self.journeys.begin(journey_name(cls, task))
        how, error = CUT_SHORT, None  # what a visit stopped from outside (the run ended) leaves
        try:
            walker.step = "on_start"
            user.on_start()
            self._walk(task, user, walker)
            walker.step = "on_stop"
            user.on_stop()
            how = COMPLETED
            return True
        except _END_OF_VISIT:
            how = COMPLETED
            return True
        except Exception as exc:  # noqa: BLE001 - the user's code failed: count it as Locust does, keep the run going
            how, error = RAISED, exc
            self.env.events.user_error.fire(user_instance=user, exception=exc, tb=exc.__traceback__)
            # run.log is part of the run directory: URLs in the message lose their credentials and query values
            log.error("%s", redact_text(f"locustfile task raised {type(exc).__name__}: {exc}\n"
                                        f"{traceback.format_exc(limit=3)}", []))
            return False
        finally:
            self.walking.end(walker)
            self.journeys.end(visit, how, user, error)
            _close(user)

    def _walk(self, task: Any, parent: User | TaskSet, walker: Walker) -> None:
        """One pass of ``task`` under ``parent``. A TaskSet runs one of its tasks (chosen by weight); a
        SequentialTaskSet runs each of its tasks in order, waiting its ``wait_time`` between them as a
        visitor thinks between pages; a MarkovTaskSet walks its transitions from its first task until it
        comes back to it (``_markov_walk``); a nested set makes one pass too (Locust's ``execute_task``
        would loop it until interrupted, and the visit would never end). ``self.interrupt()`` inside a
        set ends that set's pass and returns to its parent, as in Locust. ``walker`` follows the task
        running (or, while the set waits, the one that ran last)."""
        if isinstance(task, type) and issubclass(task, TaskSet):
            taskset = task(parent)  # type: ignore[arg-type]  # Locust's hint says User; a TaskSet nests too
            walker.step = f"{task.__name__}.on_start"
            taskset.on_start()
            try:
                if isinstance(taskset, MarkovTaskSet):
                    self._markov_walk(taskset, walker)
                else:
                    steps = (list(taskset.tasks) if issubclass(task, SequentialTaskSet)
                             else [self.rng.choice(taskset.tasks)] if taskset.tasks else [])
                    for i, step in enumerate(steps):
                        if i:
                            taskset.wait()
                        self._walk(step, taskset, walker)
            except InterruptTaskSet:
                pass  # Locust: the set stops and control returns to its parent
            walker.step = f"{task.__name__}.on_stop"
            taskset.on_stop()
            return
        walker.step = task_name(task, parent)
        if isinstance(parent, TaskSet):
            parent.execute_task(task)  # a function or a method of the set, called as Locust calls it
        else:
            task(parent)

    def _markov_walk(self, chain: MarkovTaskSet, walker: Walker) -> None:
        """One pass of a Markov chain: its first task, then transitions (chosen by weight, as Locust's
        ``get_next_task`` chooses them) until the chain is back at its first task, with the set's
        ``wait_time`` between tasks. A chain that never returns ends after ``MARKOV_MAX_STEPS`` tasks."""
        first = _function(type(chain).current)
        for i in range(MARKOV_MAX_STEPS):
            if i:
                if _function(chain.current) is first:
                    return
                chain.wait()
            self._walk(chain.get_next_task(), chain, walker)
        _say_once(f"{type(chain).__name__} (a MarkovTaskSet) did not come back to its first task within "
                  f"{MARKOV_MAX_STEPS} tasks; such a visit ends there")


def markov_tour(chain: type[MarkovTaskSet], limit: int = MARKOV_MAX_STEPS) -> list[str]:
    """Names of a Markov chain's tasks in an order the chain could walk them: from its first task along
    its transitions, on to the nearest task not yet visited (by the fewest transitions) until every task
    reachable from the first has been visited once, or after ``limit`` tasks. The rehearsal walks this, so
    each task runs after a task that can lead to it (whatever state that one leaves behind, as under load)."""
    def successors(name: str) -> list[str]:
        # the metaclass turned each task's transitions into a list of names, repeated by weight
        return list(dict.fromkeys(getattr(getattr(chain, name, None), "transitions", None) or []))

    here = _function(chain.current).__name__
    tour, seen = [here], {here}
    while len(tour) < limit:
        came_from: dict[str, str | None] = {here: None}
        queue, found = [here], None
        while queue and found is None:  # breadth first: the nearest task not yet visited
            node = queue.pop(0)
            for nxt in successors(node):
                if nxt not in came_from:
                    came_from[nxt] = node
                    if nxt not in seen:
                        found = nxt
                        break
                    queue.append(nxt)
        if found is None:
            break  # every reachable task visited
        path: list[str] = []
        step: str | None = found
        while step is not None and step != here:
            path.append(step)
            step = came_from[step]
        for name in reversed(path):
            if len(tour) >= limit:
                break
            tour.append(name)
            seen.add(name)
        here = tour[-1]
    return tour


_said: set[str] = set()


def _say_once(message: str) -> None:
    if message not in _said:
        _said.add(message)
        log.warning(message)


def task_name(task: Any, parent: Any) -> str:
    """A task as the reports name it: ``Set.task`` inside a TaskSet, the function's name on a User."""
    name = str(getattr(task, "__name__", type(task).__name__))
    return f"{type(parent).__name__}.{name}" if isinstance(parent, TaskSet) else name


def _function(task: Any) -> Any:
    """The plain function behind a task (a bound method's ``__func__``), to tell the chain's states apart."""
    return getattr(task, "__func__", task)


def _close(user: Any) -> None:
    client = getattr(user, "client", None)
    inner = getattr(client, "client", None)  # FastHttpSession keeps its user agent here
    for obj in (inner, client):
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # noqa: BLE001 - closing a broken connection must not fail the visit
                pass
            return


__all__ = ["MARKOV_MAX_STEPS", "LocustfileVisitors", "markov_tour", "task_name"]
