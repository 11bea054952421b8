"""The verdict: a pure function of the analysis and the scenario's policy.

- **fails**: an SLO broke at or below the planned peak (anywhere before the headroom probe), also when
  not all the planned load was delivered or the run was interrupted: less load that breaks the site is
  conclusive. A break that holds only with the seconds loadkit itself was paused or saturated counted
  is not the site's (inconclusive).
- **inconclusive**: the planned load was not delivered (late or dropped arrivals beyond the tolerance:
  a saturated generator, the machine pausing loadkit, or another cause, each with its own sentence) or
  the run was interrupted, and no SLO broke. Never "survives" or "at-risk" for load not delivered.
- **at-risk**: SLOs held up to the planned peak but broke in the headroom probe at or below
  required_headroom x the peak, or the site recovered slowly (or not at all) once the load fell. A break
  above that level (a visit_share range's high end) is the audience sentence's, not a lack of headroom.
- **survives**: SLOs held through the burst, the probe and the recovery.

A capacity search (``profile: search``) has no planned peak: its bracket is judged against its
``required`` rate x required_headroom, and without one it is a measurement, at most at-risk
(:func:`~loadkit.verdict.search._judge_search`; docs/verdict.md, "Capacity search").

Every reason is a sentence a shop owner can read, carrying the endpoint, the metric, the observed value,
the limit and when it happened. Reasons are ranked: what broke first comes first. :func:`judge` takes
the decisions in that order, one named step each.

The package, by module:

- ``common``: the :class:`Verdict`, the safety abort, the load not delivered or not measured, and the
  supporting sentences every verdict ends with;
- ``planned``: a planned run's verdict (:func:`~loadkit.verdict.planned._judge`);
- ``search``: a capacity search's verdict, why an unfinished search stopped, its bracket in words.
"""

from __future__ import annotations

from dataclasses import replace

from ..analysis import Analysis
from ..failures import class_words, kind_words
from ..scenario import VerdictPolicy
from ..verdict_words import capacity_figure, metric_words, rate_unit, scope_label, search_sentence, slo_sentence
from .common import UNDELIVERED_STANDS, VERDICTS, Verdict
# Importable from loadkit.verdict as before (the reports and the tests use them), though not in __all__.
from .common import business_of as business_of
from .common import journeys_context as journeys_context
from .common import required_level as required_level
from .planned import _judge
from .search import _judge_search
from .search import capacity_words as capacity_words


def judge(analysis: Analysis, policy: VerdictPolicy | None = None) -> Verdict:
    """Decide survives / at-risk / fails / inconclusive, with ranked reasons (docs/verdict.md's order)."""
    policy = policy or analysis.scenario.verdict
    if analysis.search is None:
        return _judge(analysis, policy)
    verdict = _judge_search(analysis, policy, analysis.search)
    # A capacity search is read for its bracket: it leads the reasons, whatever the verdict.
    bracket = search_sentence(analysis.search, rate_unit(analysis))
    return replace(verdict, reasons=(bracket, *(r for r in verdict.reasons if r != bracket)))


__all__ = ["UNDELIVERED_STANDS", "VERDICTS", "Verdict", "capacity_figure", "class_words", "judge", "kind_words",
           "metric_words", "scope_label", "search_sentence", "slo_sentence"]
