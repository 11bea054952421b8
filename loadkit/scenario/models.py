"""The whole scenario: its top-level fields and the checks that span sections (unique journey names, SLO
endpoints that exist, placeholders defined before use)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from .data import DataSource
from .errors import FieldProblem
from .fields import Duration, FrozenModel, is_saved
from .hosts import HOST_PATTERN, host_entry, target_problem
from .journeys import Journey, step_variables
from .observe import Observe
from .slos import Business, Safety, Slo, VerdictPolicy
from .traffic import Traffic


class Scenario(FrozenModel):
    """A whole scenario: who visits, how many, when, and what the site must keep up."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                      description="Short name, used in run directory names.")
    description: str = ""
    target: str | None = Field(None, description="Base URL (http:// or https://, no query string); 'demo': the "
                                                  "embedded demo storefront, also in CI; absent: the demo storefront "
                                                  "(outside CI).")
    allowed_hosts: list[str] = Field(
        default_factory=list, json_schema_extra={"items": {"type": "string", "pattern": HOST_PATTERN}},
        description="Hosts besides the target's that steps with absolute URLs may reach: 'api.example.com' (any "
                    "port) or '127.0.0.1:8081'. The target's credentials and secret headers never go to them.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request; "
                                                                        "'${ENV_VAR}' reads the environment.")
    request_timeout: Duration = Field(10.0, gt=0, description="Give up on a request after this long.")
    page_resources: Literal["off", "empty-cache", "warm-cache"] = Field(
        "off", description="Fetch what each HTML page references (stylesheets, scripts, images) from the "
                           "target, as a browser would: empty-cache: every asset once per visitor; "
                           "warm-cache: only assets the site does not let browsers cache. Reported as "
                           "'asset: ...' endpoints.")
    csrf: Literal["auto", "off"] = Field(
        "auto", description="auto: send back CSRF tokens the way browsers do (a hidden csrf form field into "
                            "later form posts, a csrftoken / XSRF-TOKEN cookie as a header on unsafe methods); "
                            "off: only what the steps send.")
    verify_tls: bool = Field(True, description="Check the target's TLS certificate. false: accept any "
                                                "certificate (a staging site with a self-signed one); the "
                                                "report says so.")
    connections: Literal["new", "shared"] = Field(
        "new", description="new: every visitor opens its own connections, as browsers do; shared: visitors "
                           "reuse keep-alive connections from one pool per load process, as a CDN or reverse "
                           "proxy in front of the site does (the highest rates one generator can send).")
    rehearsal: bool = Field(True, description="Before the load, walk every journey once, one visitor at a "
                                              "time, at rest; a step that fails there (404, 405, a check "
                                              "that does not match, nothing extracted, a locustfile task "
                                              "that raises) stops the run before any load. false: skip it "
                                              "(such steps then count against the site, but 404 and 405).")
    traffic: Traffic
    locustfile: str | None = Field(None, description="A locustfile whose User classes walk the journeys "
                                                     "(path relative to the scenario file).")
    journeys: list[Journey] = Field(default_factory=list)
    data: dict[str, DataSource] = Field(default_factory=dict)
    slos: list[Slo] = Field(default_factory=list)
    business: Business | None = Field(None, description="Orders and their value: {orders: buy, order_value: "
                                                         "'42 EUR'}; the report counts purchases lost per phase.")
    verdict: VerdictPolicy = Field(default_factory=VerdictPolicy)
    safety: Safety = Field(default_factory=Safety)
    observe: Observe | None = Field(None, description="The site's own metrics to record during the run "
                                                       "(Prometheus queries).")

    @field_validator("target")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        problem = None if is_saved(info) else target_problem(value)  # a target that ran stays readable
        if problem is not None:
            raise ValueError(f"{problem[0]} ({problem[1]})")
        return value.rstrip("/")

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for index, entry in enumerate(value):
            if host_entry(entry) is None:
                raise ValueError(f"entry {index + 1}, {entry!r}, is not a host: write a host name or host:port, "
                                 "without scheme or path ('api.example.com', '127.0.0.1:8081')")
        return value

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Scenario:
        if not self.journeys and not self.locustfile:
            raise FieldProblem("journeys", "give journeys (at least one), or a locustfile whose User classes "
                                           "walk them")
        if self.journeys and self.locustfile:
            raise FieldProblem("locustfile", "give journeys or a locustfile, not both")
        names = [j.name for j in self.journeys]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise FieldProblem(f"journeys[{names.index(dupes[0], names.index(dupes[0]) + 1)}].name",
                               f"journey names must be unique; repeated: {', '.join(dupes)}")
        endpoints = {s.endpoint for j in self.journeys for s in j.steps if s.method != "THINK"}
        journeys = [j.name for j in self.journeys]
        for index, slo in enumerate(self.slos):
            if slo.journey is not None and slo.journey not in journeys and not self.locustfile:
                raise FieldProblem(f"slos[{index}].journey", f"{slo.journey!r} is not a journey; journeys are: "
                                                             f"{', '.join(journeys)}")
            if slo.endpoint is not None and slo.endpoint not in endpoints and not self.locustfile:
                raise FieldProblem(f"slos[{index}].endpoint", f"{slo.endpoint!r} is not a step of any journey; "
                                                              f"endpoints are: {', '.join(sorted(endpoints))}")
        if self.business is not None and self.business.orders not in journeys and not self.locustfile:
            raise FieldProblem("business.orders", f"{self.business.orders!r} is not a journey; journeys are: "
                                                  f"{', '.join(journeys)}")
        if not is_saved(info):  # placeholders as this version reads paths; a scenario that ran stays readable
            self._check_placeholders()
        return self

    def _check_placeholders(self) -> None:
        """Every ``{var}`` a step uses is a data source or extracted by an earlier step."""
        for j, journey in enumerate(self.journeys):
            known = set(self.data)
            for k, step in enumerate(journey.steps):
                for var in sorted(step_variables(step)):
                    if var not in known:
                        raise FieldProblem(f"journeys[{j}].steps[{k}]",
                                           f"journey {journey.name!r} uses {{{var}}} before it is defined; "
                                           "add it under data: or extract it in an earlier step")
                known.update(step.extract)

    @property
    def endpoints(self) -> list[str]:
        """Every endpoint name, in journey order, once each."""
        seen: dict[str, None] = {}
        for journey in self.journeys:
            for step in journey.steps:
                if step.method != "THINK":
                    seen.setdefault(step.endpoint)
        return list(seen)


# Top-level field names as written in a scenario file (aliases included), for messages and tests.
ROOT_FIELDS = tuple(sorted({(f.alias or name) for name, f in Scenario.model_fields.items()}))


__all__ = ["ROOT_FIELDS", "Scenario"]
