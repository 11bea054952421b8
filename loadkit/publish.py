"""Getting the verdict and the reports out of the machine that ran the load.

On a Kubernetes pod, a compose service or a CI runner, the run directory dies with the container. Two ways
out, both after the reports are written and neither able to change the verdict's exit code:

- :func:`upload_reports` PUTs the reports to a URL prefix (``--upload URL``, ``LOADKIT_UPLOAD_URL``): each
  file's URL is the prefix's path plus the file's name, with the prefix's query string kept (a token or a
  shared signature that authorises the prefix), ``user:pass@`` sent as HTTP Basic. Retries with backoff,
  bounded; what failed is said in one line. The query string and the credentials are never printed or
  saved: messages name :func:`shown_url` only.
- :func:`verdict_record` is the verdict in a few hundred bytes of JSON: one line on stdout (the last line of
  ``loadkit run``) and, when ``LOADKIT_TERMINATION_LOG`` names a file, that file (Kubernetes shows it as the
  pod's termination message, capped at 4 KiB: :func:`fit_record` keeps the record under the cap).

Standard library only (urllib): this runs in a process gevent may have patched (``locust -f``), where
urllib's sockets are gevent's and everything else behaves the same.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["TERMINATION_LOG_MAX", "UPLOADED_FILES", "UploadResult", "fit_record", "publish_run", "shown_url",
           "upload_problem", "upload_reports", "verdict_record", "write_termination_log"]

UPLOADED_FILES = ("report.html", "summary.json", "junit.xml", "summary.md")  # whichever of them exist
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".json": "application/json",
                 ".xml": "application/xml; charset=utf-8", ".md": "text/markdown; charset=utf-8"}
TERMINATION_LOG_MAX = 4096  # bytes: Kubernetes keeps at most this much of a container's termination message
ATTEMPTS = 4  # per file: the first try and three retries
BACKOFF_S = (1.0, 2.0, 4.0)  # waits before the retries: at most 7 s of waiting per file
TIMEOUT_S = 30.0  # per request (connect, and each read of the answer)
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})  # the server may answer differently later


def upload_problem(url: str) -> str | None:
    """Why ``url`` cannot be an upload prefix (a sentence), or None when it can."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if parts.fragment:
        return "has a #fragment, which HTTP never sends"
    return None


def shown_url(url: str) -> str:
    """The URL as it may be printed or saved: no ``user:pass@``, no query string (a presigned URL's query
    string is its credential), no fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an invalid URL)"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def file_url(prefix: str, name: str) -> str:
    """The URL a file is PUT to: the prefix's path as a folder, then ``name``; the query string kept."""
    parts = urlsplit(prefix)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path + quote(name), parts.query, ""))


def _basic_auth(prefix: str) -> dict[str, str]:
    parts = urlsplit(prefix)
    if parts.username is None:
        return {}
    token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(token).decode("ascii")}


def _secrets(prefix: str) -> list[str]:
    """The parts of the prefix no message may carry (a library's error text could quote the URL)."""
    parts = urlsplit(prefix)
    found = [parts.query] + [value for _, _, value in (kv.partition("=") for kv in parts.query.split("&"))]
    found += [parts.username or "", parts.password or "", unquote(parts.password or "")]
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


@dataclass
class FileResult:
    """How one file's upload went."""

    name: str
    ok: bool
    attempts: int
    problem: str = ""  # why the last attempt failed ("HTTP 403", "connection refused")


@dataclass
class UploadResult:
    """How the upload went: one entry per file tried."""

    url: str  # shown_url of the prefix
    files: list[FileResult] = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        """The files that did not get there."""
        return [f for f in self.files if not f.ok]

    def line(self) -> str:
        """One line for the console: what got there, and what did not with its reason."""
        if not self.files:
            return f"upload to {self.url}: no report to upload"
        if not self.failed:
            return f"uploaded {', '.join(f.name for f in self.files)} to {self.url}"
        tries = ", ".join(f"{f.name}: {f.problem} after {f.attempts} "
                          f"{'try' if f.attempts == 1 else 'tries'}" for f in self.failed)
        return (f"upload to {self.url} failed for {len(self.failed)} of {len(self.files)} files ({tries}); "
                "the reports are still in the run directory and the verdict stands")


