"""The command line: argument parsing, one function per subcommand, exit codes. Nothing else.

Each subcommand calls the same library functions the tests call directly. User errors arrive as
:class:`~loadkit.errors.LoadkitError` and are printed as one line; the exit codes are in
:class:`~loadkit.errors.ExitCode`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import DEFAULT_MASTER_PORT
from .config import SETTINGS as CONFIG_SETTINGS
from .config import parse_positive, parse_upload_url, parse_workers, read_locust_settings
from .progress import progress_view
from .config import resolve as resolve_config
from .errors import ExitCode, LoadkitError, OutputError, UsageError
from .scenario import Scenario, json_schema, load_scenario, mean_visit_seconds, scenario_base_dir
from .traffic import Plan, build_plan
from .units import format_clock, format_duration, parse_percent

if TYPE_CHECKING:
    from .verdict import Verdict


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
    p.add_argument("--master", action="store_true",
                   help="act as a Locust master for workers on other machines (`loadkit worker --master HOST`)")
    p.add_argument("--expect-workers", type=int, default=None, metavar="N",
                   help="workers in all, local ones included (default: --workers)")
    p.add_argument("--bind", default="127.0.0.1", metavar="HOST",
                   help="address the master listens on (default 127.0.0.1; 0.0.0.0 for other machines)")
    p.add_argument("--master-port", type=int, default=None, metavar="PORT",
                   help=f"port the master listens on (default: {DEFAULT_MASTER_PORT} with --master, else a free one)")
    p.add_argument("--worker-timeout", default="60s", metavar="DURATION",
                   help="longest wait for the workers to connect (default 60s)")
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
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("worker", help="generate load for a master (`loadkit run ... --master`) on another machine")
    p.add_argument("--master", required=True, metavar="HOST[:PORT]",
                   help=f"the master's address (port {DEFAULT_MASTER_PORT} unless given)")
    # a local worker's `loadkit run` process, which it does not outlive (set by `run --workers N`)
    p.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_worker)

    p = sub.add_parser("report", help="re-render every report of a run directory from its data; exit with "
                                      "the verdict's code")
    p.add_argument("run_dir", type=Path)
    p.add_argument("--strict", action="store_true", help="exit 1 for at-risk too")
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
    p.add_argument("--rate-scale", type=_positive_float, default=1.0)
    p.add_argument("--duration-scale", type=_positive_float, default=1.0)
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("scenarios", help="list the bundled scenarios (run them by name: loadkit run tv-spot)")
    p.set_defaults(func=cmd_scenarios)

    p = sub.add_parser("validate", help="check a scenario file")
    p.add_argument("scenario")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("schema", help="print the JSON Schema of scenario files")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("demo-site", help="serve the embedded demo storefront in the foreground")
    from .demo.args import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_demo_site)
    return parser


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


def _load(spec: str, rate_scale: float, duration_scale: float) -> tuple[Scenario, Plan]:
    scenario = load_scenario(spec)
    return scenario, build_plan(scenario, rate_scale=rate_scale, duration_scale=duration_scale)


def default_run_dir(scenario: Scenario, now: datetime | None = None) -> Path:
    """``reports/<scenario>-<UTC yyyymmdd-HHMMSS>``."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return Path("reports") / f"{scenario.name}-{stamp}"


