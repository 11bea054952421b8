"""The scenario from an :class:`~.convert.Analysis`: variables named, data lists drawn, forms read, the
traffic as a ``burst``, and a header comment saying what was kept, dropped and guessed, with counts."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import yaml

from ..uri import fresh_name
from .convert import Analysis
from .endpoints import VAR, Values
from .forms import FormFields, client, read_form
from .privacy import printable, secret_value
from .sessions import Journey

DATA_ENTRIES = 500  # entries per data list: the most common values, repeated in proportion to their visits


def _singular(word: str) -> str:
    word = re.sub(r"[^A-Za-z0-9]+", "_", word).strip("_").lower()
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def proportional(values: Values, entries: int = DATA_ENTRIES) -> list[str]:
    """Up to ``entries`` values, the most common first, each repeated in proportion to how often it was seen
    (largest remainders), so a visitor draws a popular page as often as the log's visitors did."""
    items = [(v, n) for v, n in values.counts.most_common() if n > 0 and "${" not in v and not secret_value(v)]
    if not items:
        return []
    if len(items) >= entries:
        return [v for v, _ in items[:entries]]
    total = sum(n for _, n in items)
    shares = [(v, n * entries / total) for v, n in items]
    counts = {v: max(1, int(s)) for v, s in shares}
    room = entries - sum(counts.values())
    for v, _ in sorted(shares, key=lambda vs: -(vs[1] - int(vs[1])))[:max(0, room)]:
        counts[v] += 1
    out: list[str] = []
    for v, _ in items:
        out.extend([v] * counts[v])
    return out


@dataclass
class Names:
    """Variable names, unique in the scenario, and their data lists."""

    by_node: dict[int, str] = field(default_factory=dict)
    by_query: dict[tuple[str, str], str] = field(default_factory=dict)
    data: dict[str, list[str]] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)

    def unique(self, base: str) -> str:
        return fresh_name(re.sub(r"[^a-z0-9_]+", "_", base.lower()).strip("_"), self.used)


def _path_out(analysis: Analysis, names: Names, pkey: str) -> str:
    segments = pkey.strip("/").split("/") if pkey.strip("/") else []
    out, index, previous = [], 0, ""
    for segment in segments:
        if segment != VAR:
            out.append(segment)
            previous = segment
            continue
        node = analysis.templates.variable(pkey, index)
        index += 1
        if node is None:
            out.append(segment)
            continue
        name = names.by_node.get(id(node))
        if name is None:
            kind = node.kinds.most_common(1)[0][0] if node.kinds else "word"
            base = (_singular(previous) if previous
                    else {"number": "id", "uuid": "uuid", "hash": "hash"}.get(kind, "slug"))
            name = names.by_node[id(node)] = names.unique(base)
            names.data[name] = proportional(node.values)
        out.append(f"{{{name}}}")
    return "/" + "/".join(out)


def _query_out(analysis: Analysis, names: Names, pkey: str, qkey: str) -> str:
    parts = []
    for param in qkey.split("&") if qkey else []:
        values = analysis.templates.query_values.get((pkey, param))
        if values is None:
            continue
        distinct = [v for v, n in values.counts.items() if n > 0]
        if len(distinct) == 1 and not values.overflow:
            from urllib.parse import quote
            parts.append(f"{param}={quote(distinct[0], safe='')}")
            continue
        name = names.by_query.get((pkey, param))
        if name is None:
            name = names.by_query[(pkey, param)] = names.unique(param)
            names.data[name] = proportional(values)
        parts.append(f"{param}={{{name}}}")
    return "?" + "&".join(parts) if parts else ""


def _journey_name(journey: Journey, all_journeys: list[Journey], used: set[str]) -> str:
    """Named after its rarest step (the one fewest journeys share; the last on a tie)."""
    def shared(endpoint: str) -> int:
        return sum(1 for j in all_journeys if any(e == endpoint for e, _ in j.steps))
    rarest = min(reversed([e for e, _ in journey.steps]), key=shared)
    method, _, rest = rarest.partition(" ")
    path = rest.partition("?")[0]
    words = [s for s in path.strip("/").split("/") if s and s != VAR]
    base = _singular(words[-1]) if words else ("home" if path == "/" else "page")
    if method == "POST" and not words:
        base = "post"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}-{n}"
    used.add(name)
    return name


