"""The master/worker protocol: every loadkit message as a typed dataclass, encoded and decoded here only.

Locust carries the messages (``register_message``/``send_message``, msgpack underneath); each message's
``data`` is the dataclass's fields as a plain dict. The exchange, in order (docs/architecture.md):

- worker -> master ``loadkit_hello``: loadkit's handlers are registered, a setup can be read now;
- master -> worker ``loadkit_setup``: the run job (scenario, plan, target, data, headers, locustfile) and
  the worker's share of the plan;
- worker -> master ``loadkit_ready``, or ``loadkit_refused`` with a one-line reason (no load is sent then);
- master -> worker ``loadkit_start``: the run's clock (t0) with the master's current time;
- worker -> master ``loadkit_data`` every 2 s (rows, CPU, visitors in flight), then ``loadkit_done``;
- master -> worker ``loadkit_stop``: end the share now (the run was stopped, or the closed model ended).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from ..scenario import data_from_wire, data_to_wire, parse_scenario
from ..traffic import plan_from_dict, plan_to_dict
from .job import RunInputs, RunJob, Share

__all__ = ["Data", "Done", "Hello", "Message", "Ready", "Refused", "Setup", "Start", "Stop", "decode", "encode",
           "listen", "send"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Message:
    """A loadkit message; ``name`` is what Locust routes it by."""

    name: ClassVar[str] = ""


@dataclass(frozen=True)
class Hello(Message):
    """Worker -> master: loadkit's handlers are registered (Locust lets a worker's messages in while it is
    still connecting, so a setup sent before this could arrive before the worker can read it)."""

    name: ClassVar[str] = "loadkit_hello"


@dataclass(frozen=True)
class Setup(Message):
    """Master -> worker: the run job and this worker's share of it.

    Data sources travel as values (a range as its two bounds); headers are expanded (never written to
    disk); a locustfile travels as its text with the master's path (a worker with the same file there
    imports it in place, so its neighbours import too).
    """

    name: ClassVar[str] = "loadkit_setup"
    scenario: dict[str, Any]
    plan: dict[str, Any]
    target: str
    headers: dict[str, str]
    data: dict[str, dict[str, Any]]
    index: int
    count: int
    master_hostname: str  # a worker on another machine checks the target from there first
    locustfile: str | None = None
    locustfile_name: str | None = None
    locustfile_path: str | None = None

    @classmethod
    def of(cls, job: RunJob, share: Share, master_hostname: str) -> Setup:
        """The setup message for one worker's ``share`` of ``job``."""
        path = job.locustfile
        return cls(scenario=job.scenario.model_dump(mode="json", by_alias=True, exclude_none=True),
                   plan=plan_to_dict(job.plan), target=job.target, headers=job.headers,
                   data=data_to_wire(job.data_values), index=share.index, count=share.count,
                   master_hostname=master_hostname,
                   locustfile=path.read_text(encoding="utf-8") if path else None,
                   locustfile_name=path.name if path else None,
                   locustfile_path=str(path.resolve()) if path else None)

    def job(self, locustfile: Path | None = None) -> RunJob:
        """The worker's run job (no run directory: its master records the data). ``locustfile``: where this
        worker found or wrote the locustfile (``run/worker.py`` ``locustfile_here``)."""
        return RunJob(scenario=parse_scenario(self.scenario, "scenario from the master"),
                      plan=plan_from_dict(self.plan), target=self.target,
                      inputs=RunInputs(data_values=data_from_wire(self.data), headers=dict(self.headers),
                                       locustfile=locustfile),
                      share=Share(self.index, self.count))


@dataclass(frozen=True)
class Ready(Message):
    """Worker -> master: set up, waiting for the start."""

    name: ClassVar[str] = "loadkit_ready"
    index: int


@dataclass(frozen=True)
class Refused(Message):
    """Worker -> master: it cannot take the scenario (the run stops before any load)."""

    name: ClassVar[str] = "loadkit_refused"
    index: int | None
    problem: str
    fix: str | None = None


@dataclass(frozen=True)
class Start(Message):
    """Master -> worker: the run's clock starts at ``t0`` (the master's clock), which read ``master_now``
    when this was sent: the worker derives the offset between the two machines' clocks from it."""

    name: ClassVar[str] = "loadkit_start"
    t0: float
    master_now: float


@dataclass(frozen=True)
class Stop(Message):
    """Master -> worker: end this share now."""

    name: ClassVar[str] = "loadkit_stop"


@dataclass(frozen=True)
class Data(Message):
    """Worker -> master, every 2 s: the rows measured since the last, and the worker's health."""

    name: ClassVar[str] = "loadkit_data"
    metrics: list[Row] = field(default_factory=list)
    arrivals: list[Row] = field(default_factory=list)
    samples: list[Row] = field(default_factory=list)
    scenario_errors: list[Row] = field(default_factory=list)
    journeys: list[Row] = field(default_factory=list)  # visits ended, per second they began and journey
    cpu: float = 0.0
    in_flight: int = 0


@dataclass(frozen=True)
class Done(Message):
    """Worker -> master: its share is over (its last rows were sent before this)."""

    name: ClassVar[str] = "loadkit_done"
    index: int
    load_s: float | None = None
    cut_short: int = 0
    cut_short_at: list[Row] = field(default_factory=list)  # where the cut-short visitors stood (walking.py)
    started: int = 0
    dropped: int = 0
    late: int = 0
    requests: int = 0


M = TypeVar("M", bound=Message)


def encode(message: Message) -> dict[str, Any]:
    """The message's ``data`` for Locust (its fields; nested rows are plain dicts already)."""
    return {f.name: getattr(message, f.name) for f in dataclasses.fields(message)}


def decode(kind: type[M], data: Any) -> M:
    """The typed message from Locust's ``msg.data``; keys this version does not know are ignored, so a
    newer master's extra field does not break an older worker."""
    known = {f.name for f in dataclasses.fields(kind)}
    return kind(**{k: v for k, v in (data or {}).items() if k in known})


def send(runner: Any, message: Message, client_id: str | None = None) -> None:
    """Send ``message`` (to one worker when ``client_id`` is given, from a master)."""
    runner.send_message(message.name, encode(message), client_id=client_id)


def listen(runner: Any, kind: type[M], handler: Callable[[M, str], None]) -> None:
    """Call ``handler(message, node_id)`` for each ``kind`` message that arrives (``node_id``: the sending
    worker's id on a master)."""
    def on_message(environment: Any, msg: Any, **_: Any) -> None:
        handler(decode(kind, msg.data), str(getattr(msg, "node_id", "")))

    runner.register_message(kind.name, on_message)
