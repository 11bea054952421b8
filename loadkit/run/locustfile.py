"""Bring your own locustfile: its User classes walk the journeys, loadkit keeps shape, data and verdict.

Closed model: Locust runs the classes as they are, with loadkit's plan as the shape. Open model: each
arrival is one visit of one class, one pass of its tasks (``locustfile_visitors.py``). Either way each
execution of one of a User class's own tasks is a visit of the journey ``Class.task`` (``task_journeys.py``).

This module imports the locustfile and checks it (:func:`load_user_classes`, :func:`check_journey_names`),
and fires its events. Either way the locustfile's event listeners (``@events.init.add_listener``,
``events.test_start``, ...) hear Locust's events as under ``locust -f``: the run's Environment uses Locust's
global ``events``, and each process fires ``init``, ``test_start``, ``spawning_complete``, ``test_stopping``,
``test_stop`` and ``quitting`` once (Locust's runners fire the middle ones; :func:`fire_init` and
:func:`fire_quitting` the others, which Locust's ``main`` fires).
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import locust
from locust import LoadTestShape, User
from locust.env import Environment
from locust.event import EventHook, Events

from ..errors import ScenarioError
from ..scenario import Scenario
# the open model's visitors and the Markov tour the rehearsal walks: importable from here too
from .locustfile_visitors import LocustfileVisitors, markov_tour
from .task_journeys import journey_names

log = logging.getLogger("loadkit.locustfile")


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


__all__ = ["LocustfileVisitors", "check_journey_names", "fire_init", "fire_quitting", "isolated_locust_events",
           "load_user_classes", "markov_tour", "run_events"]
