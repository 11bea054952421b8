"""Analysis: pandas over a run directory's data files -> frozen results (:class:`Analysis`).

The stage in modules a newcomer finds by name:

- ``pipeline``: :func:`analyze`, the stages in order;
- ``measurements``: the metrics rows and their histograms, grouped per window, scope or span;
- ``seconds``: the per-second frame and the load generator's health (pauses, CPU);
- ``endpoints``: per-endpoint figures, failure kinds, off-site redirects, the latency distribution;
- ``scopes``: the phase table and the scopes SLOs are judged over;
- ``slos``: SLOs per scope under held.py's rule, and again without the generator's disturbed seconds;
- ``capacity``: throughput plateaus, capacity and headroom, recovery;
- ``broke_first``: what broke first;
- ``totals``: the run's totals and its planned and delivered traffic;
- ``model``: the result types.
"""

from __future__ import annotations

from ..failures import error_class
from .model import Analysis, SloResult
from .pipeline import DEFAULT_SLOS, analyze
from .seconds import PAUSE_MS, SATURATED_CPU

__all__ = ["DEFAULT_SLOS", "PAUSE_MS", "SATURATED_CPU", "Analysis", "SloResult", "analyze", "error_class"]
