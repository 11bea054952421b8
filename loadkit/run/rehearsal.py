"""The rehearsal: before any load, every journey walked once, one visitor at a time, at rest.

It goes through the same client as the load (:class:`~loadkit.run.visitors.VisitorFactory`, or the user's
own Locust classes for a scenario with a ``locustfile:``), but on an event hook of its own: its requests are
not part of the measured run. A locustfile's ``MarkovTaskSet`` is walked along its transitions until
every task reachable from its first has run once (:func:`~loadkit.run.locustfile_visitors.markov_tour`). Think
times are skipped (nothing waits on them at rest); a page's assets are
fetched as in the load. A step that fails here with a client error (a 4xx other than 408 and 429), a check
that does not match, an extraction that finds nothing or an unexpected status, and a locustfile task that
raises, is the scenario's mistake: :class:`RehearsalError` stops the run with one line per broken step.
A step the site fails at rest (a 5xx, a timeout, a refused connection) is the site's: it is noted and the
load goes on, to be judged.
"""

from __future__ import annotations

import os
import random
import sysconfig
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import gevent
from locust import User
from locust.env import Environment
from locust.event import EventHook
from locust.exception import InterruptTaskSet, RescheduleTask, RescheduleTaskImmediately, StopUser
from locust.user.markov_taskset import MarkovTaskSet
from locust.user.task import TaskSet

from .. import failures as kinds
from ..errors import ScenarioError
from ..redaction import redact_text, secret_values
from ..scenario import CsvSource, Journey, ListSource, RangeSource, Scenario, Step
from ..scenario_errors import LOCUSTFILE_EXCEPTION
from .client import VisitorClient
from .locustfile_visitors import _close, markov_tour
from .kinds import RequestFailure, failure_kind, failure_status
from .scenario_errors import raised_kind
from .visitors import DataPool, VisitorFactory

_END_OF_VISIT = (StopUser, RescheduleTask, RescheduleTaskImmediately, InterruptTaskSet)
_SCENARIO_KINDS = frozenset({kinds.CHECK_FAILED, kinds.EXTRACT_FAILED, kinds.UNEXPECTED_STATUS,
                             kinds.HOST_NOT_ALLOWED, kinds.INVALID_REQUEST, LOCUSTFILE_EXCEPTION})
_SITE_CLIENT_ERRORS = frozenset({408, 429})  # a 4xx that says the site is busy, not that the request is wrong
SKIP_HINT = "or run with --skip-rehearsal (or 'rehearsal: false') to send the load anyway"
# A piece of a locustfile (on_start, a task) that has not returned after this long at rest is left: it may
# wait for something only the load starts (Locust's spawning_complete, another user's signal).
PIECE_S = 10.0
INVALID_REQUEST_FIX = ("correct that request in the locustfile: a path starts with / (the host is the target's), an "
                       "absolute URL has http:// or https:// and a host, a header value has no line break")


@dataclass(frozen=True)
class BrokenStep:
    """One step that failed at rest: where, what, and how to fix it."""

    journey: str  # the journey's name, or the locustfile's User class
    step: str  # "step 2 (GET /missing)", or the locustfile task ("Shopper.look")
    what: str  # what failed, in words
    fix: str
    scenario: bool  # True: the scenario's mistake (stops the run); False: the site failed at rest

    def line(self) -> str:
        """One line naming the journey, the step, what failed and the fix."""
        where = f"journey {self.journey!r}, {self.step}" if not self.step.startswith("task ") else \
            f"locustfile class {self.journey!r}, {self.step}"
        return f"{where}: {self.what} at rest (one visitor, before any load). Fix: {self.fix}."


@dataclass
class Rehearsal:
    """What the rehearsal did and found."""

    visits: int = 0
    requests: int = 0
    seconds: float = 0.0
    broken: list[BrokenStep] = field(default_factory=list)  # scenario errors: the run stops
    site_failures: list[BrokenStep] = field(default_factory=list)  # failed at rest, the site's: noted
    stalled: list[str] = field(default_factory=list)  # locustfile pieces that waited past PIECE_S: not walked

    def to_dict(self) -> dict[str, Any]:
        """For run.json."""
        return {"ran": True, "visits": self.visits, "requests": self.requests, "seconds": round(self.seconds, 3),
                "broken_steps": [b.line() for b in self.broken],
                "site_failures_at_rest": [b.line() for b in self.site_failures], "not_rehearsed": self.stalled}


