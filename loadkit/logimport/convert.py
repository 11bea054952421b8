"""One pass over the logs: records -> kept requests -> visits -> journeys, rates and data lists."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..errors import UsageError
from .endpoints import API_POST, BOT, Templates, is_asset, is_bot
from .rates import Rates, Timeline, analyse
from .readers import ReadStats, read_logs
from .sessions import Journey, PathStats, Sessions, journeys


@dataclass
class Counts:
    """What was kept and dropped, by reason (for the header comment)."""

    requests: int = 0
    kept: int = 0
    robots_txt: int = 0
    robot_requests: int = 0  # requests of visitors who asked for /robots.txt (their visits are dropped)
    bots: int = 0
    bot_names: Counter[str] = field(default_factory=Counter)
    assets: int = 0
    methods: Counter[str] = field(default_factory=Counter)  # other methods, not replayed
    api_posts: Counter[str] = field(default_factory=Counter)  # POST to an API: path template -> count
    client_errors: int = 0
    secret_paths: int = 0
    redirect_posts: Counter[str] = field(default_factory=Counter)  # endpoint -> posts answered 3xx
    posts: Counter[str] = field(default_factory=Counter)


@dataclass
class Analysis:
    """Everything the scenario is written from."""

    stats: ReadStats
    counts: Counts
    templates: Templates
    sessions: Sessions
    journeys: list[Journey]
    moved: int  # visits counted with the nearest kept journey
    rates: Rates
    first: float
    last: float


def parse_window(text: str, first: float) -> tuple[float, float]:
    """``FROM..TO``: ISO times (``2026-11-27T20:15``, UTC unless a zone is given) or times of day
    (``20:15..20:45``, on the log's first day, UTC) -> epoch seconds."""
    parts = text.split("..")
    if len(parts) != 2:
        raise UsageError(f"--spike {text!r}: expected FROM..TO.", "e.g. --spike 20:15..20:45 or "
                                                                 "--spike 2026-11-27T20:15..2026-11-27T20:45")
    day = datetime.fromtimestamp(first, UTC).date().isoformat() if first else "1970-01-01"
    out = []
    for part in parts:
        part = part.strip()
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", part):
            part = f"{day}T{part.zfill(5) if len(part) < 5 else part}"
        try:
            moment = datetime.fromisoformat(part)
        except ValueError:
            raise UsageError(f"--spike {text!r}: {part!r} is not a time.",
                             "use HH:MM (UTC, the log's first day) or an ISO time") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)  # a naive time is read as UTC
        out.append(moment.timestamp())
    if out[1] <= out[0]:
        raise UsageError(f"--spike {text!r}: the window ends before it starts.", "give FROM..TO in order")
    return out[0], out[1]


def _bot_name(user_agent: str) -> str:
    """The word that names a bot (``Googlebot``), never the whole user agent."""
    match = BOT.search(user_agent)
    if match is None or not user_agent.strip("- "):
        return "(no user agent)"
    start = max(user_agent.rfind(c, 0, match.start()) for c in " (;,") + 1
    end = match.end()
    while end < len(user_agent) and (user_agent[end].isalnum() or user_agent[end] in "-_."):
        end += 1
    word = user_agent[start:end].rstrip("/")
    return word[:40] if re.fullmatch(r"[\w.\-]+", word) else match.group(0)


def analyse_logs(paths: list[Path], log_format: str = "auto", spike: str | None = None,
                 progress: bool | None = None) -> Analysis:
    """Read the logs once and build the journeys, rates and templates."""
    if not paths:
        raise UsageError("no log file given.", "pass one or more access logs: loadkit init --from-log access.log")
    stats = ReadStats()
    counts = Counts()
    templates = Templates()
    timeline = Timeline()
    sessions = Sessions(timeline.add)
    first = last = 0.0
    for rec in read_logs(paths, log_format, stats, progress):
        counts.requests += 1
        if not first:
            first = rec.t
        last = max(last, rec.t)
        key = rec.session or f"{rec.addr}\x00{rec.ua}"
        path, _, query = rec.target.partition("?")
        path = path.partition("#")[0] or "/"
        query = query.partition("#")[0]
        if path == "/robots.txt":
            counts.robots_txt += 1
            sessions.robot(key)
            continue
        if is_bot(rec.ua):
            counts.bots += 1
            if len(counts.bot_names) < 200:
                counts.bot_names[_bot_name(rec.ua)] += 1
            continue
        if is_asset(path):
            counts.assets += 1
            continue
        method = rec.method
        if method not in ("GET", "POST"):
            counts.methods[method[:12]] += 1
            continue
        if 400 <= rec.status < 500:
            counts.client_errors += 1
            continue
        pkey = templates.path_key(path)
        if pkey is None:
            counts.secret_paths += 1
            continue
        if method == "POST" and API_POST.search(path):
            counts.api_posts[pkey] += 1
            continue
        qkey = templates.query_key(pkey, query) if query else ""
        endpoint = f"{method} {pkey}" + (f"?{qkey}" if qkey else "")
        if method == "POST":
            counts.posts[endpoint] += 1
            if 300 <= rec.status < 400:
                counts.redirect_posts[endpoint] += 1
        counts.kept += 1
        sessions.add(key, rec.t, endpoint, rec.status)
    sessions.finish()
    if not counts.requests:
        raise UsageError(f"no request could be read from {', '.join(p.name for p in paths)} "
                         f"({stats.malformed} malformed lines).",
                         "check the files are access logs, or name their format with --log-format")
    _retemplate(templates, sessions, counts)
    found, moved = journeys(sessions.paths)
    window = parse_window(spike, first) if spike else None
    return Analysis(stats, counts, templates, sessions, found, moved, analyse(timeline, window), first, last)


def retemplate_endpoint(templates: Templates, endpoint: str) -> str:
    """``GET /products/lamp?q`` made early, in the final tree (``GET /products/{}?q``)."""
    method, _, rest = endpoint.partition(" ")
    path, sep, query = rest.partition("?")
    return f"{method} {templates.retemplate(path)}{sep}{query}"


def _retemplate(templates: Templates, sessions: Sessions, counts: Counts) -> None:
    """Paths, query values and counters recorded before the tree merged some segments: re-keyed, and
    repeats of a page in a row folded again."""
    paths: dict[tuple[str, ...], PathStats] = {}
    for key, stats in sessions.paths.items():
        folded: list[str] = []
        repeats: list[int] = []
        for endpoint, r in zip(key, stats.repeats, strict=False):
            endpoint = retemplate_endpoint(templates, endpoint)
            if folded and folded[-1] == endpoint:
                repeats[-1] += r
            else:
                folded.append(endpoint)
                repeats.append(r)
        new = tuple(folded)
        target = paths.get(new)
        fresh = PathStats(count=stats.count, repeats=repeats, gaps=stats.gaps)
        if target is None:
            paths[new] = fresh
        else:
            target.merge(fresh)
    sessions.paths = paths
    values = templates.query_values
    templates.query_values = {}
    for (pkey, name), v in values.items():
        new_key = (templates.retemplate(pkey), name)
        if new_key in templates.query_values:
            templates.query_values[new_key].merge(v)
        else:
            templates.query_values[new_key] = v
    for counter in (counts.posts, counts.redirect_posts):
        merged: Counter[str] = Counter()
        for endpoint, n in counter.items():
            merged[retemplate_endpoint(templates, endpoint)] += n
        counter.clear()
        counter.update(merged)
    api: Counter[str] = Counter()
    for pkey, n in counts.api_posts.items():
        api[templates.retemplate(pkey)] += n
    counts.api_posts = api
