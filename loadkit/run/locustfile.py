"""Bring your own locustfile: its User classes walk the journeys, loadkit keeps shape, data and verdict.

Closed model: Locust runs the classes as they are, with loadkit's plan as the shape. Open model: each
arrival instantiates one class (chosen by its ``weight``), runs ``on_start``, one pass of its tasks and
``on_stop``, then leaves. One pass is one task chosen by weight; for a ``SequentialTaskSet``, every task
in order with the set's ``wait_time`` between them; for a ``MarkovTaskSet``, a walk along its transitions
from its first task until the chain comes back to it; a nested set makes one pass as well.

Either way each execution of one of a User class's own tasks is a visit of the journey ``Class.task``
(``Class.Set`` for a TaskSet) in ``journeys.jsonl`` (:class:`TaskJourneys`; the rule is in docs/verdict.md).

Either way the locustfile's event listeners (``@events.init.add_listener``, ``events.test_start``, ...)
hear Locust's events as under ``locust -f``: the run's Environment uses Locust's global ``events``, and
each process fires ``init``, ``test_start``, ``spawning_complete``, ``test_stopping``, ``test_stop`` and
``quitting`` once (Locust's runners fire the middle ones; :func:`fire_init` and :func:`fire_quitting` the
others, which Locust's ``main`` fires).
"""

from __future__ import annotations

import importlib.util
import logging
import random
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gevent
import locust
from locust import LoadTestShape, User
from locust.env import Environment
from locust.event import EventHook, Events
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopTest, StopUser
from locust.user.markov_taskset import MarkovTaskSet
from locust.user.sequential_taskset import SequentialTaskSet
from locust.user.task import TaskSet

from ..errors import ScenarioError
from ..redaction import redact_text
from ..scenario import Scenario
from ..scenario_errors import LOCUSTFILE_EXCEPTION
from .kinds import failure_kind
from .scenario_errors import task_name as raising_task
from .walking import Walker, Walkers

log = logging.getLogger("loadkit.locustfile")
_END_OF_VISIT = (StopUser, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)
MARKOV_MAX_STEPS = 100  # a Markov walk that has not come back to its first task by then ends the visit


def load_user_classes(path: Path, notice: Callable[[str], None] | None = None) -> list[type[User]]:
    """Import a locustfile and return its concrete User classes with tasks; ScenarioError when there are
    none. ``notice`` hears, in a sentence, what of the file loadkit does not use (a ``LoadTestShape``, a
    concrete User class without tasks)."""
    if not path.is_file():
        raise ScenarioError(f"locustfile {path}: no such file.", "give a path relative to the scenario file")
    # As `locust -f` does: the file's folder comes first on the import path, so the locustfile can import
    # its neighbours (shared helpers, page objects) and they import as they would under plain Locust.
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"loadkit_locustfile_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ScenarioError(f"locustfile {path}: cannot be imported.", "give a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's code: report it in one line
        raise ScenarioError(f"locustfile {path}: importing it raised {type(exc).__name__}: {exc}.",
                            "fix the locustfile (run it with plain `locust -f` to see the traceback)") from None
    runnable = [v for v in vars(module).values()
                if isinstance(v, type) and issubclass(v, User) and not v.abstract and v.weight > 0]
    classes = [c for c in runnable if c.tasks]
    if not classes:
        raise ScenarioError(f"locustfile {path}: defines no User class with tasks.",
                            "define a class deriving from HttpUser or FastHttpUser with @task methods")
    # A base class left concrete (Locust's examples/x-forwarded-for.py): Locust would run it and log "No tasks
    # defined" for each of its users; a visit of it would do nothing. Left out, and said so.
    idle = sorted(c.__name__ for c in runnable if not c.tasks)
    if idle:
        said = (f"the locustfile's {', '.join(idle)} {'has' if len(idle) == 1 else 'have'} no tasks and "
                f"{'is' if len(idle) == 1 else 'are'} not used (a base class? `abstract = True` says so)")
        if notice is not None:
            notice(said)
        else:
            log.warning(said)
    shapes = sorted(v.__name__ for v in vars(module).values()
                    if isinstance(v, type) and issubclass(v, LoadTestShape) and not getattr(v, "abstract", False))
    if shapes:
        message = (f"the locustfile's {', '.join(shapes)} (a LoadTestShape) is not used: the scenario's traffic "
                   "shapes the run")
        if notice is not None:  # said once: the caller shows it (and a log handler would repeat it)
            notice(message)
        else:
            log.warning(message)
    return classes


def run_events(locust_users: list[type[User]] | None) -> Events:
    """The events a run's Environment fires: Locust's global ``events`` when a locustfile walks (its
    listeners registered there at import, as under ``locust -f``), else a set of the run's own."""
    return locust.events if locust_users else Events()


@contextmanager
def isolated_locust_events() -> Iterator[None]:
    """Leave Locust's global ``events`` as they were once the run is over: a locustfile's listeners and
    the run's own must not hear a later run in the same process (the library API may run twice)."""
    hooks = {name: hook for name, hook in vars(locust.events).items() if isinstance(hook, EventHook)}
    saved = {name: list(hook._handlers) for name, hook in hooks.items()}
    try:
        yield
    finally:
        for name, hook in hooks.items():
            hook._handlers[:] = saved[name]


def fire_init(env: Environment) -> None:
    """Locust's ``init`` event, as ``locust`` fires it once the runner exists (once per process)."""
    if getattr(env, "_loadkit_init_fired", False):
        return
    env._loadkit_init_fired = True  # type: ignore[attr-defined]
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)