class RehearsalError(ScenarioError):
    """Steps of the scenario failed with one visitor at rest: no load was sent. One line per broken step."""

    def __init__(self, broken: list[BrokenStep]) -> None:
        self.broken = broken
        lines = [b.line() for b in broken]
        steps = "1 step" if len(broken) == 1 else f"{len(broken)} steps"
        super().__init__("\n".join(lines + [
            f"the rehearsal found {steps} of the scenario failing with a single visitor at rest (a scenario "
            "error, not the site's), so no load was sent."]),
            f"correct {'it' if len(broken) == 1 else 'them'} as above, {SKIP_HINT}")


def at_rest_is_scenario_error(kind: str, status: int) -> bool:
    """Whether a failure seen at rest is the scenario's mistake rather than the site's."""
    if kind in _SCENARIO_KINDS:
        return True
    return 400 <= status < 500 and status not in _SITE_CLIENT_ERRORS


def _fix(kind: str, status: int, method: str) -> str:
    if kind == LOCUSTFILE_EXCEPTION:
        return "correct that code in the locustfile (plain `locust -f` shows the whole traceback)"
    if status == 404:
        return ("correct the step's path or the data value it uses (a product the site does not have?); if 404 "
                "is the answer you want, add expect: {status: 404}")
    if status == 405:
        return f"the site does not accept {method} there: correct the step's method or path"
    if status in (401, 403):
        return ("give the credentials the site asks for (headers: with a ${ENV_VAR} value, or user:password in "
                "--target)")
    if 400 <= status < 500:
        return "correct the step's form, json, body or headers (a missing CSRF token or field?)"
    if kind == kinds.CHECK_FAILED:
        return "correct the step's expect (or the step that leads to this page)"
    if kind == kinds.EXTRACT_FAILED:
        return "correct the step's extract so it matches the page the site sends"
    if kind == kinds.UNEXPECTED_STATUS:
        return "correct the step's expect.status, or add follow_redirects: true for a redirect"
    if kind == kinds.HOST_NOT_ALLOWED:
        return "add the host to allowed_hosts: in the scenario if the site really calls it, or correct the URL"
    if kind == kinds.INVALID_REQUEST:
        return INVALID_REQUEST_FIX
    return "check the site: it fails without load"


def _what(failure: BaseException, status: int, secrets: list[str]) -> str:
    kind = getattr(failure, "kind", type(failure).__name__)
    detail = redact_text(str(getattr(failure, "detail", "") or failure), secrets)
    if kind.startswith("http_") and status:
        return f"the site answered {status}"
    if kind == kinds.UNEXPECTED_STATUS:
        return detail.split(";")[0]  # "expected status 303, got 200"
    if kind in (kinds.CHECK_FAILED, kinds.EXTRACT_FAILED):
        return f"{'the check failed' if kind == kinds.CHECK_FAILED else 'nothing was extracted'} ({detail[:200]})"
    if kind == kinds.INVALID_REQUEST:
        return f"the locustfile built a request that could not be sent ({detail[:200]})"
    return f"{kind.replace('_', ' ')}{f' ({detail[:200]})' if detail and detail != kind else ''}"


class _Walker(VisitorFactory):
    """The load's visitor factory, remembering which step is being sent."""

    current: Step | None = None

    def request(self, client: VisitorClient, step: Step, values: dict[str, Any]) -> bool:
        self.current = step
        return super().request(client, step, values)


