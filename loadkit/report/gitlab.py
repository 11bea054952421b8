"""``load-performance.json``: the flat k6 summary-export fields GitLab's load performance widget reads.

GitLab shows checks passed, "TTFB" p90/p95 (``http_req_waiting``) and requests per second. loadkit
measures the full response time (first byte of the request to the last byte of the answer), not time to
first byte, and says so in ``loadkit.note``: the figures under ``http_req_waiting`` are full response
times, slightly higher than a true TTFB.
"""

from __future__ import annotations

from typing import Any

from .model import ReportModel


def render_load_performance(model: ReportModel) -> dict[str, Any]:
    """The GitLab ``load_performance`` report document."""
    tot = model.totals
    duration = model.run.get("duration_s") or 0
    requests = int(tot["requests"])
    failures = int(tot["failures"])
    return {
        "metrics": {
            "http_reqs": {"count": requests, "rate": requests / duration if duration else 0.0},
            "http_req_waiting": {"avg": tot.get("mean_ms"), "med": tot.get("p50_ms"), "max": tot.get("max_ms"),
                                 "p(90)": tot.get("p90_ms"), "p(95)": tot.get("p95_ms")},
            "checks": {"passes": requests - failures, "fails": failures,
                       "value": (requests - failures) / requests if requests else 0.0},
        },
        "loadkit": {"verdict": model.verdict, "scenario": model.run.get("scenario"),
                    "note": "http_req_waiting holds loadkit's full response times (not time to first byte); "
                            "checks are requests, failed when a transport error, an unexpected status or "
                            "a failed expect occurred"},
    }
