"""loadkit as a Locust plugin: ``locust -f $(loadkit locustfile-path) ...`` runs a loadkit scenario.

Locust's own command line decides the process's role (``--master``/``--worker``/``--master-host``/
``--expect-workers``/``LOCUST_*`` keep their meaning) and creates the runner; loadkit attaches to it in
Locust's ``init`` event and runs exactly what ``loadkit run`` runs (``loadkit.api``): the same plan,
measurement, verdict and reports, on Locust's runner instead of one of its own.

- master (``--master``): the scenario (``LOADKIT_SCENARIO`` or ``--loadkit-scenario``) and the settings
  (``--host``, ``LOADKIT_*``, the ``--loadkit-*`` options) go through the config layers; the run (the
  master of ``run/master.py`` on Locust's runner) starts in its own greenlet at once, writes the run
  directory and every report, and the process's exit code is the verdict's (``process_exit_code``).
- worker (``--worker``): the worker of ``run/worker.py`` on Locust's runner; the master sends it everything.
- neither: the whole run in this process, as ``loadkit run`` without workers.

Locust must not start users of its own: :class:`LoadkitPlan`, the entry's load shape, holds Locust's
automatic start (``--headless``, ``--autostart``) until loadkit's run ends (or, for a closed-model
scenario, follows the plan's levels once loadkit starts them). Locust's ``quitting`` waits for loadkit's
reports, so the process never leaves before they are written.
"""

from __future__ import annotations

import logging
import sys
from argparse import ArgumentTypeError
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from locust import LoadTestShape, events
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.runners import MasterRunner, Runner, WorkerRunner

from ..errors import ExitCode, LoadkitError, UsageError
from .protocol import Hello, listen

__all__ = ["LoadkitPlan"]

log = logging.getLogger("loadkit.plugin")


def _import_httpx() -> None:
    """Import httpx (the preflight's client) in a process gevent has patched. Its transport, httpcore,
    imports trio when trio is installed, and trio needs ``select.epoll``, which gevent's monkey-patching
    (done by ``import locust``, before Locust imports the entry) removes. While httpx loads, trio counts
    as not installed, which httpcore allows."""
    if "httpcore" in sys.modules:
        return
    hide = "trio" not in sys.modules
    if hide:
        sys.modules["trio"] = None  # type: ignore[assignment]  # `import trio` raises ImportError meanwhile
    try:
        import httpcore  # noqa: F401  # httpx imports it when its first client is made
    finally:
        if hide:
            del sys.modules["trio"]


_import_httpx()
REPORTS_WAIT_S = 600.0  # longest wait, once Locust quits, for loadkit's reports and uploads
SHAPE_POLL_S = 0.2


@dataclass
class _State:
    """This process's part in the run (one run per process, as under ``locust``)."""

    finished: Event = field(default_factory=Event)  # loadkit's run (and reports) ended
    hello: set[str] = field(default_factory=set)  # workers that said hello (heard from Locust's start on)
    exit_code: int | None = None
    env: Environment | None = None
    on_quit: list[Callable[[], None]] = field(default_factory=list)


_state = _State()


def _positive(text: str) -> float:
    """A scale, parsed as ``loadkit run``'s flags and ``LOADKIT_*`` are: 0 or less is a usage error."""
    from ..config import parse_positive

    try:
        return parse_positive(text)
    except ValueError as exc:
        raise ArgumentTypeError(str(exc)) from None


def _nonempty(text: str) -> str:
    """A folder; empty (``--loadkit-out "$UNSET"``) is a usage error, never "not given" (docs/ci.md)."""
    if not text.strip():
        raise ArgumentTypeError("is empty: give a folder")
    return text


def _add_options(parser: LocustArgumentParser, **_: Any) -> None:
    """loadkit's settings as Locust options (each also a ``LOADKIT_*`` variable, read by the config layers)."""
    group = parser.add_argument_group("loadkit", "loadkit's settings (each also a LOADKIT_* environment variable)")
    group.add_argument("--loadkit-scenario", metavar="SCENARIO", default=None,
                       help="the scenario file, or a bundled scenario's name (LOADKIT_SCENARIO)")
    group.add_argument("--loadkit-out", metavar="DIR", default=None, type=_nonempty,
                       help="run directory (LOADKIT_OUT; default reports/<scenario>-<UTC time>)")
    group.add_argument("--loadkit-rate-scale", type=_positive, default=None, metavar="F",
                       help="run this fraction of the planned rate (LOADKIT_RATE_SCALE)")
    group.add_argument("--loadkit-duration-scale", type=_positive, default=None, metavar="F",
                       help="stretch or shrink every duration of the plan (LOADKIT_DURATION_SCALE)")
    group.add_argument("--loadkit-strict", action="store_true", default=None,
                       help="exit 1 for at-risk too (LOADKIT_STRICT)")
    group.add_argument("--loadkit-skip-rehearsal", action="store_true", default=None,
                       help="send the load without walking every journey once at rest first (LOADKIT_SKIP_REHEARSAL)")
    group.add_argument("--loadkit-upload", metavar="URL", default=None,
                       help="PUT the reports to this URL prefix after the run (LOADKIT_UPLOAD_URL)")


