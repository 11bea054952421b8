"""``loadkit init --from-har``: a browser recording (HAR 1.2) turned into a scenario that replays.

One journey per recording. Every request to the recorded site becomes a step; gaps between requests
become think times; requests to other hosts, analytics beacons and static assets are left out (and
listed in the file's header). Every value the recording shows flowing from a response into a later
request (a link followed, a form's action, a hidden field, a JSON field, an id in a path) becomes an
``extract`` anchored on its context in the page that held it (the link's text, the form's id, the field's
``name``, the JSON path) and a ``{var}`` (``{+var}`` for a whole link, RFC 6570's reserved expansion);
each extractor is run on the recorded response and refused, with a note, unless it finds exactly the
recorded value. Secrets and personal data (``Authorization``, cookies the recording did not receive, card
numbers, e-mail addresses, tokens, passwords) become ``${ENV_VAR}`` references and are never copied.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

import yaml
from selectolax.lexbor import LexborHTMLParser

from .errors import ScenarioError
from .extract import NotFound, extract_value, normalized_text
from .scenario import Extractor

BEACON = re.compile(r"/(collect|analytics|beacon|track(ing)?|pixel|telemetry|metrics|log|events?|rum)(/|\?|$)|"
                    r"\.(gif|png)\?.*(utm_|event|track)", re.IGNORECASE)
ASSET = re.compile(r"\.(css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|otf|eot|mp4|webm)(\?|$)",
                   re.IGNORECASE)
KEEP_HEADERS = {"x-requested-with"}  # browser defaults (Accept, User-Agent, ...) are left to the client
SECRET_HEADERS = {"authorization", "proxy-authorization", "x-api-key", "api-key"}
TOKEN = "[^\"'&<>\\s;,/?#]+"  # a value ends at a quote, a tag, a separator, white space or a '/', '?', '#'
MIN_DYNAMIC = 6  # shorter values (1, yes, en) are too common to be something the site handed out
THINK_MIN_S = 0.5


def _looks_dynamic(value: str) -> bool:
    """An id or a token rather than a word: it has a digit, or is long (a random token)."""
    return len(value) >= MIN_DYNAMIC and (any(c.isdigit() for c in value) or len(value) >= 16)



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
    url: str = ""  # the full recorded URL, without its fragment
    mime: str = ""  # the response's media type
    path_out: str = ""  # the path as the scenario writes it ({+link}, {id}, ${TOKEN})
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
        step.url = url.partition("#")[0]
        step.mime = str(content.get("mimeType", "")).lower()
        step.response_text = str(content.get("text") or "") if content.get("encoding") != "base64" else ""
        for h in response.get("headers") or []:
            if str(h.get("name", "")).lower() == "set-cookie":
                cookies_seen.add(str(h.get("value", "")).split("=", 1)[0].strip())
        steps.append(step)
    if not steps:
        raise ScenarioError(f"{path}: no request to {site} is left once other hosts, beacons and assets are "
                            "set aside.", "record a visit to the site itself") from None
    flows = _resolve(steps)
    document = _document(steps, site, name or _name_from(path), secrets)
    return _comments(path, site, dropped_hosts, dropped_beacons, dropped_assets, secrets, flows) + \
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)


SECRET_NAME = re.compile(r"pass(word|wd)?|pwd|secret|token|api[-_]?key|auth|session|sess_?id|^sid$|card|"
                         r"cc[-_]?num|^pan$|cvv|cvc|csc|iban|e-?mail|phone|otp", re.IGNORECASE)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
JWT = re.compile(r"^eyJ[\w-]+\.[\w-]+\.[\w-]*$")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def secret_kind(name: str, value: str) -> str | None:
    """What a sent value is that must not be copied ("a card number", "an e-mail address"...), or None."""
    compact = re.sub(r"[ -]", "", value)
    if compact.isdigit() and 13 <= len(compact) <= 19 and _luhn(compact):
        return "a card number"
    if EMAIL.match(value):
        return "an e-mail address"
    if JWT.match(value):
        return "a token"
    if value and SECRET_NAME.search(name):
        return "a credential or personal value"
    return None


def _slug(text: str, limit: int = 30) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].strip("_")


class _Flows:
    """Finds where each value a request sends came from, and writes the extractor that finds it again."""

    def __init__(self, steps: list[_Step]) -> None:
        self.steps = steps
        self.names: set[str] = set()
        self.extracted: dict[str, str] = {}  # value -> variable, for values extracted once and sent again
        self.links: dict[str, str] = {}  # absolute URL -> variable holding a link to it
        self.notes: list[str] = []  # extractors refused (they did not reproduce the recorded value)
        self.secrets: dict[str, str] = {}  # environment variable -> what it holds
        self._parsed: dict[int, LexborHTMLParser] = {}

    def name(self, base: str) -> str:
        base = _slug(base) or "value"
        if base[0].isdigit():
            base = f"v_{base}"
        name, n = base, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def html(self, step: _Step) -> LexborHTMLParser | None:
        if "html" not in step.mime or not step.response_text:
            return None
        parsed = self._parsed.get(id(step))
        if parsed is None:
            parsed = self._parsed[id(step)] = LexborHTMLParser(step.response_text)
        return parsed

    def keep(self, source: _Step, base: str, extractor: dict[str, Any], expected: Any, what: str) -> str | None:
        """The variable for ``extractor`` on ``source`` if it finds exactly ``expected`` there, else None."""
        try:
            found = extract_value(Extractor(**extractor), source.response_text)
        except (NotFound, ValueError) as exc:
            found = f"nothing ({exc})"
        if found != expected:
            self.notes.append(f"{what}: no extractor found {expected!r} again in {source.method} {source.path} "
                              f"(tried {extractor}, got {found!r}); it is sent as recorded")
            return None
        var = self.name(base)
        source.extract[var] = extractor
        self.extracted[expected] = var
        return var

    def link(self, i: int) -> str | None:
        """A link clicked or a form submitted on an earlier page -> ``{+var}`` for the whole path."""
        step = self.steps[i]
        if not re.search(r"\d", step.path) and not any(len(seg) >= 16 for seg in step.path.split("/")):
            return None  # a fixed address (/basket/): nothing the site handed out
        if step.url in self.links:  # the same page again (a redirect back to it, a second visit)
            return f"{{+{self.links[step.url]}}}"
        for source in reversed(self.steps[:i]):
            parsed = self.html(source)
            if parsed is None:
                continue
            if step.method == "GET":
                nodes = [n for n in parsed.css("a[href]")
                         if urljoin(source.url, n.attributes.get("href") or "").partition("#")[0] == step.url]
                if not nodes:
                    continue
                node = next((n for n in nodes if normalized_text(n.text())), nodes[0])
                href = node.attributes.get("href") or ""
                text = normalized_text(node.text())
                if text:
                    same = [n for n in parsed.css("a") if normalized_text(n.text()) == text]
                    extractor: dict[str, Any] = {"css": "a", "text": text, "attr": "href"}
                    base = f"{text}_link"
                else:
                    same = parsed.css("a[href]")
                    extractor = {"css": "a[href]", "attr": "href"}
                    base = "link"
            else:
                nodes = [n for n in parsed.css("form[action]")
                         if urljoin(source.url, n.attributes.get("action") or "") == step.url]
                if not nodes:
                    continue
                node = nodes[0]
                href = node.attributes.get("action") or ""
                form_id = node.attributes.get("id") or ""
                selector = f"form#{form_id}" if re.fullmatch(r"[A-Za-z][\w-]*", form_id) else "form[action]"
                same = parsed.css(selector)
                extractor = {"css": selector, "attr": "action"}
                base = f"{form_id or 'form'}_action"
            index = next((k for k, n in enumerate(same) if n == node), 0)
            if index:
                extractor["index"] = index
            var = self.keep(source, base, extractor, href, f"{step.method} {step.path}")
            if var is None:
                return None
            self.links[step.url] = var
            return f"{{+{var}}}"
        return None

    def field(self, i: int, name: str, value: str, where: str) -> str | None:
        """A form or query value an earlier page held in a field of that name -> ``{var}``."""
        if value in self.extracted:
            return f"{{{self.extracted[value]}}}"
        if not value:
            return None
        for source in reversed(self.steps[:i]):
            parsed = self.html(source)
            if parsed is None:
                continue
            quoted = name.replace("\\", "\\\\").replace('"', '\\"')
            nodes = parsed.css(f'input[name="{quoted}"]')
            hits = [k for k, n in enumerate(nodes) if n.attributes.get("value") == value]
            if not hits:
                continue
            hidden = (nodes[hits[0]].attributes.get("type") or "").lower() == "hidden"
            if not hidden and not _looks_dynamic(value):
                return None  # a visible field's default (quantity 1): the visitor's choice, kept as sent
            extractor: dict[str, Any] = {"css": f'input[name="{quoted}"]', "attr": "value"}
            if hits[0]:
                extractor["index"] = hits[0]
            var = self.keep(source, name, extractor, value, f"{where} {name}")
            return None if var is None else f"{{{var}}}"
        return None

    def json_value(self, i: int, value: Any) -> str | None:
        """A JSON value an earlier JSON response held -> the JSON path that finds it."""
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not _looks_dynamic(str(value)):
            return None
        if value in self.extracted:
            return f"{{{self.extracted[value]}}}"
        for source in reversed(self.steps[:i]):
            if "json" not in source.mime:
                continue
            try:
                document = json.loads(source.response_text)
            except ValueError:
                continue
            path = _find_json(document, value)
            if path is not None:
                var = self.keep(source, path.rsplit(".", 1)[-1] if not path.rsplit(".", 1)[-1].isdigit() else path,
                                {"json": path}, value, f"JSON value {path}")
                return None if var is None else f"{{{var}}}"
        return None

    def text_value(self, i: int, value: str, where: str) -> str | None:
        """A value found in an earlier response's text -> a regex anchored on the text just before it."""
        if value in self.extracted:
            return f"{{{self.extracted[value]}}}"
        if not (_looks_dynamic(value) or (where == "path" and value.isdigit())):
            return None
        for source in reversed(self.steps[:i]):
            at = source.response_text.find(value)
            if at < 0:
                continue
            before = source.response_text[max(0, at - 40):at]
            prefix = re.split(r"[\n>]", before)[-1]  # the text just before, within the same tag
            if len(prefix) > 30:  # keep whole words: start after the first space of the last 30 chars
                prefix = prefix[-30:]
                prefix = prefix[prefix.find(" ") + 1:] if " " in prefix else prefix
            if not prefix.strip():
                continue
            # the value's own characters only: never a following '/', quote or separator
            value_class = r"\d+" if value.isdigit() else TOKEN
            regex = re.escape(prefix).replace("\\ ", " ") + f"({value_class})"
            return _wrap(self.keep(source, _guess_name(prefix, where), {"regex": regex}, value, f"{where} value"))
        return None