def _put(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """PUT ``body``; the answer's status (HTTPError's too: every status is an answer here)."""
    request = urllib.request.Request(url, data=body, method="PUT", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # http(s) only: checked by upload_problem
            answer.read()
            return int(answer.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error.reason, str):
        error = error.reason
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "timed out"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return str(text)


def upload_reports(run_dir: Path, prefix: str, *, names: Sequence[str] = UPLOADED_FILES,
                   attempts: int = ATTEMPTS, backoff: Sequence[float] = BACKOFF_S, timeout: float = TIMEOUT_S,
                   sleep: Callable[[float], None] = time.sleep) -> UploadResult:
    """PUT each report of ``run_dir`` that exists to ``prefix`` + its name. Never raises for the network or
    the server: the result says what failed. A 2xx answer is success; 408, 425, 429, 500, 502, 503 and 504
    answers (``RETRY_STATUSES``) and network errors are tried again (``attempts`` in all, waiting ``backoff``
    between); every other answer (501, 505 and the other 5xx too) is final."""
    result = UploadResult(url=shown_url(prefix))
    secrets = _secrets(prefix)
    auth = _basic_auth(prefix)
    for name in names:
        path = run_dir / name
        if not path.is_file():
            continue
        body = path.read_bytes()
        headers = {"Content-Type": CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
                   # Azure Blob Storage needs it on a PUT (a container SAS works as a prefix); others ignore it
                   "x-ms-blob-type": "BlockBlob", **auth}
        done = FileResult(name=name, ok=False, attempts=0)
        for attempt in range(max(1, attempts)):
            if attempt:
                sleep(backoff[min(attempt - 1, len(backoff) - 1)] if backoff else 0.0)
            done.attempts = attempt + 1
            try:
                status = _put(file_url(prefix, name), body, headers, timeout)
            except (OSError, ValueError, urllib.error.URLError) as error:
                done.problem = _reason(error)
                continue
            if 200 <= status < 300:
                done.ok, done.problem = True, ""
                break
            done.problem = f"HTTP {status}"
            if status not in RETRY_STATUSES:
                break
        for secret in secrets:  # belt and braces: no credential reaches the console through an error text
            done.problem = done.problem.replace(secret, "***")
        result.files.append(done)
    return result


def verdict_record(summary: Mapping[str, Any], exit_code: int, run_dir: Path | str) -> dict[str, Any]:
    """The short verdict a pod, a log line or a script reads: verdict, headline, exit code, capacity and
    the run directory. ``summary`` is summary.json's document."""
    capacity = dict(summary.get("capacity") or {})
    keep = ("found", "arrivals_per_s", "requests_per_s", "headroom", "limited_by", "figure")
    return {"verdict": summary.get("verdict"), "headline": summary.get("headline", ""), "exit_code": int(exit_code),
            "capacity": {k: capacity[k] for k in keep if k in capacity}, "run_dir": str(run_dir)}


def fit_record(record: Mapping[str, Any], limit: int = TERMINATION_LOG_MAX) -> str:
    """``record`` as one line of JSON of at most ``limit`` bytes (UTF-8). Too long (a long headline, a deep
    run directory): the headline is shortened first (ending in "..."), then the capacity's words
    (``limited_by``) and the run directory are; the verdict and the exit code always stay."""
    doc = dict(record)
    doc["capacity"] = dict(doc.get("capacity") or {})  # shortened below: the caller's record stays whole

    def encoded() -> str:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))

    def too_long() -> bool:
        return len(encoded().encode()) > limit

    for key in ("headline", "limited_by", "run_dir"):
        holder = doc if key != "limited_by" else doc["capacity"]
        while too_long() and holder.get(key):
            value = str(holder[key])
            excess = len(encoded().encode()) - limit
            raw = value.encode()
            # cut whole characters; JSON escapes may take more room than the raw text: cut again if so
            cut = raw[:max(0, len(raw) - excess - 3)].decode("utf-8", "ignore")
            holder[key] = cut + "..." if cut else ""
    text = encoded()
    if len(text.encode()) > limit:  # only the essentials left
        text = json.dumps({"verdict": doc.get("verdict"), "exit_code": doc.get("exit_code")},
                          separators=(",", ":"))
    return text


def publish_run(run_dir: Path, summary: Mapping[str, Any], exit_code: int, upload: str | None,
                environ: Mapping[str, str], say: Callable[[str], None]) -> str:
    """After a run's reports are written: upload them (when ``upload`` is a URL prefix), write the
    termination log (when ``LOADKIT_TERMINATION_LOG`` is set); ``say`` gets one line for each (a failure
    as a warning). Returns the verdict's JSON line for stdout. Never raises for the network or the file."""
    if upload:
        done = upload_reports(run_dir, upload)
        say(("warning: " if done.failed else "") + done.line())
    record = verdict_record(summary, exit_code, run_dir)
    problem = write_termination_log(record, environ)
    if problem:
        say("warning: " + problem)
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def write_termination_log(record: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """Write the record to the file ``LOADKIT_TERMINATION_LOG`` names (as written, not atomically: it is
    often a file Kubernetes mounted, which cannot be replaced by a rename). Returns a warning line when
    that fails, else None; nothing to do without the variable."""
    path = environ.get("LOADKIT_TERMINATION_LOG", "").strip()
    if not path:
        return None
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(fit_record(record))
    except OSError as exc:
        return f"cannot write LOADKIT_TERMINATION_LOG {path} ({exc.strerror or exc}); the verdict stands"
    return None