def cmd_run(args: argparse.Namespace) -> int:
    """``loadkit run``: run, analyse, judge, render; exit with the verdict's code."""
    from .baseline import find_baseline, gate
    from .publish import publish_run
    from .report import render_run_dir
    from .run import run_scenario

    scenario = load_scenario(args.scenario)
    flags = {name: getattr(args, name) for name in (*CONFIG_SETTINGS, "host", "demo")}
    config = resolve_config(flags, os.environ, scenario, read_locust_settings(Path.cwd(), os.environ))
    for warning in config.warnings:
        print(f"loadkit: warning: {warning}", file=sys.stderr)
    args.workers = config.workers
    distribution = _distribution(args)
    plan = build_plan(scenario, rate_scale=config.rate_scale, duration_scale=config.duration_scale)
    run_dir = config.out or default_run_dir(scenario)
    # the baseline is found before any load: a mistyped one is a usage error, not a wasted run
    baseline = find_baseline(args.baseline, scenario.name, run_dir.parent) if args.baseline else None
    quiet = config.quiet
    say = (lambda _m: None) if quiet else (lambda m: print(f"loadkit: {m}", file=sys.stderr, flush=True))
    progress = None if quiet else progress_view(sys.stderr.isatty())
    say(f"running {scenario.name}: {plan_headline(plan)}")
    try:
        outcome = run_scenario(scenario, plan, run_dir, scenario_base_dir(args.scenario), target=config.target,
                               on_progress=progress.update if progress else None, on_status=say,
                               distribution=distribution, config=config.recorded(),
                               rehearse=not config.skip_rehearsal)
    finally:
        if progress:
            progress.close()
    comparison = gate(baseline, run_dir) if baseline is not None and not outcome.interrupted else None
    rendered = render_run_dir(run_dir)
    verdict = rendered.verdict
    print(_verdict_line(verdict))
    if not quiet:
        for reason in verdict.reasons:
            print(f"  - {reason}")
        for line in scenario_error_lines(rendered.analysis.scenario_errors):
            print(line)
        if "report.html" not in rendered.missing:
            print(f"report: {run_dir / 'report.html'}")
    if comparison is not None:
        print(f"baseline {baseline}: " + ("regression beyond noise: " + ", ".join(
            f"{c.metric} of {c.endpoint}" for c in comparison.regressions) if comparison.regressions else
            "no regression beyond noise"))
    publish_job_summary(rendered.model, os.environ)
    if rendered.missing or outcome.disk_full:
        print(f"loadkit: error: {out_of_disk_message(run_dir, rendered.missing, outcome.disk_full)}", file=sys.stderr)
        code = ExitCode.OUT_OF_DISK
    else:
        code = verdict_exit_code(verdict.verdict, strict=config.strict, interrupted=outcome.interrupted)
        if code == ExitCode.SURVIVES and comparison is not None and comparison.regressions:
            code = ExitCode.FAILS  # the site held its service levels but got worse than its baseline
    # the reports leave the machine (--upload, LOADKIT_TERMINATION_LOG); the verdict's JSON is the last line
    print(publish_run(run_dir, rendered.model.summary(), code, config.upload, os.environ,
                      lambda line: print(f"loadkit: {line}", file=sys.stderr, flush=True)), flush=True)
    return code


def scenario_error_lines(summary: dict[str, Any]) -> list[str]:
    """The console's account of scenario errors: per step, then one sample's (redacted) traceback."""
    if not summary.get("count"):
        return []
    lines = [f"scenario errors (the scenario's, not counted against the site): {summary['count']:,}"]
    lines += [f"  - {r['endpoint']}: {r['words']}, {r['count']:,}x from {format_clock(r['first_s'])}"
              for r in summary["by_step"][:10]]
    sample = summary.get("sample") or {}
    if sample.get("traceback"):
        lines.append("  traceback of one (redacted):")
        lines += ["    " + line for line in str(sample["traceback"]).rstrip().splitlines()]
    elif sample.get("detail"):
        lines.append(f"  for example: {sample.get('url') or sample['endpoint']}: {sample['detail']}")
    return lines


def out_of_disk_message(run_dir: Path, missing: Sequence[str], disk_full: str | None = None) -> str:
    """One line: what the full disk cost (the run's data, the reports not written) and the fix."""
    parts = [disk_full] if disk_full else []
    if missing:
        written = [name for name in ("summary.json", "report.html", "junit.xml", "summary.md") if name not in missing]
        parts.append(f"the disk is full: {', '.join(missing)} {'was' if len(missing) == 1 else 'were'} not written "
                     f"to {run_dir}" + (f" ({', '.join(written)} {'was' if len(written) == 1 else 'were'})"
                                        if written else ""))
        fix = f"free some disk space, then `loadkit report {run_dir}` writes every report"
    else:
        fix = "free some disk space (or pass --out on a disk with room) and run the scenario again"
    return "; ".join(parts) + f". Fix: {fix}"


def verdict_exit_code(verdict: str, *, strict: bool, interrupted: bool) -> ExitCode:
    """0 survives (and at-risk unless strict), 1 fails (or at-risk when strict), 3 inconclusive/interrupted."""
    if interrupted or verdict == "inconclusive":
        return ExitCode.INCONCLUSIVE
    if verdict == "fails" or (verdict == "at-risk" and strict):
        return ExitCode.FAILS
    return ExitCode.SURVIVES