def fire_quitting(env: Environment) -> None:
    """Locust's ``quitting`` event, as ``locust`` fires it on the way out (once per process)."""
    if getattr(env, "_loadkit_quitting_fired", False):
        return
    env._loadkit_quitting_fired = True  # type: ignore[attr-defined]
    env.events.quitting.fire(environment=env, reverse=True)


def journey_name(cls: type[User], task: Any) -> str:
    """The journey a task of a User class walks: ``Class.task``, or ``Class.Set`` for a TaskSet."""
    return f"{cls.__name__}.{getattr(task, '__name__', type(task).__name__)}"


def journey_names(classes: list[type[User]]) -> list[str]:
    """Every journey the classes' own tasks walk, in the order the classes list them."""
    return list(dict.fromkeys(journey_name(cls, task) for cls in classes for task in cls.tasks))


def check_journey_names(scenario: Scenario, classes: list[type[User]]) -> None:
    """ScenarioError when a journey SLO or ``business.orders`` names a journey no task of the locustfile walks
    (the scenario is checked without importing the file, so only now can the names be read)."""
    names = journey_names(classes)
    wanted = [(f"slos[{i}].journey", slo.journey) for i, slo in enumerate(scenario.slos) if slo.journey is not None]
    if scenario.business is not None:
        wanted.append(("business.orders", scenario.business.orders))
    for where, name in wanted:
        if name not in names:
            raise ScenarioError(f"{where}: {name!r} is not a task of the locustfile's User classes (its journeys: "
                                f"{', '.join(names)}).", "name a journey as Class.task, one of those listed")


COMPLETED, CUT_SHORT, RAISED = "completed", "cut_short", "raised"  # how a task's execution ended


class _Visit:
    """One execution of a task in flight: its requests so far and the first that failed."""

    __slots__ = ("began", "endpoint", "journey", "kind", "requests", "step")

    def __init__(self, journey: str) -> None:
        self.journey = journey
        self.began = time.time()
        self.requests = 0
        self.kind: str | None = None  # the first failure's kind
        self.step = 0
        self.endpoint = ""


class TaskJourneys:
    """A locustfile's task executions as journeys: each a visit of ``Class.task``, its steps the requests it
    made. Requests are matched to the visit running on their greenlet (a locustfile's client reports each
    request from the greenlet that sent it); a request sent from a greenlet the task spawned is not."""

    def __init__(self) -> None:
        self._visits: dict[Any, _Visit] = {}
        # (journey, start epoch s, duration s, outcome, step number, endpoint): Recorder.on_journey
        self.on_journey: Callable[[str, float, float, str, int, str], None] | None = None

    def begin(self, journey: str) -> _Visit:
        """A task's execution starts on this greenlet."""
        visit = self._visits[gevent.getcurrent()] = _Visit(journey)
        return visit

    def on_request(self, name: str, exception: BaseException | None = None, response: Any = None,
                   **_: Any) -> None:
        """Locust ``events.request`` listener: one more step of the visit on this greenlet (if any)."""
        visit = self._visits.get(gevent.getcurrent())
        if visit is None:
            return
        visit.requests += 1
        if exception is not None and visit.kind is None:
            visit.kind, visit.step, visit.endpoint = failure_kind(exception, response), visit.requests, name

    def end(self, visit: _Visit, how: str, user: Any = None, error: BaseException | None = None) -> None:
        """The execution ended ``how`` (COMPLETED, CUT_SHORT, or RAISED ``error``). A request that failed
        makes it failed whatever came after; else a task that raised failed at the step after its last
        request, named after the code that raised."""
        self._visits.pop(gevent.getcurrent(), None)
        if self.on_journey is None:
            return
        duration = time.time() - visit.began
        if visit.kind is not None:
            self.on_journey(visit.journey, visit.began, duration, visit.kind, visit.step, visit.endpoint)
        elif how == RAISED:
            where = raising_task(user, error.__traceback__ if error is not None else None)
            self.on_journey(visit.journey, visit.began, duration, LOCUSTFILE_EXCEPTION, visit.requests + 1, where)
        else:
            self.on_journey(visit.journey, visit.began, duration, how, 0, "")

    def record_tasks(self, classes: list[type[User]], walking: Walkers) -> None:
        """Closed model: Locust runs the classes as they are; wrap each of their own tasks so that each
        execution is a visit (and stands in ``walking`` while it runs). The classes are this run's import."""
        for cls in classes:
            wrapped: dict[int, Callable[[User], None]] = {}
            cls.tasks = [wrapped.setdefault(id(task), self._recorded(cls, task, walking)) for task in cls.tasks]

    def _recorded(self, cls: type[User], task: Any, walking: Walkers) -> Callable[[User], None]:
        journey, label = journey_name(cls, task), getattr(task, "__name__", type(task).__name__)
        is_set = isinstance(task, type) and issubclass(task, TaskSet)

        def run(user: User) -> None:
            walker = walking.start(cls.__name__)
            walker.step = label
            visit = self.begin(journey)
            how, error = CUT_SHORT, None  # what a task stopped from outside (the run ended) leaves
            try:
                if is_set:
                    task(user).run()  # as Locust's DefaultTaskSet runs a set: until it is interrupted
                else:
                    task(user)
                how = COMPLETED
            except (*_END_OF_VISIT, StopTest):
                how = COMPLETED  # Locust's control flow: the task is over
                raise
            except Exception as exc:
                how, error = RAISED, exc  # Locust reports it (user_error) and goes on
                raise
            finally:
                walking.end(walker)
                self.end(visit, how, user, error)

        run.__name__ = label
        return run


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
