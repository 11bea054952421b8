"""loadkit's public API: one function per command, the same calls the command line makes.

``loadkit.cli`` parses arguments, calls one of these and prints what it returns; nothing else. Tests and
scripts call them directly::

    from loadkit import api
    from loadkit.config import Flags

    settings = api.settings("smoke", Flags(demo=True, rate_scale=0.5))
    result = api.run(settings)
    print(result.verdict.verdict, result.exit_code)

Settings go through the config layers (``loadkit/config.py``) for every command that reads a scenario:
``run``, ``plan`` and ``validate`` alike. User errors are :class:`~loadkit.errors.LoadkitError`. Only
:func:`run`, :func:`worker` and :func:`calibrate` start the run stage (and so gevent's monkey-patching).
"""

from ._calibrate import DEFAULT_SECONDS as DEFAULT_CALIBRATION_SECONDS
from ._calibrate import CalibrationResult, calibrate
from ._running import (NO_FLAGS, Listeners, RunResult, RunSettings, append_step_summary, default_run_dir, distribution,
                       locustfile_path, publish, publish_job_summary, run, settings, verdict_exit_code, worker)
from ._runs import CompareResult, HistoryResult, ReportResult, compare, demo_site, history, report
from ._scenarios import (LogImport, PlanView, ScenarioListing, Validation, check_locustfile, init_from_har,
                         init_from_logs, plan, scenarios, schema, validate)

__all__ = ["DEFAULT_CALIBRATION_SECONDS", "NO_FLAGS", "CalibrationResult", "CompareResult", "HistoryResult",
           "Listeners", "LogImport", "PlanView", "ReportResult", "RunResult", "RunSettings", "ScenarioListing",
           "Validation", "append_step_summary", "calibrate", "check_locustfile", "compare", "default_run_dir",
           "demo_site", "distribution", "history", "init_from_har", "init_from_logs", "locustfile_path", "plan",
           "publish", "publish_job_summary", "report", "run", "scenarios", "schema", "settings", "validate",
           "verdict_exit_code", "worker"]
