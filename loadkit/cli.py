"""The command line: argument parsing, one function per subcommand, exit codes. Nothing else.

Each subcommand calls the same library functions the tests call directly. User errors arrive as
:class:`~loadkit.errors.LoadkitError` and are printed as one line; the exit codes are in
:class:`~loadkit.errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from . import api
from ._version import __version__
from .config import (DEFAULT_MASTER_PORT, Flags, parse_count, parse_host, parse_linger, parse_listen,
                     parse_otlp_url, parse_port, parse_positive, parse_seconds, parse_upload_url, parse_workers)
from .console import out_of_disk_message, print_run_result, verdict_line
from .errors import ExitCode, LoadkitError
from .progress import progress_view
from .units import parse_percent


def _arg(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from one of the config parsers (flags and LOADKIT_* variables parse alike)."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def _nonempty_path(text: str) -> Path:
    """A path argument; an empty one (``--out "$UNSET"``) is an error, not the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a folder")
    return Path(text)


_positive_float = _arg(parse_positive)
_workers = _arg(parse_workers)
_percent = _arg(parse_percent)
_count = _arg(parse_count)
_port = _arg(parse_port)
_seconds = _arg(parse_seconds)
_host = _arg(parse_host)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line with exit code 2 (its own convention too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USAGE, f"loadkit: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser."""
    parser = _Parser(prog="loadkit", description="Will your website survive its viral moment? "
                                                   "Replay it in advance and get a verdict with evidence.")
    parser.add_argument("--version", action="version", version=f"loadkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    _add_run(sub)
    _add_others(sub)
    return parser


def _add_run(sub: Any) -> None:
    """``loadkit run``: every setting of the config layers has its flag here."""
    p = sub.add_parser("run", help="run a scenario and write its reports")
    p.add_argument("scenario", help="scenario file, or the name of a bundled scenario (tv-spot, smoke, ...)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--target", metavar="URL",
                       help="base URL to test (default: the scenario's target, else the demo storefront, which "
                            "in CI needs --demo)")
    where.add_argument("--host", metavar="URL", help="the same as --target (Locust's name for it)")
    where.add_argument("--demo", action="store_true", default=None,
                       help="run against the embedded demo storefront (needed in CI, where CI is set)")
    p.add_argument("--out", type=_nonempty_path, help="run directory (default: reports/<scenario>-<UTC time>)")
    p.add_argument("--workers", type=_workers, default=None,
                   help="start N Locust worker processes here ('auto': one per core); default: load from this "
                        "process")
    p.add_argument("--master", action="store_true", default=None,
                   help="act as a Locust master for workers on other machines (`loadkit worker --master HOST`)")
    p.add_argument("--expect-workers", type=_count, default=None, metavar="N",
                   help="workers in all, local ones included (default: --workers)")
    p.add_argument("--bind", type=_host, default=None, metavar="HOST",
                   help="address the master listens on (default 127.0.0.1; 0.0.0.0 for other machines)")
    p.add_argument("--master-port", type=_port, default=None, metavar="PORT",
                   help=f"port the master listens on (default: {DEFAULT_MASTER_PORT} with --master, else a free one)")
    p.add_argument("--worker-timeout", type=_seconds, default=None, metavar="DURATION",
                   help="longest wait for the workers to connect (default 60s)")
    p.add_argument("--loopback-only", action="store_true", default=None,
                   help="refuse any target or allowed host that is not on this machine")
    p.add_argument("--rate-scale", type=_positive_float, default=None, help="run this fraction of the planned rate")
    p.add_argument("--duration-scale", type=_positive_float, default=None,
                   help="stretch or shrink every duration of the plan")
    p.add_argument("--strict", action="store_true", default=None, help="exit 1 for at-risk too")
    p.add_argument("--quiet", action="store_true", default=None, help="print only the verdict")
    p.add_argument("--baseline", default=None, metavar="RUN_DIR|latest-good",
                   help="compare with this earlier run (or the newest run of the scenario that survived, beside "
                        "the new one); a regression beyond noise exits 1")
    p.add_argument("--skip-rehearsal", action="store_true", default=None,
                   help="send the load without first walking every journey once at rest (then a broken step "
                        "is found only in the results, and check or extraction failures count against the site)")
    p.add_argument("--upload", type=_arg(parse_upload_url), default=None, metavar="URL",
                   help="after the run, PUT report.html, summary.json, junit.xml and summary.md to this URL prefix "
                        "(its query string is kept on each file's URL and never printed); a failed upload does "
                        "not change the exit code")
    p.add_argument("--prometheus", type=_arg(parse_listen), default=None, metavar="[HOST:]PORT",
                   help="serve the run's live figures on a Prometheus scrape endpoint (host default 127.0.0.1)")
    p.add_argument("--prometheus-linger", type=_arg(parse_linger), default=None, metavar="DURATION",
                   help="keep the scrape endpoint up this long after the load, for a last scrape (default 15s)")
    p.add_argument("--otlp", type=_arg(parse_otlp_url), default=None, metavar="URL",
                   help="send the run's live figures to this OTLP/HTTP endpoint (pip install 'loadkit-burst[otlp]')")
    p.set_defaults(func=cmd_run)


def _add_others(sub: Any) -> None:
    """Every other subcommand (one block each)."""
    p = sub.add_parser("worker", help="generate load for a master (`loadkit run ... --master`) on another machine")
    p.add_argument("--master", default=None, metavar="HOST[:PORT]",
                   help=f"the master's address (port {DEFAULT_MASTER_PORT} unless given; default: "
                        "LOADKIT_MASTER_HOST)")
    # a local worker's `loadkit run` process, which it does not outlive (set by `run --workers N`)
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("locustfile-path", help="print the locustfile that makes Locust run a loadkit scenario "
                                               "(locust -f \"$(loadkit locustfile-path)\"; docs/run-at-scale.md)")
    p.set_defaults(func=cmd_locustfile_path)

    p = sub.add_parser("report", help="re-render every report of a run directory from its data; exit with "
                                      "the verdict's code")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--strict", action="store_true", default=None,
                   help="exit 1 for at-risk too (LOADKIT_STRICT)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="compare two runs; exit 1 when the new one regressed beyond noise")
    p.add_argument("base_run_dir", type=Path, metavar="BASE_RUN_DIR")
    p.add_argument("new_run_dir", type=Path, metavar="NEW_RUN_DIR")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="HTML file to write (default: NEW_RUN_DIR/compare.html); .md and .json beside it")
    p.add_argument("--min-change", type=_percent, default=0.10, metavar="PERCENT",
                   help="smallest change in response time or capacity that counts (default 10%%)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("history", help="one page of every run under a folder: trends, verdicts, changes")
    p.add_argument("runs_dir", type=Path, metavar="DIR")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="HTML file to write (default: DIR/history.html); history.json beside it")
    p.add_argument("--compare-last", type=int, default=None, metavar="N",
                   help="compare each scenario's newest N runs with the run before each (default 20)")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("init", help="write a scenario from a browser recording (HAR) or access logs")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--from-har", type=Path, metavar="FILE.har", help="the recording to convert")
    source.add_argument("--from-log", type=Path, nargs="+", metavar="FILE",
                        help="access logs (combined, common, ALB, JSON lines; .gz too) to build journeys, think "
                             "times, the everyday rate and a spike from (docs/scenario-format.md)")
    p.add_argument("--log-format", default="auto", metavar="FORMAT",
                   help="with --from-log: auto, combined, common, alb, nginx-json, caddy, traefik, gcp, "
                        "or json:time=FIELD,url=FIELD,... (default auto)")
    p.add_argument("--spike", default=None, metavar="FROM..TO",
                   help="with --from-log: the spike to fit (HH:MM..HH:MM UTC, or ISO times)")
    p.add_argument("--target", default=None, metavar="URL",
                   help="with --from-log: the site; written into the scenario, and its form fields read (one GET per "
                        "form post)")
    p.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="scenario file to write (default: the recording's name with .yaml)")
    p.add_argument("--name", default=None, help="the scenario's name (default: from the file name)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("plan", help="show a scenario's traffic plan (sends nothing)")
    p.add_argument("scenario")
    p.add_argument("--rate-scale", type=_positive_float, default=None, help="show this fraction of the planned rate")
    p.add_argument("--duration-scale", type=_positive_float, default=None,
                   help="stretch or shrink every duration of the plan")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("calibrate", help="measure how many visitors/s one load process starts for a scenario's "
                                         "journeys on this machine (about 10 s against a local server); "
                                         "`loadkit plan` then states the load processes a plan needs")
    p.add_argument("scenario")
    p.add_argument("--seconds", type=_positive_float, default=api.DEFAULT_CALIBRATION_SECONDS, metavar="N",
                   help="how long to measure (3 to 120; default %(default)g)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("scenarios", help="list the bundled scenarios (run them by name: loadkit run tv-spot)")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("validate", help="check a scenario file")
    p.add_argument("scenario")
    p.add_argument("--target", metavar="URL", help="check the steps' hosts against this target")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("demo-site", help="serve the embedded demo storefront in the foreground")
    from .demo.args import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_demo_site)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, dispatch, map errors to exit codes."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(args.func(args))
    except LoadkitError as err:
        for line in str(err).splitlines():  # one line a problem (a rehearsal names each broken step)
            print(f"loadkit: error: {line}", file=sys.stderr)
        return int(err.exit_code)
    except KeyboardInterrupt:
        print("loadkit: interrupted", file=sys.stderr)
        return int(ExitCode.INCONCLUSIVE)


# --- run -----------------------------------------------------------------------------------------


def _flags(args: argparse.Namespace) -> Flags:
    """The settings given on the command line (None: not given; a lower config layer decides)."""
    given = vars(args)
    return Flags(**{name: given[name] for name in Flags.__dataclass_fields__ if name in given})


def cmd_run(args: argparse.Namespace) -> int:
    """``loadkit run``: run, analyse, judge, render; exit with the verdict's code."""
    settings = api.settings(args.scenario, _flags(args))
    for warning in settings.config.warnings:
        print(f"loadkit: warning: {warning}", file=sys.stderr)
    quiet = settings.config.quiet
    say = _silent if quiet else _say
    progress = None if quiet else progress_view(sys.stderr.isatty())
    say(f"running {settings.scenario.name}: {settings.headline}")
    try:
        result = api.run(settings, api.Listeners(on_status=say, on_progress=progress.update if progress else None),
                         baseline=args.baseline)
    finally:
        if progress:
            progress.close()
    print_run_result(result, quiet)
    # the reports leave the machine (--upload, LOADKIT_TERMINATION_LOG); the verdict's JSON is the last line
    print(api.publish(result, _say), flush=True)
    return result.exit_code


def _silent(_message: str) -> None:
    """Say nothing (``--quiet``)."""


def _say(message: str) -> None:
    """One line of news on stderr."""
    print(f"loadkit: {message}", file=sys.stderr, flush=True)


def cmd_worker(args: argparse.Namespace) -> int:
    """``loadkit worker --master HOST[:PORT]``: generate load for a master until it ends the run."""
    return api.worker(args.master, parent_pid=args.parent_pid)


def cmd_locustfile_path(args: argparse.Namespace) -> int:
    """``loadkit locustfile-path``: where loadkit's Locust entry is (nothing is imported or started)."""
    print(api.locustfile_path())
    return ExitCode.SURVIVES


# --- other subcommands ---------------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    """``loadkit report RUN_DIR``: rebuild every report from the data files alone."""
    result = api.report(args.run_dir, strict=args.strict)
    rendered = result.rendered
    print(verdict_line(rendered.verdict))
    for path in rendered.files:
        print(f"wrote {path}")
    if rendered.missing:
        print(f"loadkit: error: {out_of_disk_message(args.run_dir, rendered.missing)}", file=sys.stderr)
    return result.exit_code


def cmd_compare(args: argparse.Namespace) -> int:
    """``loadkit compare BASE NEW``: per endpoint and overall changes, judged against the runs' noise."""
    from .report.comparison import headline

    result = api.compare(args.base_run_dir, args.new_run_dir, out=args.out, min_change=args.min_change)
    print(headline(result.comparison))
    for change in result.comparison.regressions:
        print(f"  regression: {change.metric} of {change.endpoint}: {change.base:.4g} -> {change.new:.4g}")
    print(f"wrote {result.html_path} (and .md, .json)")
    return result.exit_code


def cmd_history(args: argparse.Namespace) -> int:
    """``loadkit history DIR``: every run under DIR, per scenario, with the changes between runs."""
    result = api.history(args.runs_dir, out=args.out, compare_last=args.compare_last)
    for scenario in result.history.scenarios:
        last = scenario.runs[-1]
        change = f", {last.change} against the run before" if last.change else ""
        print(f"{scenario.name}: {len(scenario.runs)} runs; latest {last.verdict} ({last.started_at}){change}")
    for note in result.history.notes:
        print(f"note: {note}")
    print(f"wrote {result.out} (and history.json)")
    return ExitCode.SURVIVES


def cmd_init(args: argparse.Namespace) -> int:
    """``loadkit init --from-har FILE`` or ``--from-log FILE...``: a scenario from a browser recording (sends
    nothing) or from access logs (sends one GET per form post, only with ``--target``)."""
    if args.from_log:
        out = api.init_from_logs(api.LogImport(files=tuple(args.from_log), log_format=args.log_format,
                                               spike=args.spike, target=args.target), out=args.out, name=args.name)
    else:
        out = api.init_from_har(args.from_har, out=args.out, name=args.name)
    print(f"wrote {out}: review the traffic section, then `loadkit run {out}`")
    return ExitCode.SURVIVES


def cmd_plan(args: argparse.Namespace) -> int:
    """``loadkit plan``: print the traffic plan; sends nothing."""
    view = api.plan(args.scenario, _flags(args))
    if args.json:
        print(json.dumps(view.to_dict(), indent=2))
    else:
        for line in view.lines:
            print(line)
    return ExitCode.SURVIVES


def cmd_calibrate(args: argparse.Namespace) -> int:
    """``loadkit calibrate``: measure one load process's rate for the scenario's journeys here; save it."""
    result = api.calibrate(args.scenario, args.seconds, on_status=_say)
    for line in result.lines:
        print(line)
    return ExitCode.SURVIVES


def cmd_scenarios(args: argparse.Namespace) -> int:
    """``loadkit scenarios``: the bundled scenarios, their length and what they replay."""
    found = api.scenarios()
    width = max((len(s.name) for s in found), default=0)
    for listing in found:
        print(f"{listing.name:<{width}}  {listing.length:>6}  {listing.description}")
    if found:
        print(f"\nfiles: {found[0].path.parent} (copy one to start your own; data paths are relative to it)")
    return ExitCode.SURVIVES


def cmd_validate(args: argparse.Namespace) -> int:
    """``loadkit validate``: load the scenario and its data; print a one-line summary."""
    print(api.validate(args.scenario, _flags(args)).line)
    return ExitCode.SURVIVES


def cmd_schema(args: argparse.Namespace) -> int:
    """``loadkit schema``: the scenario format's JSON Schema."""
    print(json.dumps(api.schema(), indent=2))
    return ExitCode.SURVIVES


def cmd_demo_site(args: argparse.Namespace) -> int:
    """``loadkit demo-site``: serve the demo storefront until Ctrl-C."""
    from .demo.args import config_from_args
    from .errors import UsageError

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc) + ".", "see `loadkit demo-site --help`") from None

    def announce(url: str) -> None:
        print(f"loadkit demo storefront listening on {url} (capacity: {config.slots} slots; Ctrl-C stops it)",
              flush=True)

    api.demo_site(config, args.host, args.port, announce)
    return ExitCode.SURVIVES
