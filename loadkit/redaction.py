"""Secrets: read them from the environment at run time, keep them out of every artifact.

Scenario values written as ``${NAME}`` come from the environment when the run starts and are never saved;
URLs lose ``user:pass@`` and their query values, and headers that carry credentials are masked.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.parse import SplitResult, urlsplit

from .errors import ScenarioError
from .scenario import HTTP_METHODS, Scenario, mask_query
from .sensitive import SECRET_HEADERS
from .uri import ENV


def expand_env(text: str, environ: dict[str, str]) -> str:
    """Replace ``${NAME}`` with the environment's value; a missing variable is a scenario error."""
    def sub(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in environ:
            raise ScenarioError(f"the scenario reads ${{{key}}} but it is not set in the environment.",
                                f"export {key}=... before the run")
        return environ[key]
    return ENV.sub(sub, text)


def step_env_names(scenario: Scenario) -> set[str]:
    """Environment variables the steps read (``${NAME}`` in a path, a header, a form, a JSON body or a body)."""
    found: set[str] = set()
    for journey in scenario.journeys:
        for step in journey.steps:
            texts = [*step.headers.values(), *(step.form or {}).values(), step.body or ""]
            if step.method != "THINK":
                texts.append(step.path)
            if step.json_body is not None:
                texts.append(json.dumps(step.json_body))
            found.update(m.group(1) for text in texts for m in ENV.finditer(text))
    return found


def check_step_env(scenario: Scenario, environ: dict[str, str]) -> None:
    """Every ``${NAME}`` the steps read must be set before the load starts (not fail mid-run)."""
    missing = sorted(step_env_names(scenario) - set(environ))
    if missing:
        raise ScenarioError(f"the scenario reads ${{{missing[0]}}} but it is not set in the environment.",
                            "export " + " ".join(f"{name}=..." for name in missing) + " before the run")


def redact_url(url: str) -> str:
    """Drop ``user:pass@`` and query values from a URL (for artifacts and logs).

    Only the authority carries credentials (RFC 3986: its user-info ends at the authority's last ``@``); an
    ``@`` in the path, the query or the fragment (``/users/@alice``, ``#a@b``) is data and stays. A URL written
    without its ``//`` (``http:/user:pass@host``, ``user:pass@host:8080``) has no authority to urllib's parser,
    so its would-be authority is read as if the ``//`` were there, and its user-info dropped all the same
    (the rest stays as written: ``http:/host``).
    Raises ``ValueError`` for a URL urllib cannot split (an unclosed ``[``).
    """
    parts = urlsplit(url)
    if not parts.netloc and "@" in url:
        misplaced = _misplaced_authority(url, parts)
        if misplaced is not None:
            return misplaced
    if "@" not in parts.netloc and not parts.query:
        return url  # nothing to drop: as written (a rebuilt "http:/x" would read "http:///x")
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(f"{kv.split('=', 1)[0]}=***" if "=" in kv else kv for kv in parts.query.split("&")) \
        if parts.query else ""
    return parts._replace(netloc=netloc, query=query).geturl()


def _misplaced_authority(url: str, parts: SplitResult) -> str | None:
    """``url`` as written but for the user-info, when what it wrote before its path is an authority with
    user-info that lacks the ``//`` making it one (else None: a path such as ``/users/@alice`` is none)."""
    if parts.scheme in ("http", "https"):  # http:/user:pass@host/x, http:user:pass@host
        rest = url[len(parts.scheme) + 1:].lstrip("/")
        prefix = url[:len(url) - len(rest)]
    elif url.startswith("/"):
        return None
    else:  # user:pass@host:8080/x (urllib takes "user" for a scheme)
        rest, prefix = url, ""
    if "@" not in urlsplit("//" + rest).netloc:
        return None
    return prefix + redact_url("//" + rest).removeprefix("//")


def redacted_document(scenario: Scenario) -> dict[str, Any]:
    """The resolved scenario as plain data, with secrets redacted, for the run directory."""
    doc = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    if scenario.target:
        doc["target"] = redact_url(scenario.target)

    def scrub_headers(headers: dict[str, str]) -> dict[str, str]:
        return {k: (v if ENV.fullmatch(v.strip()) or k.lower() not in SECRET_HEADERS else "***")
                for k, v in headers.items()}

    doc["headers"] = scrub_headers(doc.get("headers", {}))
    for journey in doc.get("journeys", []):
        for step in journey.get("steps", []):
            if "headers" in step:
                step["headers"] = scrub_headers(step["headers"])
            for method in HTTP_METHODS:
                if isinstance(step.get(method), str):
                    step[method] = mask_query(step[method])
    return doc


def secret_header_names(scenario: Scenario) -> set[str]:
    """Lower-case names of the scenario-wide headers that carry secrets (read from the environment with
    ``${NAME}``, or credential headers such as Authorization): they go to the target's origin only."""
    return {key.lower() for key, raw in scenario.headers.items() if ENV.search(raw) or key.lower() in SECRET_HEADERS}


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of a known secret value replaced by ``***``."""
    for secret in secrets:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


_URL_IN_TEXT = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def redact_text(text: str, secrets: list[str]) -> str:
    """Free text (an exception's message, a traceback) with every URL in it redacted (:func:`redact_url`)
    and every known secret value replaced by ``***``."""
    return scrub(_URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text), secrets)


def secret_values(scenario: Scenario, target: str, headers: dict[str, str]) -> list[str]:
    """The values a run must never write down: header values read from the environment or carrying
    credentials (``headers``: the scenario-wide headers, already expanded), the target's password, and
    literal query values of the steps' paths. Longest first, so a secret containing another is masked whole.
    """
    found: list[str] = []
    for key, raw in scenario.headers.items():
        if ENV.search(raw) or key.lower() in SECRET_HEADERS:
            found.append(headers.get(key, raw))
    for journey in scenario.journeys:
        for step in journey.steps:
            found += [v for k, v in step.headers.items() if k.lower() in SECRET_HEADERS and "{" not in v]
            _, _, query = step.path.partition("?")
            found += [v for _, _, v in (kv.partition("=") for kv in query.split("&")) if v and "{" not in v]
    found += [os.environ[name] for name in step_env_names(scenario) if name in os.environ]
    password = urlsplit(target).password
    if password:
        found.append(password)
    return sorted({v for v in found if v}, key=len, reverse=True)