def _fmt_rate(rate: float) -> str:
    return f"{max(rate, 0.01):.3g}/s"


def _fmt_s(seconds: float) -> str:
    return f"{max(0, round(seconds))}s"


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def build(analysis: Analysis, name: str, sources: str, target: str | None = None) -> str:
    """The scenario YAML, header comment first."""
    names = Names()
    steps_of: dict[str, tuple[str, str, str]] = {}  # endpoint key -> (method, path template, written path)
    for journey in analysis.journeys:
        for endpoint, _ in journey.steps:
            if endpoint not in steps_of:
                method, _, rest = endpoint.partition(" ")
                pkey, _, qkey = rest.partition("?")
                steps_of[endpoint] = (method, pkey, _path_out(analysis, names, pkey) +
                                      _query_out(analysis, names, pkey, qkey))
    forms, form_notes = _forms(analysis, names, steps_of, target)
    counts = analysis.counts
    total_visits = sum(j.visits for j in analysis.journeys) or 1
    used: set[str] = set()
    written_journeys: list[dict[str, Any]] = []
    for journey in analysis.journeys:
        steps: list[dict[str, Any]] = []
        previous: str | None = None
        for endpoint, repeat in journey.steps:
            method, _, written = steps_of[endpoint]
            for _ in range(repeat):
                redirected = previous is not None and previous.startswith("POST ") and \
                    counts.redirect_posts[previous] * 2 > counts.posts[previous]
                if previous is not None and journey.think is not None and not redirected and journey.think[1] > 0:
                    lo, hi = journey.think
                    steps.append({"think": f"{lo:g}s..{hi:g}s" if hi > lo else f"{lo:g}s"})
                step: dict[str, Any] = {method.lower(): written}
                if method == "POST":
                    fields = forms.get(endpoint)
                    step["form"] = dict(fields.form) if fields is not None else {}
                steps.append(step)
                previous = endpoint
        written_journeys.append({"name": _journey_name(journey, analysis.journeys, used),
                                 "weight": round(100.0 * journey.visits / total_visits, 1), "steps": steps})
    # extracts go on the page before each form post, in every journey
    for journey_doc, journey in zip(written_journeys, analysis.journeys, strict=True):
        requests = [s for s in journey_doc["steps"] if "think" not in s]
        flat = [e for e, r in journey.steps for _ in range(r)]
        for i, endpoint in enumerate(flat):
            fields = forms.get(endpoint)
            if fields is not None and fields.extract and i > 0:
                requests[i - 1].setdefault("extract", {}).update(
                    {k: dict(v) for k, v in fields.extract.items()})  # copies: no YAML anchors
    document: dict[str, Any] = {"name": name,
                                "description": f"Converted from the access logs {sources}: the visitors' "
                                               "journeys, pauses, everyday rate and spike."}
    if target:
        document["target"] = target
    document["traffic"] = _traffic(analysis)
    document["journeys"] = written_journeys
    # a variable whose every value was held back (a secret) still needs a list for the scenario to load
    data: dict[str, list[str]] = {k: v or ["CHANGE-ME"] for k, v in names.data.items()}
    if data:
        document["data"] = data
    document["slos"] = [{"metric": "p95", "below": "1s"}, {"metric": "error_rate", "below": "1%"}]
    missing = [k for k, v in names.data.items() if not v]
    header = _header(analysis, sources, target, form_notes, forms, missing)
    body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)
    return header + body


