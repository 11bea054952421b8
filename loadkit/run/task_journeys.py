"""A locustfile's tasks as journeys: each execution of one of a User class's own tasks is a visit of the
journey ``Class.task`` (``Class.Set`` for a TaskSet) in ``journeys.jsonl`` (:class:`TaskJourneys`; the rule is
in docs/verdict.md), its steps the requests it made, its outcome how it ended. In the closed model the
classes' tasks are wrapped so that each execution is recorded (:meth:`TaskJourneys.record_tasks`); the open
model's visits (``locustfile_visitors.py``) begin and end theirs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
from locust import User
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopTest, StopUser
from locust.user.task import TaskSet

from ..scenario_errors import LOCUSTFILE_EXCEPTION
from .kinds import failure_kind
from .scenario_errors import raised_kind
from .scenario_errors import task_name as raising_task
from .walking import Walkers

_END_OF_VISIT = (StopUser, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)


def journey_name(cls: type[User], task: Any) -> str:
    """The journey a task of a User class walks: ``Class.task``, or ``Class.Set`` for a TaskSet."""
    return f"{cls.__name__}.{getattr(task, '__name__', type(task).__name__)}"


def journey_names(classes: list[type[User]]) -> list[str]:
    """Every journey the classes' own tasks walk, in the order the classes list them."""
    return list(dict.fromkeys(journey_name(cls, task) for cls in classes for task in cls.tasks))


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
                   url: str | None = None, **_: Any) -> None:
        """Locust ``events.request`` listener: one more step of the visit on this greenlet (if any)."""
        visit = self._visits.get(gevent.getcurrent())
        if visit is None:
            return
        visit.requests += 1
        if exception is not None and visit.kind is None:
            visit.kind, visit.step, visit.endpoint = failure_kind(exception, response, url), visit.requests, name

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
            kind = raised_kind(error) if error is not None else LOCUSTFILE_EXCEPTION  # a request it built wrong?
            self.on_journey(visit.journey, visit.began, duration, kind, visit.requests + 1, where)
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


__all__ = ["COMPLETED", "CUT_SHORT", "RAISED", "TaskJourneys", "journey_name", "journey_names"]