def rehearse(scenario: Scenario, target: str, data_values: Mapping[str, Sequence[Any]], headers: dict[str, str],
             locust_users: list[type[User]] | None = None) -> Rehearsal:
    """Walk every journey (or every task of the locustfile's classes) once, one visitor at a time; raise
    :class:`RehearsalError` when a step failed in a way that is the scenario's mistake."""
    secrets = secret_values(scenario, target, headers)
    started = time.monotonic()
    result = _locustfile(locust_users, target, secrets) if locust_users else \
        _journeys(scenario, target, data_values, headers, secrets)
    result.seconds = time.monotonic() - started
    if result.broken:
        raise RehearsalError(result.broken)
    return result


def _journeys(scenario: Scenario, target: str, data_values: Mapping[str, Sequence[Any]], headers: dict[str, str],
              secrets: list[str]) -> Rehearsal:
    result = Rehearsal()
    hook = EventHook()  # not the run's: nothing the rehearsal sends is measured
    # A sequential source's first values are the load's first visitors': the rehearsal takes the last one.
    sequential = {name for name, src in scenario.data.items()
                  if isinstance(src, CsvSource | RangeSource | ListSource) and src.order == "sequential"}
    pool = DataPool(values={k: (v[-1:] if k in sequential else v) for k, v in data_values.items()},
                    sequential=frozenset(), rng=random.Random(0))
    walker = _Walker(scenario, target, hook, pool, headers, random.Random(0))
    walking: dict[str, Journey] = {}

    def on_request(name: str, exception: BaseException | None = None, response: Any = None, **_: Any) -> None:
        result.requests += 1
        step = walker.current
        if exception is None or step is None or name.startswith("asset: "):
            return  # a page's broken asset is the site's own link, judged in the load
        status = getattr(exception, "status", 0) or getattr(response, "status_code", 0) or 0
        kind = exception.kind if isinstance(exception, RequestFailure) else type(exception).__name__
        journey = walking["journey"]
        number = next(i for i, s in enumerate(journey.steps, 1) if s is step)
        broken = BrokenStep(journey.name, f"step {number} ({step.endpoint})", _what(exception, status, secrets),
                            _fix(kind, status, step.method), at_rest_is_scenario_error(kind, status))
        (result.broken if broken.scenario else result.site_failures).append(broken)

    hook.add_listener(on_request)
    try:
        for journey in scenario.journeys:
            walking["journey"] = journey
            walker.current = None
            walker.visit(journey, sleep=lambda _s: None)
            result.visits += 1
    finally:
        if walker.connections.shared is not None:
            walker.connections.shared.close()
    return result


def _distinct(tasks: list[Any]) -> Iterator[Any]:
    """Each task once (Locust repeats a task in ``tasks`` by its weight)."""
    seen: list[Any] = []
    for task in tasks:
        if not any(task is s for s in seen):
            seen.append(task)
            yield task


def _task_name(task: Any) -> str:
    return str(getattr(task, "__name__", type(task).__name__))


