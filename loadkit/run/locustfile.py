"""Bring your own locustfile: its User classes walk the journeys, loadkit keeps shape, data and verdict.

Closed model: Locust runs the classes as they are, with loadkit's plan as the shape. Open model: each
arrival instantiates one class (chosen by its ``weight``), runs ``on_start``, one pass of its tasks and
``on_stop``, then leaves. One pass is one task chosen by weight; for a ``SequentialTaskSet``, every task
in order with the set's ``wait_time`` between them; a nested set makes one pass as well.
"""

from __future__ import annotations

import importlib.util
import logging
import random
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import LoadTestShape, User
from locust.env import Environment
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser
from locust.user.sequential_taskset import SequentialTaskSet
from locust.user.task import TaskSet

from ..errors import ScenarioError
from ..redaction import redact_text

log = logging.getLogger("loadkit.locustfile")
_END_OF_VISIT = (StopUser, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)


def load_user_classes(path: Path, notice: Callable[[str], None] | None = None) -> list[type[User]]:
    """Import a locustfile and return its concrete User classes; ScenarioError when there are none.
    ``notice`` hears, in a sentence, what of the file loadkit does not use (a ``LoadTestShape``)."""
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
    except Exception as exc:  # the user's code: report it in one line
        raise ScenarioError(f"locustfile {path}: importing it raised {type(exc).__name__}: {exc}.",
                            "fix the locustfile (run it with plain `locust -f` to see the traceback)") from None
    classes = [v for v in vars(module).values()
               if isinstance(v, type) and issubclass(v, User) and not v.abstract and v.weight > 0]
    if not classes:
        raise ScenarioError(f"locustfile {path}: defines no User class with tasks.",
                            "define a class deriving from HttpUser or FastHttpUser with @task methods")
    shapes = sorted(v.__name__ for v in vars(module).values()
                    if isinstance(v, type) and issubclass(v, LoadTestShape) and not getattr(v, "abstract", False))
    if shapes:
        message = (f"the locustfile's {', '.join(shapes)} (a LoadTestShape) is not used: the scenario's traffic "
                   "shapes the run")
        log.warning(message)
        if notice is not None:
            notice(message)
    return classes


class LocustfileVisitors:
    """Open model over a locustfile: one visit is one pass of one user's tasks."""

    def __init__(self, classes: list[type[User]], env: Environment, target: str, rng: random.Random) -> None:
        self.classes = classes
        self.weights = [max(1, int(getattr(c, "weight", 1))) for c in classes]
        self.env = env
        self.rng = rng
        for cls in classes:
            cls.host = target  # the run's target wins, as with `locust --host`

    def visit(self) -> bool:
        """Run one visit; True when it ended without an error in the user's code."""
        cls = self.rng.choices(self.classes, weights=self.weights)[0]
        user = cls(self.env)
        try:
            user.on_start()
            self._one_pass(user)
            user.on_stop()
            return True
        except _END_OF_VISIT:
            return True
        except Exception as exc:  # the user's code failed: count it as Locust does, keep the run going
            self.env.events.user_error.fire(user_instance=user, exception=exc, tb=exc.__traceback__)
            # run.log is part of the run directory: URLs in the message lose their credentials and query values
            log.error("%s", redact_text(f"locustfile task raised {type(exc).__name__}: {exc}\n"
                                        f"{traceback.format_exc(limit=3)}", []))
            return False
        finally:
            _close(user)

    def _one_pass(self, user: User) -> None:
        self._walk(self.rng.choice(user.tasks), user)

    def _walk(self, task: Any, parent: User | TaskSet) -> None:
        """One pass of ``task`` under ``parent``. A TaskSet runs one of its tasks (chosen by weight); a
        SequentialTaskSet runs each of its tasks in order, waiting its ``wait_time`` between them as a
        visitor thinks between pages; a nested set makes one pass too (Locust's ``execute_task`` would loop
        it until interrupted, and the visit would never end)."""
        if isinstance(task, type) and issubclass(task, TaskSet):
            taskset = task(parent)
            taskset.on_start()
            steps = list(taskset.tasks) if issubclass(task, SequentialTaskSet) else [self.rng.choice(taskset.tasks)]
            for i, step in enumerate(steps):
                if i:
                    taskset.wait()
                self._walk(step, taskset)
            taskset.on_stop()
        elif isinstance(parent, TaskSet):
            parent.execute_task(task)  # a function or a method of the set, called as Locust calls it
        else:
            task(parent)


def _close(user: Any) -> None:
    client = getattr(user, "client", None)
    inner = getattr(client, "client", None)  # FastHttpSession keeps its user agent here
    for obj in (inner, client):
        close = getattr(obj, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # closing a broken connection must not fail the visit
                pass
            return