def _traffic(analysis: Analysis) -> dict[str, Any]:
    rates = analysis.rates
    spike = rates.spike
    base = max(rates.baseline, 0.01)
    if spike is None:
        return {"profile": "burst", "baseline": _fmt_rate(base), "peak": _fmt_rate(max(rates.busiest, base)),
                "lead_in": "30s", "ramp": "30s", "hold": "60s", "decay_half_life": "30s", "recovery": "60s"}
    half = max(spike.half_life, 1.0)
    return {"profile": "burst", "baseline": _fmt_rate(base), "peak": _fmt_rate(max(spike.peak, base)),
            "lead_in": "30s", "ramp": _fmt_s(max(spike.ramp, 1.0)), "hold": _fmt_s(spike.hold),
            "decay_half_life": _fmt_s(half), "decay": _fmt_s(3 * half), "recovery": "60s", "rate_scale": 1}


def _forms(analysis: Analysis, names: Names, steps_of: dict[str, tuple[str, str, str]],
           target: str | None) -> tuple[dict[str, FormFields], list[str]]:
    """Each form post's fields, read from the page before it on the target (when given)."""
    posts = sorted({e for j in analysis.journeys for e, _ in j.steps if e.startswith("POST ")})
    if not posts:
        return {}, []
    if not target:
        return {}, [f"{p}: the log holds no request bodies; written with an empty form (csrf: auto adds the "
                    "page's CSRF token): fill in its fields, or convert again with --target URL to read them from "
                    "the site" for p in posts]
    before: dict[str, Counter[str]] = {}
    for journey in analysis.journeys:
        flat = [e for e, r in journey.steps for _ in range(r)]
        for i, endpoint in enumerate(flat):
            if endpoint in posts and i > 0 and flat[i - 1].startswith("GET "):
                before.setdefault(endpoint, Counter())[flat[i - 1]] += journey.visits
    out: dict[str, FormFields] = {}
    notes: list[str] = []
    with client() as http:
        for post in posts:
            if post not in before:
                notes.append(f"{post}: no page before it in the journeys; written with an empty form")
                continue
            page = before[post].most_common(1)[0][0]
            url = urljoin(target.rstrip("/") + "/", _example(names, steps_of[page][2]).lstrip("/"))
            pattern = re.compile(re.sub(r"\\\{\\\}", "[^/]+", re.escape(steps_of[post][1])))
            prefix = _singular(steps_of[post][1].strip("/").split("/")[-1] or "form") or "form"
            fields = read_form(url, pattern, prefix, http)
            if fields.note:
                notes.append(f"{post}: {fields.note}; written with an empty form (csrf: auto adds the page's CSRF "
                             "token): add its other fields, if any")
            else:
                out[post] = fields
    return out, notes


def _example(names: Names, written: str) -> str:
    """A written path with each variable replaced by its most common value."""
    from urllib.parse import quote

    def value(match: re.Match[str]) -> str:
        values = names.data.get(match.group(1)) or [""]
        return quote(str(values[0]), safe="")
    return re.sub(r"\{([a-z0-9_]+)\}", value, written)