def _wrap(var: str | None) -> str | None:
    return None if var is None else f"{{{var}}}"


def _find_json(node: Any, value: Any, path: str = "") -> str | None:
    """The dotted path of the first leaf equal to ``value``."""
    if isinstance(node, dict):
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, list):
        items = [(str(k), v) for k, v in enumerate(node)]
    else:
        return path if node == value and path else None
    for key, child in items:
        found = _find_json(child, value, f"{path}.{key}" if path else key)
        if found is not None:
            return found
    return None


def _env_ref(flows: _Flows, name: str, kind: str) -> str:
    """``${NAME}`` for a value that must not be copied; the header comment says what to export."""
    var = _env_name(name) or "SECRET"
    flows.secrets.setdefault(var, f"{kind} ({name})")
    return f"${{{var}}}"


def _resolve(steps: list[_Step]) -> _Flows:
    """Every value a request sends that an earlier response handed out becomes an extractor + ``{var}``;
    secrets and personal data become ``${ENV}`` references; the rest is sent as recorded."""
    flows = _Flows(steps)
    for i, step in enumerate(steps):
        parts = urlsplit(step.path)
        whole = flows.link(i) if i else None
        if whole is not None:
            step.path_out = whole
        else:
            segments = []
            for seg in parts.path.split("/"):
                var = (flows.json_value(i, unquote(seg)) or flows.text_value(i, unquote(seg), "path")) \
                    if seg and i else None
                segments.append(var or seg)
            query = []
            for key, value in parse_qsl(parts.query, keep_blank_values=True):
                out = (flows.field(i, key, value, "query") or flows.json_value(i, value)) if i else None
                if out is None and i:
                    out = flows.text_value(i, value, key)
                kind = secret_kind(key, value)
                if out is None and kind is not None:
                    out = _env_ref(flows, key, kind)
                query.append(f"{quote(key, safe='')}={out if out is not None else quote(value, safe='')}")
            step.path_out = "/".join(segments) + (f"?{'&'.join(query)}" if query else "")
        if step.form is not None:
            form: dict[str, str] = {}
            for key, value in step.form.items():
                out = flows.field(i, key, value, "form field") if i else None
                if out is None and i:
                    out = flows.text_value(i, value, key)
                kind = secret_kind(key, value)
                if out is None and kind is not None:
                    out = _env_ref(flows, key, kind)
                form[key] = out if out is not None else value
            step.form = form
        if step.json_body is not None:
            step.json_body = _json_out(flows, i, step.json_body, "")
    return flows


