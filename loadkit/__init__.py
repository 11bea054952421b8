"""loadkit: will your website survive its viral moment?

The library API mirrors the command line, one function per pipeline stage::

    scenario = loadkit.load_scenario("tv-spot")
    plan = loadkit.build_plan(scenario)
    loadkit.api.run(loadkit.api.settings("tv-spot"))            # the only stage that starts gevent
    analysis = loadkit.analyze(loadkit.load_run(run_dir))
    verdict = loadkit.judge(analysis)
    loadkit.render(analysis, verdict, run_dir)
    comparison = loadkit.compare_runs(loadkit.load_run(before_dir), loadkit.load_run(run_dir))
"""

from ._version import __version__

import importlib as _importlib
import typing as _typing

# Public name -> the stage module that defines it. Loaded on first use, so `import loadkit` stays cheap
# for the demo storefront and worker processes (which must reach gevent's monkey-patching early).
_EXPORTS = {
    "Analysis": "analysis", "analyze": "analysis", "RunData": "data", "load_run": "data",
    "ExitCode": "errors", "LoadkitError": "errors", "render": "report", "render_run_dir": "report",
    "Distribution": "run", "run_scenario": "run", "Scenario": "scenario", "load_scenario": "scenario",
    "parse_scenario": "scenario", "Plan": "traffic", "build_plan": "traffic", "Verdict": "verdict",
    "judge": "verdict", "Comparison": "compare", "compare_runs": "compare",
}

# Literal and sorted (tests/test_public_api.py): a reader, mypy and ruff all see the public names.
__all__ = ["Analysis", "Comparison", "Distribution", "ExitCode", "LoadkitError", "Plan", "RunData", "Scenario",
           "Verdict", "__version__", "analyze", "build_plan", "compare_runs", "judge", "load_run", "load_scenario",
           "parse_scenario", "render", "render_run_dir", "run_scenario"]


def __getattr__(name: str) -> _typing.Any:
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'loadkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if _typing.TYPE_CHECKING:
    from .analysis import Analysis, analyze
    from .compare import Comparison, compare_runs
    from .data import RunData, load_run
    from .errors import ExitCode, LoadkitError
    from .report import render, render_run_dir
    from .run import Distribution, run_scenario
    from .scenario import Scenario, load_scenario, parse_scenario
    from .traffic import Plan, build_plan
    from .verdict import Verdict, judge
