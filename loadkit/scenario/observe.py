"""The site's own metrics, recorded beside the load: Prometheus queries sampled on the run's clock."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from .fields import Duration, FrozenModel

QUERY_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Observe(FrozenModel):
    """``observe: {prometheus: URL, queries: {name: PromQL}}``: sampled every few seconds during the run,
    saved in observed.jsonl, drawn under the load curves and cited by "what broke first"."""

    prometheus: str = Field(description="Base URL of a Prometheus server (or one that speaks its HTTP query "
                                        "API: Thanos, Mimir, VictoriaMetrics), e.g. http://127.0.0.1:9090.")
    queries: dict[str, str] = Field(min_length=1, max_length=20,
                                    json_schema_extra={"propertyNames": {"pattern": QUERY_NAME_PATTERN}},
                                    description="name: PromQL. Write each query to return one series (wrap it "
                                                "in max() or sum()); of several, the largest value is kept.")
    every: Duration = Field(2.0, ge=1.0, le=60.0, description="Sample this often (run's clock).")
    timeout: Duration = Field(1.5, gt=0, le=30.0, description="Give up on one query after this long; the "
                                                               "sample is recorded as missing, never harms the run.")

    @field_validator("prometheus")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host; write e.g. http://127.0.0.1:9090")
        return value.strip().rstrip("/")

    @field_validator("queries")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        for name, query in value.items():
            if not re.match(QUERY_NAME_PATTERN, name):
                raise ValueError(f"query name {name!r}: use letters, digits and _ (e.g. db_cpu)")
            if not query.strip():
                raise ValueError(f"query {name!r} is empty; write the PromQL expression to sample")
        return value


__all__ = ["QUERY_NAME_PATTERN", "Observe"]