def _json_out(flows: _Flows, i: int, value: Any, key: str) -> Any:
    if isinstance(value, dict):
        return {k: _json_out(flows, i, v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_out(flows, i, v, key) for v in value]
    out = flows.json_value(i, value) if i else None
    if out is None and isinstance(value, str) and i:
        out = flows.field(i, key, value, "JSON field") or flows.text_value(i, value, key)
    kind = secret_kind(key, str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if out is None and kind is not None:
        out = _env_ref(flows, key or "value", kind)
    return out if out is not None else value


def _guess_name(prefix: str, where: str) -> str:
    """A readable variable name from the text before a value: ``name="csrf_token" value="`` -> csrf_token."""
    found = re.findall(r"(?:name|id|data-[\w-]+)\s*=\s*[\"']?([A-Za-z_][\w-]*)", prefix)
    if found:
        return found[-1]
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", prefix)
    return words[-1] if words else where


def _document(steps: list[_Step], site: str, name: str,
              secrets: dict[str, str]) -> dict[str, Any]:
    journey: list[dict[str, Any]] = []
    for step in steps:
        if step.think_before >= THINK_MIN_S and journey:
            journey.append({"think": f"{round(step.think_before, 1)}s"})
        out: dict[str, Any] = {step.method.lower(): step.path_out or step.path}
        if step.headers:
            out["headers"] = dict(step.headers)
        if step.form is not None:
            out["form"] = step.form
        elif step.json_body is not None:
            out["json"] = step.json_body
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
              secrets: dict[str, str], flows: _Flows) -> str:
    lines = [f"# Converted by `loadkit init --from-har {path.name}`: one journey, the recorded visit to {site}.",
             "# Review it: the traffic below is a small placeholder burst; set the peak you expect.",
             "# Values the site handed out (links clicked, form fields, ids, tokens) are extracted from the page",
             "# that held them (each extractor was checked against the recorded page) and sent back as {var};",
             "# a whole link is {+var} (RFC 6570: its '/' kept), one path segment or query value {var} (encoded)."]
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
    for var, what in sorted(flows.secrets.items()):
        lines.append(f"# The recording sent a {what}; it is read from ${{{var}}} at run time, never copied: "
                     "export it (a test value) before `loadkit run`.")
    for note in flows.notes:
        lines.append(f"# Not extracted: {note}.")
    return "\n".join(lines) + "\n"


__all__ = ["convert_har"]
