"""``loadkit init --from-har``: a browser recording (HAR 1.2) turned into a scenario.

One journey per recording. Every request to the recorded site becomes a step; gaps between requests
become think times; requests to other hosts, analytics beacons and static assets are left out (and
listed in a comment); values the site sent earlier (CSRF tokens, ids) become ``extract`` + ``{var}``;
credentials (``Authorization``, cookies the recording did not receive) become ``${ENV_VAR}`` references
and are never copied.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from .errors import ScenarioError

BEACON = re.compile(r"/(collect|analytics|beacon|track(ing)?|pixel|telemetry|metrics|log|events?|rum)(/|\?|$)|"
                    r"\.(gif|png)\?.*(utm_|event|track)", re.IGNORECASE)
ASSET = re.compile(r"\.(css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|otf|eot|mp4|webm)(\?|$)",
                   re.IGNORECASE)
KEEP_HEADERS = {"x-requested-with"}  # browser defaults (Accept, User-Agent, ...) are left to the client
SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "api-key"}
TOKEN = "[^\"'&<>\\s;,]+"  # a value ends at a quote, a tag, a separator or white space
MIN_DYNAMIC = 6  # shorter values (1, yes, en) are too common to be something the site handed out


def _looks_dynamic(value: str) -> bool:
    """An id or a token rather than a word: it has a digit, or is long (a random token)."""
    return len(value) >= MIN_DYNAMIC and (any(c.isdigit() for c in value) or len(value) >= 16)
THINK_MIN_S = 0.5


@dataclass
class _Step:
    method: str
    path: str
    status: int
    form: dict[str, str] | None = None
    json_body: Any = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extract: dict[str, dict[str, str]] = field(default_factory=dict)
    response_text: str = ""
    think_before: float = 0.0  # since the previous request of any kind (page assets included) ended


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["log"]["entries"]
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such HAR file.", "record one with the browser's developer tools "
                                                          "(Network, Save all as HAR)") from None
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise ScenarioError(f"{path}: not a HAR file (expected JSON with log.entries).",
                            "export the recording again as HAR") from None
    if not isinstance(entries, list) or not entries:
        raise ScenarioError(f"{path}: the recording holds no requests.", "record a visit, then export it") from None
    return entries


def _started(entry: dict[str, Any]) -> float:
    text = str(entry.get("startedDateTime", "")).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _site(entries: list[dict[str, Any]]) -> str:
    """The recorded site: the origin of the first HTML page, else the most requested origin."""
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    for entry in entries:
        mime = str(entry.get("response", {}).get("content", {}).get("mimeType", ""))
        if "html" in mime and entry.get("request", {}).get("method") == "GET":
            return origin(entry["request"]["url"])
    return Counter(origin(e["request"]["url"]) for e in entries).most_common(1)[0][0]


def _header_map(headers: list[dict[str, str]]) -> dict[str, str]:
    return {str(h.get("name", "")).lower(): str(h.get("value", "")) for h in headers or []}


def _env_name(header: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", header.upper()).strip("_")


def convert_har(path: Path, name: str | None = None) -> str:
    """The scenario YAML (with explanatory comments) for the HAR file at ``path``."""
    entries = sorted(_load(path), key=_started)
    site = _site(entries)
    site_netloc = urlsplit(site).netloc
    dropped_hosts: Counter[str] = Counter()
    dropped_beacons: list[str] = []
    dropped_assets: list[str] = []
    steps: list[_Step] = []
    secrets: dict[str, str] = {}  # header -> environment variable
    cookies_seen: set[str] = set()  # cookie names the site set during the recording
    last_end: float | None = None  # when the latest request so far, kept or not, ended
    for entry in entries:
        request, response = entry.get("request", {}), entry.get("response", {})
        url = str(request.get("url", ""))
        parts = urlsplit(url)
        started = _started(entry)
        think = 0.0 if last_end is None else started - last_end
        last_end = max(last_end or started, started + float(entry.get("time") or 0) / 1000.0)
        if parts.scheme not in ("http", "https"):
            continue
        if parts.netloc.rpartition("@")[2] != site_netloc:
            dropped_hosts[parts.netloc.rpartition("@")[2]] += 1
            continue
        path_q = parts.path + (f"?{parts.query}" if parts.query else "")
        if BEACON.search(path_q):
            dropped_beacons.append(path_q)
            continue
        if ASSET.search(parts.path) and request.get("method", "GET") == "GET":
            dropped_assets.append(path_q)
            continue
        headers = _header_map(request.get("headers", []))
        step = _Step(method=str(request.get("method", "GET")).upper(), path=path_q or "/",
                     status=int(response.get("status") or 0), think_before=think)
        for key, value in headers.items():
            if key in SECRET_HEADERS:
                secrets.setdefault(key, _env_name(key))
            elif key == "cookie":
                names = {c.split("=", 1)[0].strip() for c in value.split(";") if "=" in c}
                if names - cookies_seen:  # sent before the site set it: a login or consent cookie
                    secrets.setdefault("cookie", "COOKIE")
            elif key in KEEP_HEADERS:
                step.headers[key.title()] = value
        post = request.get("postData") or {}
        mime = str(post.get("mimeType", "")).split(";")[0].strip().lower()
        text = post.get("text")
        if mime == "application/x-www-form-urlencoded":
            step.form = dict(parse_qsl(text or "", keep_blank_values=True)) if text is not None else \
                {str(p.get("name")): str(p.get("value", "")) for p in post.get("params") or []}
        elif mime.endswith("json") and text:
            try:
                step.json_body = json.loads(text)
            except json.JSONDecodeError:
                step.body = text
        elif text:
            step.body = text
        content = response.get("content") or {}
        step.response_text = str(content.get("text") or "") if content.get("encoding") != "base64" else ""
        for h in response.get("headers") or []:
            if str(h.get("name", "")).lower() == "set-cookie":
                cookies_seen.add(str(h.get("value", "")).split("=", 1)[0].strip())
        steps.append(step)
    if not steps:
        raise ScenarioError(f"{path}: no request to {site} is left once other hosts, beacons and assets are "
                            "set aside.", "record a visit to the site itself") from None
    variables = _dynamic_values(steps)
    document = _document(steps, variables, site, name or _name_from(path), secrets)
    return _comments(path, site, dropped_hosts, dropped_beacons, dropped_assets, secrets) + \
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


def _values_of(step: _Step) -> list[tuple[str, str]]:
    """(where, value) pairs a request sends that could be dynamic: form and query values, path segments."""
    out: list[tuple[str, str]] = []
    parts = urlsplit(step.path)
    out += [("query", v) for _, v in parse_qsl(parts.query, keep_blank_values=True)]
    out += [("path", seg) for seg in parts.path.split("/") if seg]
    if step.form:
        out += [("form", v) for v in step.form.values()]
    return [(w, v) for w, v in out if _looks_dynamic(v)]


def _dynamic_values(steps: list[_Step]) -> dict[str, str]:
    """Values requests send that an earlier response of the site handed out -> a variable name.

    Each becomes an ``extract`` (a regex built from the text just before the value) on the first step
    whose response contained it, and a ``{var}`` wherever it is sent later.
    """
    variables: dict[str, str] = {}
    names: Counter[str] = Counter()
    for i, step in enumerate(steps):
        for where, value in _values_of(step):
            if value in variables:
                continue
            source = next((s for s in steps[:i] if value in s.response_text), None)
            if source is None:
                continue
            at = source.response_text.index(value)
            before = source.response_text[max(0, at - 40):at]
            prefix = re.split(r"[\n>]", before)[-1]  # the text just before, within the same tag
            if len(prefix) > 30:  # keep whole words: start after the first space of the last 30 chars
                prefix = prefix[-30:]
                prefix = prefix[prefix.find(" ") + 1:] if " " in prefix else prefix
            if not prefix.strip():
                continue
            base = re.sub(r"[^a-z0-9]+", "_", _guess_name(prefix, where).lower()).strip("_") or "value"
            names[base] += 1
            var = base if names[base] == 1 else f"{base}_{names[base]}"
            variables[value] = var
            source.extract[var] = {"regex": re.escape(prefix).replace("\\ ", " ") + f"({TOKEN})"}
    return variables


def _guess_name(prefix: str, where: str) -> str:
    """A readable variable name from the text before a value: ``name="csrf_token" value="`` -> csrf_token."""
    found = re.findall(r"(?:name|id|data-[\w-]+)\s*=\s*[\"']?([A-Za-z_][\w-]*)", prefix)
    if found:
        return found[-1]
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", prefix)
    return words[-1] if words else where