def _distribution(args: argparse.Namespace) -> object:
    """The run's Distribution from --workers / --master / --expect-workers / --bind."""
    from .run import Distribution
    from .units import parse_duration

    try:
        timeout = parse_duration(args.worker_timeout)
    except ValueError as exc:
        raise UsageError(f"--worker-timeout: {exc}.", "give a duration like 60s") from None
    local = args.workers or 0
    expect = args.expect_workers if args.expect_workers is not None else local
    if args.master and expect < 1:
        raise UsageError("--master needs to know how many workers to wait for.",
                         "add --expect-workers N")
    if expect < local:
        raise UsageError(f"--expect-workers {expect} is fewer than --workers {local}.",
                         "--expect-workers counts every worker, the local ones included")
    if expect > local and not args.master:
        raise UsageError("--expect-workers above --workers waits for workers on other machines.",
                         "add --master, and start them with `loadkit worker --master HOST:PORT`")
    port = args.master_port if args.master_port is not None else (DEFAULT_MASTER_PORT if args.master else 0)
    return Distribution(local_workers=local, expect_workers=expect, bind_host=args.bind, bind_port=port,
                        worker_timeout=timeout)


def cmd_worker(args: argparse.Namespace) -> int:
    """``loadkit worker --master HOST[:PORT]``: generate load for a master until it ends the run."""
    from urllib.parse import urlsplit

    parts = urlsplit("//" + args.master)
    try:
        port = parts.port or DEFAULT_MASTER_PORT
    except ValueError:
        raise UsageError(f"--master {args.master!r}: the port is not a number from 1 to 65535.",
                         f"write HOST or HOST:PORT ([::1]:{DEFAULT_MASTER_PORT} for IPv6)") from None
    host = parts.hostname
    if not host:
        raise UsageError(f"--master {args.master!r}: no host.", "write HOST or HOST:PORT")
    from .run.worker import run_worker

    return run_worker(host, port, parent_pid=args.parent_pid)


# --- other subcommands ---------------------------------------------------------------------------


def publish_job_summary(model: object, environ: Mapping[str, str]) -> None:
    """Append the short Markdown verdict to ``$GITHUB_STEP_SUMMARY`` when CI provides one."""
    if environ.get("GITHUB_STEP_SUMMARY"):
        from .report.markdown import render_job_summary

        _append_step_summary(render_job_summary(model), environ)  # type: ignore[arg-type]


def _append_step_summary(markdown: str, environ: Mapping[str, str]) -> None:
    """Append Markdown to the CI job summary file, if there is one; a failure is a warning, not an error."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    except OSError as exc:
        print(f"loadkit: warning: cannot append to GITHUB_STEP_SUMMARY ({exc.strerror})", file=sys.stderr)


def cmd_report(args: argparse.Namespace) -> int:
    """``loadkit report RUN_DIR``: rebuild every report from the data files alone."""
    from .report import render_run_dir

    rendered = render_run_dir(args.run_dir)
    print(_verdict_line(rendered.verdict))
    for path in rendered.files:
        print(f"wrote {path}")
    if rendered.missing:
        print(f"loadkit: error: {out_of_disk_message(args.run_dir, rendered.missing)}", file=sys.stderr)
        return ExitCode.OUT_OF_DISK
    # the same exit code as the run that wrote the data, so a CI step can re-render and still gate on it
    return verdict_exit_code(rendered.verdict.verdict, strict=bool(args.strict),
                             interrupted=bool(rendered.model.run.get("interrupted")))


def cmd_compare(args: argparse.Namespace) -> int:
    """``loadkit compare BASE NEW``: per endpoint and overall changes, judged against the runs' noise."""
    from .compare import compare_runs, comparison_dict
    from .data import load_run, write_json_atomic, write_text_atomic
    from .report.comparison import headline, render_comparison_html, render_comparison_markdown

    comparison = compare_runs(load_run(args.base_run_dir), load_run(args.new_run_dir), min_change=args.min_change)
    html_path = args.out or args.new_run_dir / "compare.html"
    markdown = render_comparison_markdown(comparison)
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {html_path.parent} ({exc.strerror}).",
                          "pass --out with a file in a writable folder") from None
    write_text_atomic(html_path, render_comparison_html(comparison))
    write_text_atomic(html_path.with_suffix(".md"), markdown)
    write_json_atomic(html_path.with_suffix(".json"), comparison_dict(comparison))
    print(headline(comparison))
    for change in comparison.regressions:
        print(f"  regression: {change.metric} of {change.endpoint}: {change.base:.4g} -> {change.new:.4g}")
    print(f"wrote {html_path} (and .md, .json)")
    _append_step_summary(markdown[:4000], os.environ)
    return ExitCode.FAILS if comparison.regressions else ExitCode.SURVIVES


