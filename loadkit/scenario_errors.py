"""Scenario errors: the scenario's own mistakes, kept apart from the site's failures.

The rule (docs/verdict.md):

- **Before the load**, the rehearsal walks every journey once, one visitor at a time, at rest
  (``run/rehearsal.py``). A step that fails there with a client error (4xx other than 408 and 429), a check
  that does not match, an extraction that finds nothing, an unexpected status, or a locustfile task that
  raises is a scenario error, and the run stops before any load.
- **During the load**, a request the site answered 404 (no such page) or 405 (no such method) is a scenario
  error: a wrong path or method, or a data value naming something the site does not have; load makes a site
  slow, or answer 5xx, 429 or 503, not 404 or 405. So is any exception raised by a locustfile's own code,
  and a request the locustfile built wrong (``invalid_request``: no host or scheme, a malformed URL or header,
  refused by its client before anything was sent).
  These are counted in ``scenario_errors.jsonl``, never in ``metrics.jsonl``: not in the requests, the error
  rate, the latency figures or the SLOs. A page's assets (``asset: GET ...``) are the site's own links and
  stay site failures.

This module is the pure side (constants, and the summary the analysis, the verdict and the reports read);
the run stage's collector is :mod:`loadkit.run.scenario_errors`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .failures import INVALID_REQUEST

SCENARIO_STATUSES = frozenset({404, 405})
LOCUSTFILE_EXCEPTION = "locustfile_exception"
MAX_SAMPLES = 10

_KIND_WORDS = {"http_404": "answered 404 (no such page)", "http_405": "answered 405 (method not allowed)",
               LOCUSTFILE_EXCEPTION: "the locustfile's code raised an exception",
               INVALID_REQUEST: "sent nothing: the locustfile built the request wrong"}
# said once for a run with such errors: whose fault it is, and the fix
_KIND_FIXES = {INVALID_REQUEST: ("The locustfile, not the site, is at fault for the requests it built wrong (no host "
                                 "or scheme, or a malformed URL or header), which sent nothing: correct them in the "
                                 "locustfile, with paths that start with / (the host is the target's).")}


def kind_words(kind: str) -> str:
    """A scenario error's kind in words."""
    return _KIND_WORDS.get(kind, kind.replace("_", " "))


def fix_sentences(summary: dict[str, Any]) -> list[str]:
    """One sentence per kind of scenario error that has its own fix (a request the locustfile built wrong),
    naming who is at fault and the fix."""
    found = dict.fromkeys(str(r.get("kind")) for r in summary.get("by_step", []))
    return [_KIND_FIXES[kind] for kind in found if kind in _KIND_FIXES]


def summarize(rows: list[dict[str, Any]], rehearsal: Any, visits: int, site_requests: int) -> dict[str, Any]:
    """What the reports show about scenario errors: the count, per endpoint (or locustfile task) and kind, a
    sample with its traceback (redacted when it was recorded), the rehearsal, and whether every visit hit one.

    ``rehearsal``: run.json's ``rehearsal`` document (as written); ``visits``: visitors started;
    ``site_requests``: requests measured (scenario errors not included). Every
    visit hit a scenario error when there were at least as many scenario errors as visits (a journey's visit
    ends at its first failed step), or when no request of the site was measured at all.
    """
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 1 << 62])
    samples: list[dict[str, Any]] = []
    for row in rows:
        try:
            key = (str(row["endpoint"]), str(row.get("method") or ""), str(row["kind"]))
            entry = counts[key]
            entry[0] += int(row.get("count") or 0)
            entry[1] = min(entry[1], int(row.get("t") or 0))
        except (KeyError, TypeError, ValueError):
            continue  # a damaged row: the rest still count
        for sample in row.get("samples") or []:
            if isinstance(sample, dict):
                samples.append({"endpoint": key[0], "method": key[1], "kind": key[2], **sample})
    ranked = sorted(counts.items(), key=lambda item: (-item[1][0], item[0]))
    by_step: list[dict[str, Any]] = [
        {"endpoint": e, "method": m, "kind": k, "words": kind_words(k), "count": n, "first_s": first}
        for (e, m, k), (n, first) in ranked]
    total = sum(n for _, (n, _) in ranked)
    samples.sort(key=lambda s: (not s.get("traceback"), s.get("t", 0)))  # a traceback first: it says the most
    return {"count": total, "by_step": by_step, "sample": samples[0] if samples else None,
            "samples": samples[:MAX_SAMPLES],
            "every_visit": total > 0 and (site_requests == 0 or (visits > 0 and total >= visits)),
            "rehearsal": rehearsal}


def inconclusive_reason(summary: dict[str, Any]) -> str | None:
    """The verdict's sentence when every visit hit a scenario error, else None."""
    if not summary.get("every_visit"):
        return None
    first = summary["by_step"][0]
    return (f"Every visit hit a scenario error ({summary['count']:,} in all; {first['endpoint']}: "
            f"{first['words']}), so the site was never really tested: the scenario, not the site, failed. Fix the "
            "steps listed under Scenario errors and run again." + "".join(f" {s}" for s in fix_sentences(summary)))


def context_sentence(summary: dict[str, Any]) -> list[str]:
    """A supporting sentence when some visits hit scenario errors (not counted against the site)."""
    if not summary.get("count") or summary.get("every_visit"):
        return []
    parts = [f"{r['endpoint']} {r['words']}, {r['count']:,} {'time' if r['count'] == 1 else 'times'}"
             for r in summary["by_step"][:3]]
    return [f"Not counted against the site: {summary['count']:,} scenario errors ({'; '.join(parts)}).",
            *fix_sentences(summary)]


def for_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """The ``scenario_errors`` object of summary.json (an addition to schema_version 1)."""
    return {"count": summary.get("count", 0), "every_visit": bool(summary.get("every_visit")),
            "by_step": [{k: r[k] for k in ("endpoint", "method", "kind", "count", "first_s")}
                        for r in summary.get("by_step", [])],
            "sample": summary.get("sample"), "rehearsal": summary.get("rehearsal")}


def empty() -> dict[str, Any]:
    """The summary of a run without scenario errors."""
    return summarize([], None, 0, 0)