def _header(analysis: Analysis, sources: str, target: str | None, form_notes: list[str],
            forms: dict[str, FormFields], missing: list[str]) -> str:
    a, c, s = analysis, analysis.counts, analysis.stats
    visits = a.sessions.visits
    lines = [(f"# Converted by `loadkit init --from-log {sources}`: {s.lines:,} lines "
              f"({', '.join(sorted(set(s.formats.values()))) or 'no format'}), {_utc(a.first)} .. {_utc(a.last)}."),
             (f"# Kept: {c.kept:,} page requests (GET and form POSTs answered below 400) in {visits:,} visits, "
              f"grouped by {'the session cookie' if s.session_cookie else 'address + user agent'} with a "
              "30-minute inactivity gap."),
             "# Never written: visitors' addresses, user agents, cookies, e-mail addresses, tokens, session ids."]
    dropped = [f"{c.assets:,} static assets", f"{c.bots:,} bot requests by user agent",
               (f"{c.robots_txt:,} robots.txt requests and the {a.sessions.robot_visits:,} visits of those "
                "visitors (crawlers)"), f"{c.client_errors:,} requests answered 4xx",
               (f"{c.secret_paths:,} requests to one-time or personal links (a token, an e-mail address or "
                "a reset/verify/unsubscribe link in the path)")]
    lines.append("# Dropped: " + "; ".join(dropped) + ".")
    if c.bot_names:
        lines.append("# Bots: " + ", ".join(f"{n} ({k:,})" for n, k in c.bot_names.most_common(8)) + ".")
    if c.methods:
        lines.append("# Not replayed (the log holds no bodies), other methods: "
                     + ", ".join(f"{m} ({n:,})" for m, n in c.methods.most_common()) + ".")
    if c.api_posts:
        lines.append("# Not replayed, POSTs to APIs (JSON bodies the log does not hold): "
                     + ", ".join(f"{p} ({n:,})" for p, n in c.api_posts.most_common(8)) + ".")
    t = a.templates
    if t.dropped_params:
        parts = []
        for why, n in t.dropped_params.most_common():
            shown = [k for k in t.dropped_param_names.get(why, Counter())
                     if re.fullmatch(r"[\w.\-\[\] ()]{1,40}", k) and not secret_value(k)][:8]
            parts.append(f"{why} ({n:,}: {', '.join(shown)})")
        lines.append("# Query parameters dropped (they do not change the page, or carry a secret; values never "
                     "kept): " + "; ".join(parts) + ".")
    if s.malformed:
        lines.append(f"# Malformed lines skipped: {s.malformed:,}. Samples (scrubbed):")
        lines.extend(f"#   {sample}" for sample in s.samples)
    shares = ", ".join(f"{j.visits * 100 / max(visits, 1):.1f}%" for j in a.journeys)
    lines.append(f"# Journeys: the {len(a.journeys)} most common paths ({shares} of visits); "
                 f"{a.moved:,} visits on rarer paths were counted with the nearest one"
                 + (f", {a.sessions.forgotten:,} rare paths forgotten to bound memory" if a.sessions.forgotten else "")
                 + ". A page repeated in a row is one step, repeated the visits' mean number of times.")
    for journey in a.journeys:
        if journey.think is not None:
            lines.append(f"#   pauses measured: median {journey.gap_median:g}s, p90 {journey.gap_p90:g}s, mean "
                         f"{journey.gap_mean:.1f}s -> think {journey.think[0]:g}s..{journey.think[1]:g}s "
                         "(uniform: the mean kept, the spread matched as a range allows; guessed shape).")
    lines.append("# Variables: numbers, UUIDs, hashes and the segments of a path part with more than 25 values; "
                 "data lists hold the most common values, repeated in proportion to their visits.")
    if missing:
        lines.append(f"# No value could be kept for: {', '.join(missing)} (their data lists say CHANGE-ME: fill them "
                     "in).")
    r = a.rates
    lines.append(f"# Everyday rate: {r.baseline:.3g} visitors/s (median over {r.baseline_basis}).")
    if r.spike is not None:
        sp = r.spike
        lines.append(f"# Spike {'(the window given with --spike)' if sp.given else 'found'} at {_utc(sp.start)}: "
                     f"{sp.ramp:.0f}s to a peak of {sp.peak:.3g} visitors/s (from {sp.baseline:.3g}/s), held "
                     f"{sp.hold:.0f}s, decay half-life {sp.half_life:.0f}s; {sp.visitors:,.0f} visitors above the "
                     "baseline.")
        lines.append("# Scale it: rate_scale (e.g. 2 for twice the moment), a higher peak, or replace peak with "
                     "audience: {viewers, visit_share, window} for the moment you expect.")
    else:
        lines.append(f"# No spike in the log (busiest 30 s: {r.busiest:.3g} visitors/s): the burst below is a guess "
                     "at that level; set the peak you expect, or point at a spike with --spike FROM..TO.")
    if not target:
        lines.append("# No target: an access log does not name its site. Set target: (or --target at run time); "
                     "without one loadkit runs against its demo storefront.")
    for note in form_notes:
        lines.append(f"# Form: {note}.")
    for post, fields in forms.items():
        for env, field_name in fields.env.items():
            lines.append(f"# Form {post}: field {field_name!r} is read from ${{{env}}}: export it (a test value).")
    return "\n".join(printable(line) for line in lines) + "\n"