class LoadkitPlan(LoadTestShape):
    """The entry's load shape: Locust's automatic start runs this, and it starts nothing. It waits until
    loadkit's run ends (then the test stops), or until loadkit puts the plan's own shape in its place (a
    closed-model scenario: Locust's runner then follows the plan's levels, as under ``loadkit run``)."""

    abstract = False

    def tick(self) -> tuple[int, float] | tuple[int, float, list[Any] | None] | None:
        """None once loadkit's run is over; the plan's levels while a closed-model plan runs."""
        env = _state.env
        while not _state.finished.is_set():
            current = env.shape_class if env is not None else None
            if current is not None and current is not self:
                if not getattr(current, "_loadkit_started", False):
                    current.reset_time()  # the plan's clock starts with its load, not with Locust
                    current._loadkit_started = True  # type: ignore[attr-defined]
                return current.tick()
            gevent.sleep(SHAPE_POLL_S)
        return None


def _on_init(environment: Environment, runner: Runner | None = None, web_ui: Any = None, **_: Any) -> None:
    if getattr(environment, "_loadkit_init_fired", False):
        return  # the init event a loadkit run fires on its own Environment (run/locustfile.py), not Locust's
    _state.env = environment
    # Locust fires these two on its Environment itself: loadkit's run must not fire them again
    environment._loadkit_init_fired = True  # type: ignore[attr-defined]
    environment._loadkit_quitting_fired = True  # type: ignore[attr-defined]
    if isinstance(runner, WorkerRunner):
        _attach_worker(environment, runner)
    else:
        if isinstance(runner, MasterRunner):
            # Workers say hello as soon as they connect, long before loadkit's master listens (after its
            # preflight and rehearsal): heard from now on, into the set that master then uses.
            listen(runner, Hello, lambda _message, node: _state.hello.add(node))
        main = gevent.getcurrent()  # Locust's main: told to leave if the run fails before it could start
        gevent.spawn(_run_master, environment, runner if isinstance(runner, MasterRunner) else None, web_ui, main)


def _on_quitting(environment: Environment, **_: Any) -> None:
    """Locust is leaving: wait for loadkit's reports, then give Locust the verdict's exit code."""
    if environment is not _state.env:
        return
    for hook in _state.on_quit:
        hook()
    if not _state.finished.wait(REPORTS_WAIT_S):
        print("loadkit: error: the reports were not written in time; the run is inconclusive.", file=sys.stderr)
        _state.exit_code = ExitCode.INCONCLUSIVE
    if _state.exit_code is not None:
        environment.process_exit_code = int(_state.exit_code)


def _say(message: str) -> None:
    print(f"loadkit: {message}", file=sys.stderr, flush=True)


def _flags(options: Any) -> Any:
    from ..config import Flags

    upload = getattr(options, "loadkit_upload", None)
    if upload is not None:
        from ..config import parse_upload_url

        try:
            upload = parse_upload_url(upload)
        except ValueError as exc:
            raise UsageError(f"--loadkit-upload: {exc}.", "give an http:// or https:// URL prefix") from None
    out = getattr(options, "loadkit_out", None)
    host = getattr(options, "host", None) if _host_on_command_line(sys.argv[1:]) else None
    return Flags(host=host, out=Path(out) if out else None,
                 rate_scale=getattr(options, "loadkit_rate_scale", None),
                 duration_scale=getattr(options, "loadkit_duration_scale", None),
                 strict=getattr(options, "loadkit_strict", None),
                 skip_rehearsal=getattr(options, "loadkit_skip_rehearsal", None), upload=upload)


def _host_on_command_line(argv: list[str]) -> bool:
    """Whether ``--host``/``-H`` is on Locust's command line: only then is Locust's host a flag. Locust also
    fills it from ``LOCUST_HOST`` and its config files, which are lower layers for loadkit."""
    for arg in argv:
        if arg == "--":
            break
        name = arg.split("=", 1)[0]
        if (len(name) >= 4 and "--host".startswith(name)) or arg.startswith("-H"):  # argparse takes --ho
            return True
    return False