def _substitute(text: str, variables: dict[str, str]) -> str:
    """A whole value that the site handed out -> its ``{var}`` (never a part of a longer value)."""
    var = variables.get(text)
    return f"{{{var}}}" if var is not None else text


def _substitute_path(path: str, variables: dict[str, str]) -> str:
    parts = urlsplit(path)
    segments = "/".join(_substitute(seg, variables) for seg in parts.path.split("/"))
    if not parts.query:
        return segments
    query = "&".join(f"{k}={_substitute(v, variables)}" for k, v in parse_qsl(parts.query, keep_blank_values=True))
    return f"{segments}?{query}"


def _substitute_json(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _substitute(value, variables)
    if isinstance(value, list):
        return [_substitute_json(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _substitute_json(v, variables) for k, v in value.items()}
    return value


def _document(steps: list[_Step], variables: dict[str, str], site: str, name: str,
              secrets: dict[str, str]) -> dict[str, Any]:
    journey: list[dict[str, Any]] = []
    for step in steps:
        if step.think_before >= THINK_MIN_S and journey:
            journey.append({"think": f"{round(step.think_before, 1)}s"})
        out: dict[str, Any] = {step.method.lower(): _substitute_path(step.path, variables)}
        if step.headers:
            out["headers"] = {k: _substitute(v, variables) for k, v in step.headers.items()}
        if step.form is not None:
            out["form"] = {k: _substitute(v, variables) for k, v in step.form.items()}
        elif step.json_body is not None:
            out["json"] = _substitute_json(step.json_body, variables)
        elif step.body is not None:
            out["body"] = step.body
        if step.extract:
            out["extract"] = step.extract
        if step.status and step.status != 200:
            out["expect"] = {"status": step.status}
        journey.append(out)
    document: dict[str, Any] = {
        "name": name,
        "description": f"Converted from a browser recording of {site}.",
        "target": site,
    }
    if secrets:  # credentials come from the environment at run time, for every request
        document["headers"] = {"-".join(w.capitalize() for w in header.split("-")): f"${{{var}}}"
                               for header, var in sorted(secrets.items())}
    document["traffic"] = {"profile": "burst", "baseline": "1/s", "peak": "5/s", "lead_in": "10s", "ramp": "20s",
                           "hold": "30s", "decay_half_life": "10s", "decay": "20s", "recovery": "20s"}
    document["journeys"] = [{"name": "recorded", "steps": journey}]
    document["slos"] = [{"metric": "p95", "below": "1s"}, {"metric": "error_rate", "below": "1%"}]
    return document


def _name_from(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._") or "recorded"


def _comments(path: Path, site: str, hosts: Counter[str], beacons: list[str], assets: list[str],
              secrets: dict[str, str]) -> str:
    lines = [f"# Converted by `loadkit init --from-har {path.name}`: one journey, the recorded visit to {site}.",
             "# Review it: the traffic below is a small placeholder burst; set the peak you expect, and turn",
             "# literal ids in paths into data-driven {placeholders} (see docs/scenario-format.md)."]
    if hosts:
        lines.append("# Left out, other hosts (loadkit loads the target only): "
                     + ", ".join(f"{h} ({n})" for h, n in hosts.most_common()))
    if beacons:
        lines.append(f"# Left out, analytics beacons: {', '.join(sorted(set(beacons))[:10])}")
    if assets:
        lines.append(f"# Left out, static assets ({len(assets)} requests): {', '.join(sorted(set(assets))[:10])}")
    for header, var in sorted(secrets.items()):
        lines.append(f"# The recording sent a {header} header; it is read from ${{{var}}} at run time, never "
                     "copied: export it before `loadkit run`.")
    return "\n".join(lines) + "\n"


__all__ = ["convert_har"]
