"""The run job: everything the run stage needs, in one frozen object.

The caller (``loadkit.api``) decides the target (it starts the demo storefront when there is none), the run
directory, the distribution and the options; the run stage reads the scenario's data and headers
(:func:`loadkit.run.read_inputs`), and adds the locustfile's user classes once Locust may be imported. A
worker builds its job from the master's setup message (``run/protocol.py``), with its share of the plan.

This module imports neither locust nor gevent: the public API builds jobs before the run stage starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..scenario import Scenario
from ..traffic import Plan
from .export import ExportSettings

if TYPE_CHECKING:
    from .outcome import Progress

__all__ = ["Distribution", "RunInputs", "RunJob", "RunOptions", "Share"]


@dataclass(frozen=True)
class Distribution:
    """Where the load comes from: this process, local worker processes, and/or remote workers."""

    local_workers: int = 0  # worker processes to start on this machine (0: load from this process)
    expect_workers: int = 0  # workers in all (local ones included); more than local: wait for remote ones
    bind_host: str = "127.0.0.1"  # where the Locust master listens
    bind_port: int = 0  # 0: a free port
    worker_timeout: float = 60.0  # longest wait for the workers to connect
    # A Locust master runner to run on instead of making one (``locust -f`` loadkit's entry: run/plugin.py);
    # typed loosely so this module stays free of locust.
    runner: Any = None
    hello: set[str] | None = None  # with ``runner``: the workers that said hello to it before the run began

    @property
    def distributed(self) -> bool:
        """True when the load comes from Locust workers rather than this process."""
        return self.expect_workers > 0


@dataclass(frozen=True)
class Share:
    """Which part of the plan a load process carries: arrivals ``k`` with ``k % count == index``."""

    index: int = 0
    count: int = 1


@dataclass(frozen=True)
class RunOptions:
    """How the run goes, beyond what it sends."""

    rehearse: bool = True  # walk every journey once at rest before the load (run/rehearsal.py)
    demo: bool = False  # the target is the embedded demo storefront, started by the caller (run.json says so)
    config: Mapping[str, object] | None = None  # the resolved settings, recorded as config.json
    loopback_only: bool = False  # every host a step can reach must be this machine (LOADKIT_LOOPBACK_ONLY)
    export: ExportSettings = field(default_factory=ExportSettings)  # live figures out (docs/observability.md)


@dataclass(frozen=True)
class RunInputs:
    """What the scenario brings besides itself, read and checked before anything starts."""

    data_values: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # ${ENV} expanded: in memory only
    locustfile: Path | None = None  # the scenario's locustfile, resolved against the scenario's folder


def _silent(_message: str) -> None:
    """The default status listener: say nothing."""


@dataclass(frozen=True)
class RunJob:
    """One run: what to send, where to, from where, and where to record it."""

    scenario: Scenario
    plan: Plan
    target: str  # the base URL every step is relative to (the caller started the demo storefront, if any)
    run_dir: Path | None = None  # where the data go; None on a worker (its master writes them)
    inputs: RunInputs = field(default_factory=RunInputs)
    # The locustfile's classes (locust ``User`` subclasses), loaded by the run stage once locust may be
    # imported; typed loosely so this module stays free of locust.
    user_classes: tuple[type[Any], ...] = ()
    distribution: Distribution = field(default_factory=Distribution)
    share: Share = field(default_factory=Share)
    options: RunOptions = field(default_factory=RunOptions)
    on_status: Callable[[str], None] = _silent  # one line of news for the person running it
    on_progress: Callable[[Progress], None] | None = None  # once a second while the load runs

    @property
    def data_values(self) -> Mapping[str, Sequence[Any]]:
        """Each data source as a sequence to draw from."""
        return self.inputs.data_values

    @property
    def headers(self) -> dict[str, str]:
        """The scenario's headers, ${ENV} expanded."""
        return dict(self.inputs.headers)

    @property
    def locustfile(self) -> Path | None:
        """The scenario's locustfile, if it has one."""
        return self.inputs.locustfile

    @property
    def out(self) -> Path:
        """The run directory (a job that records data has one)."""
        if self.run_dir is None:
            raise ValueError("this run job has no run directory (a worker's job records nothing itself)")
        return self.run_dir

    @property
    def closed_model(self) -> bool:
        """Looping users (``model: users``) rather than arrivals."""
        return self.plan.model == "users"