def _locustfile(classes: list[type[User]], target: str, secrets: list[str]) -> Rehearsal:
    result = Rehearsal()
    env = Environment(user_classes=classes, host=target)  # its own events: nothing here is measured
    where = {"class": "", "task": ""}

    def on_request(name: str, exception: BaseException | None = None, response: Any = None,
                   url: str | None = None, **_: Any) -> None:
        result.requests += 1
        if exception is None:
            return
        status = failure_status(exception, response)
        # as the load counts it: a status >= 400, a transport error, the locustfile's own check
        # (catch_response, response.failure) failing an answer below 400 (check_failed), or a request the
        # locustfile built wrong (invalid_request)
        kind = failure_kind(exception, response, url)
        broken = BrokenStep(where["class"], f"task {where['task']} ({name})",
                            f"the site answered {status}" if status >= 400 else
                            _what(RequestFailure(kind, str(exception), status), status, secrets),
                            _fix(kind, status, "this method"), at_rest_is_scenario_error(kind, status))
        (result.broken if broken.scenario else result.site_failures).append(broken)

    env.events.request.add_listener(on_request)

    def raised(exc: BaseException) -> None:
        kind = raised_kind(exc)  # its client refused a request it built wrong, or its own code raised
        # a client raised it: the line of the locustfile that made the request, not the client's own
        frame = _innermost(exc, locustfile_line=kind == kinds.INVALID_REQUEST)
        text = redact_text(str(exc) if kind == kinds.INVALID_REQUEST else f"{type(exc).__name__}: {exc}",
                           secrets)[:200]
        what = (f"the locustfile built a request that could not be sent ({text})" if kind == kinds.INVALID_REQUEST
                else f"it raised {text}")
        result.broken.append(BrokenStep(where["class"], f"task {where['task']}",
                                        f"{what}{f' ({frame})' if frame else ''}", _fix(kind, 0, ""), True))

    def stalled() -> None:
        result.stalled.append(f"locustfile class {where['class']!r}, task {where['task']}: did not finish within "
                              f"{PIECE_S:g} s at rest (it may wait for something only the load starts, such as "
                              "Locust's spawning_complete), so the rehearsal left it")

    def guard(call: Callable[[], Any]) -> bool:
        return _guard(call, raised, stalled)

    def walk(task: Any, parent: User | TaskSet, path: str) -> None:
        if isinstance(task, type) and issubclass(task, TaskSet):
            taskset = task(parent)  # type: ignore[arg-type]  # Locust nests sets under sets too
            where["task"] = f"{path}.{task.__name__}.on_start"
            if not guard(lambda: taskset.on_start()):
                return
            if issubclass(task, MarkovTaskSet):
                # a chain has no task list: its tasks are reached along its transitions, each once
                for name in markov_tour(task):
                    where["task"] = f"{path}.{task.__name__}.{name}"
                    step = getattr(task, name)
                    if not guard(partial(taskset.execute_task, step)):
                        break  # what follows in the chain may depend on this task: one broken step, not a cascade
            for sub in _distinct(list(taskset.tasks)):
                walk(sub, taskset, f"{path}.{task.__name__}")
            where["task"] = f"{path}.{task.__name__}.on_stop"
            guard(lambda: taskset.on_stop())
            return
        where["task"] = f"{path}.{_task_name(task)}"
        if isinstance(parent, TaskSet):
            guard(lambda: parent.execute_task(task))
        else:
            guard(lambda: task(parent))

    for cls in classes:
        cls.host = target
        where["class"] = cls.__name__
        user = cls(env)
        try:
            where["task"] = f"{cls.__name__}.on_start"
            if guard(user.on_start):
                for task in _distinct(list(user.tasks)):
                    walk(task, user, cls.__name__)
                where["task"] = f"{cls.__name__}.on_stop"
                guard(user.on_stop)
            result.visits += 1
        finally:
            _close(user)
    return result


def _guard(call: Callable[[], Any], raised: Callable[[BaseException], None],
           stalled: Callable[[], None] | None = None) -> bool:
    """Run a piece of the locustfile; False when it raised or did not return within ``PIECE_S`` (an
    end-of-visit signal is not an error)."""
    try:
        with gevent.Timeout(PIECE_S):
            call()
    except gevent.Timeout:
        if stalled is not None:
            stalled()
        return False
    except _END_OF_VISIT:
        return True
    except Exception as exc:  # noqa: BLE001 - the user's code: a scenario error, reported in one line
        raised(exc)
        return False
    return True


def _innermost(exc: BaseException, locustfile_line: bool = False) -> str:
    """``file:line`` where the exception was raised (``locustfile_line``: the innermost line of the user's own
    code, outside Locust, loadkit, the standard library and installed packages)."""
    skip = _library_folders() if locustfile_line else ()
    tb, found = exc.__traceback__, None
    while tb is not None:
        if not skip or not os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(skip):
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    return f"{found.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{found.tb_lineno}"


@cache
def _library_folders() -> tuple[str, ...]:
    import locust

    paths = sysconfig.get_paths()
    folders = [paths[name] for name in ("stdlib", "purelib", "platlib")]
    folders += [os.path.dirname(locust.__file__), os.path.dirname(os.path.dirname(__file__))]  # locust, loadkit
    return tuple(os.path.abspath(folder) + os.sep for folder in folders)


__all__ = ["BrokenStep", "Rehearsal", "RehearsalError", "at_rest_is_scenario_error", "rehearse"]