def cmd_history(args: argparse.Namespace) -> int:
    """``loadkit history DIR``: every run under DIR, per scenario, with the changes between runs."""
    from .data import write_json_atomic, write_text_atomic
    from .history import COMPARE_LAST, collect, history_dict, mark_changes
    from .report.history import render_history_html

    if not args.runs_dir.is_dir():
        raise UsageError(f"{args.runs_dir} is not a folder.", "pass the folder that holds your run directories "
                                                             "(e.g. reports/)")
    history = collect(args.runs_dir)
    if not history.run_count:
        raise UsageError(f"no run directory (with a summary.json) under {args.runs_dir}.",
                         "pass the folder your runs were written to (loadkit run --out, default reports/)")
    history = mark_changes(history, compare_last=args.compare_last if args.compare_last is not None else
                           COMPARE_LAST)
    out = args.out or args.runs_dir / "history.html"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {out.parent} ({exc.strerror}).",
                          "pass --out with a file in a writable folder") from None
    write_text_atomic(out, render_history_html(history, out))
    write_json_atomic(out.with_name("history.json"), history_dict(history, out.parent))
    for scenario in history.scenarios:
        last = scenario.runs[-1]
        change = f", {last.change} against the run before" if last.change else ""
        print(f"{scenario.name}: {len(scenario.runs)} runs; latest {last.verdict} ({last.started_at}){change}")
    for note in history.notes:
        print(f"note: {note}")
    print(f"wrote {out} (and history.json)")
    return ExitCode.SURVIVES


def cmd_init(args: argparse.Namespace) -> int:
    """``loadkit init --from-har FILE`` or ``--from-log FILE...``: a scenario from a browser recording (sends
    nothing) or from access logs (sends one GET per form post, only with ``--target``)."""
    import yaml

    from .data import write_text_atomic
    from .har import convert_har
    from .scenario import parse_scenario

    out = args.out or (args.from_har.with_suffix(".yaml") if args.from_har else
                       args.from_log[0].with_name(args.from_log[0].name.split(".")[0] + ".yaml"))
    if out.exists():
        raise UsageError(f"{out} already exists.", "pass --out with a new file name")
    if args.from_log:
        from .logimport import convert_logs

        text = convert_logs(args.from_log, args.name, log_format=args.log_format, spike=args.spike,
                            target=args.target)
    else:
        text = convert_har(args.from_har, args.name)
    parse_scenario(yaml.safe_load(text), str(out))  # what is written must load
    write_text_atomic(out, text)
    print(f"wrote {out}: review the traffic section, then `loadkit run {out}`")
    return ExitCode.SURVIVES


def cmd_plan(args: argparse.Namespace) -> int:
    """``loadkit plan``: print the traffic plan; sends nothing."""
    from .traffic import plan_to_dict

    scenario, plan = _load(args.scenario, args.rate_scale, args.duration_scale)
    if args.json:
        print(json.dumps(plan_to_dict(plan), indent=2))
        return ExitCode.SURVIVES
    for line in describe_plan(scenario, plan):
        print(line)
    return ExitCode.SURVIVES


def plan_headline(plan: Plan) -> str:
    """The plan in one phrase: visitors and their peak rate (open model), or looping users (closed model)."""
    over = format_duration(plan.duration)
    if plan.model == "users":
        # the closed model has no arrival rate: its level is a number of users, each looping through visits
        lowest = min(min(s.r0, s.r1) for s in plan.segments) if plan.segments else 0.0
        users = f"{plan.planned_peak:.3g}" if lowest >= plan.planned_peak else f"up to {plan.planned_peak:.3g}"
        return (f"{users} looping users over {over} (closed model)"
                + (f", headroom probe {plan.probe_level:.3g} users" if plan.probe_level else ""))
    return (f"{plan.total_arrivals:.0f} visitors over {over}, peak {plan.planned_peak:.3g}/s"
            + (f", headroom probe {plan.probe_level:.3g}/s" if plan.probe_level else ""))


