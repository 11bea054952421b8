"""Reading a browser recording: the HAR file's entries, the recorded site, and the step each kept request
becomes."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ScenarioError


@dataclass
class RecordedStep:
    """One recorded request to the site as the scenario will write it (filled in by the later stages)."""

    method: str
    path: str
    status: int
    form: dict[str, str] | None = None
    json_body: Any = None
    body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    extract: dict[str, dict[str, str]] = field(default_factory=dict)
    response_text: str = ""
    url: str = ""  # the full recorded URL, without its fragment
    mime: str = ""  # the response's media type
    path_out: str = ""  # the path as the scenario writes it ({+link}, {id}, ${TOKEN})
    think_before: float = 0.0  # since the previous request of any kind (page assets included) ended


def load_entries(path: Path) -> list[dict[str, Any]]:
    """The entries of the HAR file at ``path``, in the order they started; ScenarioError if it is none."""
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
    return sorted(entries, key=started_at)


def started_at(entry: dict[str, Any]) -> float:
    """When an entry started, in seconds since the epoch (0 when the recording does not say)."""
    text = str(entry.get("startedDateTime", "")).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def recorded_site(entries: list[dict[str, Any]]) -> str:
    """The recorded site: the origin of the first HTML page, else the most requested origin."""
    def origin(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"

    for entry in entries:
        mime = str(entry.get("response", {}).get("content", {}).get("mimeType", ""))
        if "html" in mime and entry.get("request", {}).get("method") == "GET":
            return origin(entry["request"]["url"])
    return Counter(origin(e["request"]["url"]) for e in entries).most_common(1)[0][0]


def header_map(headers: list[dict[str, str]]) -> dict[str, str]:
    """HAR headers as a dict by lower-case name."""
    return {str(h.get("name", "")).lower(): str(h.get("value", "")) for h in headers or []}


def env_name(header: str) -> str:
    """The environment variable for a header or field name: ``x-api-key`` -> ``X_API_KEY``."""
    return re.sub(r"[^A-Z0-9]+", "_", header.upper()).strip("_")


__all__ = ["RecordedStep", "env_name", "header_map", "load_entries", "recorded_site", "started_at"]
