"""How many load processes a plan needs: ``loadkit calibrate`` measures one process's rate for a scenario's
journeys on this machine (against a local catch-all server, :mod:`loadkit.calibration.target`), saves it
(:mod:`.store`), and ``loadkit plan`` states the processes the plan's peak needs (:mod:`.estimate`).

This package imports neither locust nor gevent; the measuring loop is in ``loadkit/run/calibrate.py``.
"""

from .derive import calibration_scenario
from .estimate import LoadProcesses, load_processes
from .store import (CACHE_ENV, CPU_TARGET, Calibration, Machine, cache_dir, find_calibration, journeys_fingerprint,
                    processes_needed, save_calibration, this_machine)

__all__ = ["CACHE_ENV", "CPU_TARGET", "Calibration", "LoadProcesses", "Machine", "cache_dir", "calibration_scenario",
           "find_calibration", "journeys_fingerprint", "load_processes", "processes_needed", "save_calibration",
           "this_machine"]