def describe_plan(scenario: Scenario, plan: Plan) -> list[str]:
    """The plan in words and a phase table."""
    unit = "users" if plan.model == "users" else "visitors/s"
    lines = [f"scenario {scenario.name}: {plan.profile} profile, "
             f"{'open model (arrivals)' if plan.model == 'arrivals' else 'closed model (looping users)'}",
             f"duration {format_duration(plan.duration)}; planned peak {plan.planned_peak:.3g} {unit}"]
    if plan.model == "arrivals":
        lines.append(f"visitors planned: {plan.total_arrivals:.0f}")
        if plan.expected_visitors is not None:
            lines.append(f"audience: {plan.expected_visitors:.0f} visitors expected from the moment "
                         "(the burst above baseline)")
        if scenario.journeys:
            mean_visit = mean_visit_seconds(scenario.journeys)
            lines.append(f"concurrent visitors at peak (Little's law, visits of ~{mean_visit:.1f} s plus the "
                         f"site's response times): ~{plan.planned_peak * mean_visit:.0f}")
    if plan.probe_level:
        lines.append(f"headroom probe: {plan.probe_level:.3g} {unit} "
                     f"({plan.probe_level / plan.planned_peak:.2g}x the planned peak)" if plan.planned_peak else "")
    lines.append("")
    lines.append(f"{'phase':<12}{'from':>7}{'to':>7}  {'level':>13}  {'visitors':>9}")
    for phase in plan.phases:
        # a phase whose level moves (ramp, decay) shows where it starts and ends
        start, end = plan.rate(phase.start + 1e-6), plan.rate(max(phase.start, phase.end - 1e-6))
        level = f"{start:.3g} -> {end:.3g}" if abs(start - end) > 0.01 * max(phase.level, 1e-9) else \
            f"{phase.level:.3g}"
        lines.append(f"{phase.name:<12}{format_clock(phase.start):>7}{format_clock(phase.end):>7}  "
                     f"{level:>13}  {plan.integral(phase.start, phase.end):>9.0f}")
    return lines


def cmd_scenarios(args: argparse.Namespace) -> int:
    """``loadkit scenarios``: the bundled scenarios, their length and what they replay."""
    from .scenario import bundled_scenarios

    found = bundled_scenarios()
    width = max((len(name) for name, _, _ in found), default=0)
    for name, description, _ in found:
        try:
            length = format_duration(build_plan(load_scenario(name)).duration)
        except LoadkitError:  # a bundled file that does not load is a bug; list it rather than hide it
            length = "?"
        print(f"{name:<{width}}  {length:>6}  {description}")
    if found:
        print(f"\nfiles: {found[0][2].parent} (copy one to start your own; data paths are relative to it)")
    return ExitCode.SURVIVES


def _verdict_line(verdict: Verdict) -> str:
    """``FAILS: the site broke ...`` (the headline already starts with the verdict's word)."""
    words = verdict.headline.split(": ", 1)
    return f"{verdict.verdict.upper()}: {words[-1]}"


def cmd_validate(args: argparse.Namespace) -> int:
    """``loadkit validate``: load the scenario and its data; print a one-line summary."""
    from .scenario import DEMO_TARGET, check_step_hosts, load_data_values

    scenario, plan = _load(args.scenario, 1.0, 1.0)
    base_dir = scenario_base_dir(args.scenario)
    load_data_values(scenario, base_dir)
    if scenario.target and scenario.target != DEMO_TARGET:
        check_step_hosts(scenario, scenario.target)  # absolute URLs written out (a --target may change it)
    if scenario.locustfile:
        check_locustfile(base_dir / scenario.locustfile)
    walkers = f"locustfile {scenario.locustfile}" if scenario.locustfile else f"{len(scenario.journeys)} journeys"
    print(f"ok: {scenario.name}: {walkers}, {len(scenario.endpoints)} endpoints, "
          f"{len(scenario.slos)} SLOs, {format_duration(plan.duration)}, "
          f"peak {plan.planned_peak:.3g}{' users' if plan.model == 'users' else '/s'}")
    return ExitCode.SURVIVES


def check_locustfile(path: Path) -> None:
    """The locustfile exists and compiles (not imported: that would start gevent in this process)."""
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"locustfile {path}: cannot be read ({exc.strerror}).",
                         "give a path relative to the scenario file") from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise UsageError(f"locustfile {path}: line {exc.lineno}: {exc.msg}.", "fix the syntax error") from None


def cmd_schema(args: argparse.Namespace) -> int:
    """``loadkit schema``: the scenario format's JSON Schema."""
    print(json.dumps(json_schema(), indent=2))
    return ExitCode.SURVIVES


def cmd_demo_site(args: argparse.Namespace) -> int:
    """``loadkit demo-site``: serve the demo storefront until Ctrl-C."""
    from .demo.args import config_from_args

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc) + ".", "see `loadkit demo-site --help`") from None
    from .demo.server import serve

    announce: Callable[[str], None] = lambda url: print(  # noqa: E731
        f"loadkit demo storefront listening on {url} (capacity: {config.slots} slots; Ctrl-C stops it)", flush=True)
    try:
        serve(config, args.host, args.port, announce)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port} ({exc.strerror}).",
                         "pick another --port, or stop what uses it") from None
    return ExitCode.SURVIVES

