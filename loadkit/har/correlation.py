"""Correlation: every value a request sends that an earlier response handed out (a link followed, a form's
action, a hidden field, a JSON field, an id in a path) becomes an extractor on the page that held it, checked
against the recording, and a ``{var}``; secrets and personal data become ``${ENV}`` references."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from ..extract import NotFound, extract_value, normalized_text
from ..scenario import Extractor
from ..uri import fresh_name
from .recording import RecordedStep, env_name
from .sensitive import secret_kind

TOKEN = "[^\"'&<>\\s;,/?#]+"  # a value ends at a quote, a tag, a separator, white space or a '/', '?', '#'
MIN_DYNAMIC = 6  # shorter values (1, yes, en) are too common to be something the site handed out


def _looks_dynamic(value: str) -> bool:
    """An id or a token rather than a word: it has a digit, or is long (a random token)."""
    return len(value) >= MIN_DYNAMIC and (any(c.isdigit() for c in value) or len(value) >= 16)


def _slug(text: str, limit: int = 30) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit].strip("_")


class Flows:
    """Finds where each value a request sends came from, and writes the extractor that finds it again."""

    def __init__(self, steps: list[RecordedStep]) -> None:
        self.steps = steps
        self.names: set[str] = set()
        self.extracted: dict[str, str] = {}  # value -> variable, for values extracted once and sent again
        self.links: dict[str, str] = {}  # absolute URL -> variable holding a link to it
        self.notes: list[str] = []  # extractors refused (they did not reproduce the recorded value)
        self.secrets: dict[str, str] = {}  # environment variable -> what it holds
        self._parsed: dict[int, LexborHTMLParser] = {}

    def name(self, base: str) -> str:
        return fresh_name(_slug(base), self.names)

    def html(self, step: RecordedStep) -> LexborHTMLParser | None:
        if "html" not in step.mime or not step.response_text:
            return None
        parsed = self._parsed.get(id(step))
        if parsed is None:
            parsed = self._parsed[id(step)] = LexborHTMLParser(step.response_text)
        return parsed

    def keep(self, source: RecordedStep, base: str, extractor: dict[str, Any], expected: Any, what: str) -> str | None:
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


def _env_ref(flows: Flows, name: str, kind: str) -> str:
    """``${NAME}`` for a value that must not be copied; the header comment says what to export."""
    var = env_name(name) or "SECRET"
    flows.secrets.setdefault(var, f"{kind} ({name})")
    return f"${{{var}}}"


def resolve(steps: list[RecordedStep]) -> Flows:
    """Every value a request sends that an earlier response handed out becomes an extractor + ``{var}``;
    secrets and personal data become ``${ENV}`` references; the rest is sent as recorded."""
    flows = Flows(steps)
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


def _json_out(flows: Flows, i: int, value: Any, key: str) -> Any:
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
    found: list[str] = re.findall(r"(?:name|id|data-[\w-]+)\s*=\s*[\"']?([A-Za-z_][\w-]*)", prefix)
    if found:
        return found[-1]
    words: list[str] = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", prefix)
    return words[-1] if words else where


__all__ = ["Flows", "resolve"]
