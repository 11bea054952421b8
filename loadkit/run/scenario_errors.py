"""Scenario errors during the load: counted apart from the measured requests, with capped samples.

A request the site answered 404 or 405 asked for a page or a method the site does not have: the scenario's
mistake (a wrong path, a data value naming a missing product), not a failure caused by load. An exception
raised by a locustfile's own code is the locustfile's, and so is a request it built wrong (no host or scheme,
a malformed URL or header: ``invalid_request``, whether its client reported it or raised it). None is a
measured request of the site: all go here, never into ``metrics.jsonl``, and so never into the error rate,
the latency figures or the SLOs (the rule is in docs/verdict.md; the analysis side is :mod:`loadkit.scenario_errors`).
"""

from __future__ import annotations

import os
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from .. import failures as kinds
from ..redaction import redact_text, redact_url, scrub
from ..scenario_errors import LOCUSTFILE_EXCEPTION, SCENARIO_STATUSES
from .kinds import failure_kind, failure_status, request_mistake

MAX_SAMPLES_PER_KIND = 5  # as for the site's failures (recorder.py)
MAX_SAMPLE_KINDS = 200
BODY_SNIPPET = 300
TRACEBACK_FRAMES = 12  # the innermost frames kept in a sample's traceback
TRACEBACK_CHARS = 4000
ASSET_PREFIX = "asset: "  # a page's assets are the site's own links, not the scenario's steps
# host_not_allowed: a step's URL built from values led off the target and its allowed hosts (never sent);
# invalid_request: a locustfile's request that could not be built (never sent)
_SCENARIO_KINDS = frozenset({*(f"http_{status}" for status in SCENARIO_STATUSES), kinds.HOST_NOT_ALLOWED,
                             kinds.INVALID_REQUEST})
_LOADKIT = str(Path(__file__).resolve().parents[1]) + os.sep


def is_scenario_kind(name: str, kind: str) -> bool:
    """Whether a failed request of failure kind ``kind`` (``run/kinds.py``) is a scenario error: the site
    answered 404 or 405 to one of the scenario's own requests (a page's assets excepted), or the request was
    never sent (a host not allowed, a locustfile's request that could not be built)."""
    return kind in _SCENARIO_KINDS and not name.startswith(ASSET_PREFIX)


def is_scenario_status(name: str, exception: BaseException, response: Any, url: str | None = None) -> bool:
    """Whether a failed request is a scenario error (:func:`is_scenario_kind` of its kind, read as
    ``run/kinds.py`` reads it for loadkit's visitors and a locustfile's clients alike)."""
    return is_scenario_kind(name, failure_kind(exception, response, url))


def raised_kind(exception: BaseException) -> str:
    """The scenario error a locustfile's raised exception is: ``invalid_request`` when its client refused to
    build the request (requests raises those, and geventhttpclient its ValueErrors), else
    ``locustfile_exception``."""
    return kinds.INVALID_REQUEST if request_mistake(exception) else LOCUSTFILE_EXCEPTION


def user_code(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the outermost frame of the user's own code (outside Locust and loadkit) on; None
    when no frame is the user's."""
    import locust

    skip = (_LOADKIT, str(Path(locust.__file__).resolve().parent) + os.sep)
    while tb is not None:
        if not str(Path(tb.tb_frame.f_code.co_filename).resolve()).startswith(skip):
            return tb
        tb = tb.tb_next
    return None


def task_name(user_instance: Any, tb: TracebackType | None) -> str:
    """``Class.function`` of the locustfile code that raised: the outermost frame outside Locust and loadkit."""
    own = user_code(tb)
    name = own.tb_frame.f_code.co_name if own is not None else None
    owner = getattr(user_instance, "user", None) if not _is_user(user_instance) else user_instance
    owner_name = type(owner if owner is not None else user_instance).__name__
    return f"{owner_name}.{name}" if name else owner_name


def _is_user(obj: Any) -> bool:
    from locust import User

    return isinstance(obj, User)


def format_traceback(exception: BaseException, tb: TracebackType | None, secrets: list[str]) -> str:
    """The innermost frames of a traceback as text, URLs and known secrets redacted."""
    lines = traceback.format_exception(type(exception), exception, user_code(tb) or tb,
                                       limit=TRACEBACK_FRAMES)
    text = redact_text("".join(lines), secrets)
    return text if len(text) <= TRACEBACK_CHARS else "...\n" + text[-TRACEBACK_CHARS:]


class ScenarioErrors:
    """Counts per (second, endpoint, method, kind) and up to a few samples per (endpoint, kind)."""

    def __init__(self, secrets: Callable[[], list[str]]) -> None:
        self._secrets = secrets
        self._counts: Counter[tuple[int, str, str, str]] = Counter()
        self._samples: dict[tuple[int, str, str, str], list[dict[str, Any]]] = {}
        self._sampled: Counter[tuple[str, str]] = Counter()
        self.total = 0

    def request(self, sec: int, name: str, method: str, kind: str, exception: BaseException, response: Any,
                url: str | None, ms: float) -> None:
        """A request of the scenario that failed with a scenario error of ``kind`` (:func:`is_scenario_kind`)."""
        status = failure_status(exception, response)
        detail = getattr(exception, "detail", None)
        self._add(sec, name, method, kind, lambda: {
            "status": status, "url": scrub(redact_url(url or ""), self._secrets()),
            "detail": scrub(str(detail if detail is not None else exception), self._secrets())[:BODY_SNIPPET],
            "ms": round(ms, 3)})

    def exception(self, sec: int, user_instance: Any, exception: BaseException, tb: TracebackType | None) -> None:
        """A locustfile's code raised ``exception`` (a request it built wrong among them: :func:`raised_kind`)."""
        kind = raised_kind(exception)
        # the message says what was wrong; the exception's class is the traceback's to show
        said = str(exception) if kind == kinds.INVALID_REQUEST else f"{type(exception).__name__}: {exception}"
        self._add(sec, task_name(user_instance, tb), "task", kind, lambda: {
            "status": 0, "url": "",
            "detail": redact_text(said, self._secrets())[:BODY_SNIPPET],
            "traceback": format_traceback(exception, tb, self._secrets())})

    def _add(self, sec: int, name: str, method: str, kind: str, sample: Callable[[], dict[str, Any]]) -> None:
        key = (sec, name, method, kind)
        self._counts[key] += 1
        self.total += 1
        pair = (name, kind)
        if self._sampled[pair] < MAX_SAMPLES_PER_KIND and (pair in self._sampled or
                                                            len(self._sampled) < MAX_SAMPLE_KINDS):
            self._sampled[pair] += 1
            self._samples.setdefault(key, []).append({"t": sec, **sample()})

    def flush(self) -> list[dict[str, Any]]:
        """Rows since the last flush: ``{t, endpoint, method, kind, count[, samples]}``."""
        counts, self._counts = self._counts, Counter()
        samples, self._samples = self._samples, {}
        rows = []
        for (sec, name, method, kind), count in sorted(counts.items()):
            row: dict[str, Any] = {"t": sec, "endpoint": name, "method": method, "kind": kind, "count": count}
            if (sec, name, method, kind) in samples:
                row["samples"] = samples[(sec, name, method, kind)]
            rows.append(row)
        return rows
