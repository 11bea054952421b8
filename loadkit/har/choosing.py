"""Choosing the requests that become steps: the recorded site's own pages and calls, in order, with the
pause before each; other hosts, analytics beacons and static assets set aside (and counted for the file's
header); credential headers and cookies the site did not set noted as secrets."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..sensitive import SECRET_HEADERS
from .recording import RecordedStep, env_name, header_map, started_at

BEACON = re.compile(r"/(collect|analytics|beacon|track(ing)?|pixel|telemetry|metrics|log|events?|rum)(/|\?|$)|"
                    r"\.(gif|png)\?.*(utm_|event|track)", re.IGNORECASE)
ASSET = re.compile(r"\.(css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|otf|eot|mp4|webm)(\?|$)",
                   re.IGNORECASE)
KEEP_HEADERS = {"x-requested-with"}  # browser defaults (Accept, User-Agent, ...) are left to the client


@dataclass
class Chosen:
    """The steps of the recorded visit, and what was left out of it."""

    steps: list[RecordedStep] = field(default_factory=list)
    dropped_hosts: Counter[str] = field(default_factory=Counter)
    dropped_beacons: list[str] = field(default_factory=list)
    dropped_assets: list[str] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # header -> environment variable
    cookies_seen: set[str] = field(default_factory=set)  # cookie names the site set during the recording


def choose_requests(entries: list[dict[str, Any]], site: str) -> Chosen:
    """The requests to ``site`` that a visitor made (entries in the order they started)."""
    site_netloc = urlsplit(site).netloc
    chosen = Chosen()
    last_end: float | None = None  # when the latest request so far, kept or not, ended
    for entry in entries:
        request, response = entry.get("request", {}), entry.get("response", {})
        url = str(request.get("url", ""))
        parts = urlsplit(url)
        started = started_at(entry)
        think = 0.0 if last_end is None else started - last_end
        last_end = max(last_end or started, started + float(entry.get("time") or 0) / 1000.0)
        if parts.scheme not in ("http", "https"):
            continue
        if parts.netloc.rpartition("@")[2] != site_netloc:
            chosen.dropped_hosts[parts.netloc.rpartition("@")[2]] += 1
            continue
        path_q = parts.path + (f"?{parts.query}" if parts.query else "")
        if BEACON.search(path_q):
            chosen.dropped_beacons.append(path_q)
            continue
        if ASSET.search(parts.path) and request.get("method", "GET") == "GET":
            chosen.dropped_assets.append(path_q)
            continue
        step = RecordedStep(method=str(request.get("method", "GET")).upper(), path=path_q or "/",
                            status=int(response.get("status") or 0), think_before=think)
        _headers(step, header_map(request.get("headers", [])), chosen)
        _body(step, request.get("postData") or {})
        content = response.get("content") or {}
        step.url = url.partition("#")[0]
        step.mime = str(content.get("mimeType", "")).lower()
        step.response_text = str(content.get("text") or "") if content.get("encoding") != "base64" else ""
        for h in response.get("headers") or []:
            if str(h.get("name", "")).lower() == "set-cookie":
                chosen.cookies_seen.add(str(h.get("value", "")).split("=", 1)[0].strip())
        chosen.steps.append(step)
    return chosen


def _headers(step: RecordedStep, headers: dict[str, str], chosen: Chosen) -> None:
    """Credential headers and cookies the site did not set become secrets; a few headers are kept."""
    for key, value in headers.items():
        if key == "cookie":
            names = {c.split("=", 1)[0].strip() for c in value.split(";") if "=" in c}
            if names - chosen.cookies_seen:  # sent before the site set it: a login or consent cookie
                chosen.secrets.setdefault("cookie", "COOKIE")
        elif key in SECRET_HEADERS:
            chosen.secrets.setdefault(key, env_name(key))
        elif key in KEEP_HEADERS:
            step.headers[key.title()] = value


def _body(step: RecordedStep, post: dict[str, Any]) -> None:
    """The request body as a form, JSON or text."""
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


__all__ = ["ASSET", "BEACON", "KEEP_HEADERS", "Chosen", "choose_requests"]