def _locust_file_host(options: Any, argv: list[str], environ: Mapping[str, str]) -> list[Any]:
    """Locust's host when Locust took it from a config file and it is not the one loadkit reads in the
    working folder: a ``--config`` file (which Locust ranks above ``locust.conf`` and ``pyproject.toml``)
    or ``~/.locust.conf`` (below them: then they have none). For the config layers' Locust-file layer,
    above the working folder's files (``api.settings``), so the file Locust chose is the one used."""
    from ..config import LocustSetting, read_locust_settings

    host = getattr(options, "host", None)
    if not host or _host_on_command_line(argv) or "LOCUST_HOST" in environ:
        return []  # not from a file: the flag and LOCUST_HOST layers have it
    own = [s.value for s in read_locust_settings(Path.cwd(), environ) if s.key == "host" and s.source != "environment"]
    if own and own[-1].strip() == str(host).strip():
        return []  # the working folder's file, which loadkit reads itself
    # name "host": the key the target's layers look for; the source's first word is config.json's layer
    return [LocustSetting("locust.conf (read by Locust: --config or ~/.locust.conf)", "host", str(host))]


def _scenario(options: Any) -> str:
    import os

    spec = getattr(options, "loadkit_scenario", None) or os.environ.get("LOADKIT_SCENARIO", "").strip()
    if not spec:
        raise UsageError("no scenario for loadkit's Locust entry.",
                         "set LOADKIT_SCENARIO (a scenario file, or a bundled name like tv-spot) or pass "
                         "--loadkit-scenario")
    return str(spec)


def _run_master(environment: Environment, runner: MasterRunner | None, web_ui: Any, main: Any) -> None:
    """The whole run, as ``loadkit run`` runs it, on Locust's master runner (or in this process)."""
    from .. import api
    from ..console import print_run_result
    from ..progress import progress_view
    from . import Distribution

    code: int = ExitCode.INCONCLUSIVE
    started = False
    try:
        options = environment.parsed_options
        import os

        settings = api.settings(_scenario(options), _flags(options),
                                locust=_locust_file_host(options, sys.argv[1:], os.environ))
        distribution = None
        if runner is not None:
            wait = float(getattr(options, "expect_workers_max_wait", 0) or 0) or settings.config.worker_timeout
            distribution = Distribution(expect_workers=max(1, int(getattr(options, "expect_workers", 1) or 1)),
                                        worker_timeout=wait, runner=runner, hello=_state.hello)
        quiet = settings.config.quiet
        say = (lambda _m: None) if quiet else _say
        progress = None if quiet else progress_view(sys.stderr.isatty())
        say(f"running {settings.scenario.name} through Locust: {settings.headline}")
        with ExitStack() as stack:
            if progress is not None:
                stack.callback(progress.close)
            result = api.run(settings, api.Listeners(on_status=say,
                                                     on_progress=progress.update if progress else None),
                             distribution=distribution)
        started = True
        print_run_result(result, quiet)
        code = int(result.exit_code)
        print(api.publish(result, _say), flush=True)
    except LoadkitError as err:
        for line in str(err).splitlines():
            print(f"loadkit: error: {line}", file=sys.stderr, flush=True)
        code = int(err.exit_code)
    except Exception:  # a fault of loadkit: said, and the run inconclusive, never a hang
        log.exception("loadkit's run failed")
        code = ExitCode.INCONCLUSIVE
    finally:
        _state.exit_code = code
        environment.process_exit_code = code
        _state.finished.set()
        if runner is not None:
            runner.quit()  # the workers leave; Locust's main goes on to quit
        if web_ui is not None and not getattr(environment.parsed_options, "autostart", False):
            web_ui.stop()  # nothing else would end a web UI run
    if not started and main is not None and not main.dead:
        # Locust's main may still wait for workers that never came: it leaves now, with this exit code
        gevent.get_hub().loop.run_callback(main.throw, SystemExit(code))


def _attach_worker(environment: Environment, runner: WorkerRunner) -> None:
    """``loadkit worker`` on Locust's worker runner: its master sends the scenario, plan and data."""
    from .process import burst_tolerant_gc
    from .worker import Worker

    worker = Worker(runner.master_host, runner.master_port, None, runner=runner)
    stack = ExitStack()
    stack.enter_context(burst_tolerant_gc())
    watchers = worker.begin()

    def leave() -> None:
        try:
            _state.exit_code = worker.finish(watchers)
        except LoadkitError as err:
            print(f"loadkit: error: {err}", file=sys.stderr, flush=True)
            _state.exit_code = int(err.exit_code)
        finally:
            stack.close()
            _state.finished.set()

    _state.on_quit.append(leave)


# Registered once, when Locust imports the entry (or anything imports this module)
events.init_command_line_parser.add_listener(_add_options)
events.init.add_listener(_on_init)
events.quitting.add_listener(_on_quitting)
