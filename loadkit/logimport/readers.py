"""Access-log readers: one :class:`Record` per request, streamed, several files merged in time order.

Formats (``--log-format``; ``auto``, the default, looks at each file's first line):

- ``combined`` / ``common``: nginx's and Apache's default text formats (``common`` lacks the referer and
  user agent). Extra quoted fields after the user agent are allowed; one that holds a ``Cookie`` header
  (``... "$http_cookie"``) gives the session cookie.
- ``alb``: AWS Application Load Balancer access logs (space separated text, not JSON).
- JSON lines, one object per line, with a preset naming the fields: ``nginx-json`` (nginx
  ``log_format ... escape=json`` with nginx's variable names), ``caddy`` (Caddy v2's ``http.log.access``),
  ``traefik`` (Traefik's JSON access log), ``gcp`` (Google Cloud HTTP(S) load balancer / Cloud Logging's
  ``httpRequest``). ``json:time=ts,method=req.method,url=req.uri,...`` names the fields of any other JSON log
  (dotted paths into nested objects; the keys are ``time method url request status ua addr cookie session``;
  keys not given keep the ``nginx-json`` names).

Files ending in ``.gz`` are decompressed on the fly. Each file is read once, line by line; files are merged
by time through a heap over one iterator per file, so memory does not grow with the log. A line that
cannot be read is counted and skipped, never fatal; a few are kept (scrubbed of addresses, e-mail
addresses and query values) as samples for the output's header.
"""

from __future__ import annotations

import calendar
import gzip
import heapq
import io
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import UsageError
from .privacy import scrub_line

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                      "Nov", "Dec"), start=1)}
# host ident user [time] "request" status bytes ["referer" "agent"] [more "quoted" fields]
CLF = re.compile(r'^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) \S+'
                 r'(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?(.*)$')
EXTRA_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
# type time elb client:port target:port t1 t2 t3 elb_status target_status received sent "request" "agent" ...
ALB = re.compile(r'^(?:https?|h2|grpcs|wss?) (\S+) \S+ (\S+) \S+ \S+ \S+ \S+ (\d{3}|-) \S+ \S+ \S+ '
                 r'"((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"')
SESSION_COOKIE = re.compile(r"^(sid|sess|session|sessionid|session_id|phpsessid|jsessionid|connect\.sid|"
                            r"asp\.net_sessionid|_[\w-]*_session|[\w-]*session[\w-]*)$", re.IGNORECASE)
SAMPLES = 3

FIELDS = ("time", "method", "url", "request", "status", "ua", "addr", "cookie", "session")
PRESETS: dict[str, dict[str, str]] = {
    "nginx-json": {"time": "time_iso8601|time_local|msec|timestamp|time", "method": "request_method",
                   "url": "request_uri", "request": "request", "status": "status", "ua": "http_user_agent",
                   "addr": "remote_addr", "cookie": "http_cookie", "session": ""},
    "caddy": {"time": "ts", "method": "request.method", "url": "request.uri", "request": "", "status": "status",
              "ua": "request.headers.User-Agent.0", "addr": "request.client_ip|request.remote_ip",
              "cookie": "request.headers.Cookie.0", "session": ""},
    "traefik": {"time": "StartUTC|time", "method": "RequestMethod", "url": "RequestPath", "request": "",
                "status": "DownstreamStatus|OriginStatus", "ua": "request_User-Agent",
                "addr": "ClientHost", "cookie": "request_Cookie", "session": ""},
    "gcp": {"time": "timestamp|receiveTimestamp", "method": "httpRequest.requestMethod",
            "url": "httpRequest.requestUrl", "request": "", "status": "httpRequest.status",
            "ua": "httpRequest.userAgent", "addr": "httpRequest.remoteIp", "cookie": "", "session": ""},
}
TEXT_FORMATS = ("combined", "common", "alb")


@dataclass(slots=True)
class Record:
    """One request from a log: what the conversion needs and nothing more."""

    t: float  # seconds since the epoch
    method: str
    target: str  # path and query, as sent
    status: int
    ua: str
    addr: str  # the visitor's address: used to tell visitors apart in memory, never written
    session: str  # the session cookie's value when the log has one, else ""


@dataclass
class ReadStats:
    """What reading saw: lines, malformed lines (with scrubbed samples), formats per file."""

    lines: int = 0
    malformed: int = 0
    samples: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)  # file name -> format read
    session_cookie: int = 0  # records that carried a session cookie

    def bad(self, line: str) -> None:
        self.malformed += 1
        if len(self.samples) < SAMPLES:
            self.samples.append(scrub_line(line.rstrip("\n"))[:160])


def _fast_clf_time(text: str) -> float:
    """``10/Oct/2000:13:55:36 -0700`` -> epoch seconds (strptime is ten times slower)."""
    day, month, rest = text.split("/", 2)
    year, hh, mm, rest2 = rest.split(":", 3)
    ss, _, zone = rest2.partition(" ")
    t = calendar.timegm((int(year), MONTHS[month], int(day), int(hh), int(mm), int(ss)))
    if zone and zone[0] in "+-":
        offset = (int(zone[1:3]) * 60 + int(zone[3:5])) * 60
        t -= offset if zone[0] == "+" else -offset
    return float(t)


def parse_time(value: Any) -> float:
    """Epoch seconds (or milliseconds), ISO 8601, or nginx/Apache's ``dd/Mon/yyyy:HH:MM:SS +zone``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        return number / 1000.0 if number > 1e11 else number
    text = str(value).strip()
    if not text:
        raise ValueError("no time")
    if text[0].isdigit() and "/" in text[:6]:
        return _fast_clf_time(text)
    try:
        return parse_time(float(text))
    except ValueError:
        pass
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if "." in text:  # Python's fromisoformat takes at most 6 fractional digits (Traefik writes 9)
        head, _, tail = text.partition(".")
        digits = re.match(r"\d*", tail)
        frac = digits.group(0) if digits else ""
        text = f"{head}.{frac[:6].ljust(6, '0')}{tail[len(frac):]}"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return calendar.timegm(moment.timetuple()) + moment.microsecond / 1e6
    return moment.timestamp()


def session_from_cookie(header: str) -> str:
    """The value of the first session-like cookie in a ``Cookie`` header ("" when there is none)."""
    if not header or header == "-":
        return ""
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and value and SESSION_COOKIE.match(name):
            return f"{name}={value}"
    return ""


def _request_line(text: str) -> tuple[str, str]:
    method, _, rest = text.partition(" ")
    target = rest.rsplit(" ", 1)[0] if rest.endswith(("HTTP/1.0", "HTTP/1.1", "HTTP/2.0", "HTTP/2", "HTTP/3")) \
        else rest
    if not method or not target:
        raise ValueError("no request line")
    return method, target


def _origin_form(target: str) -> str:
    """``https://shop.test:443/a?b`` -> ``/a?b`` (load balancers log the absolute form)."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        return rest[slash:] if slash >= 0 else "/"
    return target


def parse_clf(line: str) -> Record:
    """One line of the combined or common log format."""
    match = CLF.match(line)
    if match is None:
        raise ValueError("not a combined/common log line")
    addr, when, request, status, _referer, ua, rest = match.groups()
    method, target = _request_line(request)
    session = ""
    if rest:
        for extra in EXTRA_QUOTED.findall(rest):
            session = session or session_from_cookie(extra)
    return Record(_fast_clf_time(when), method, _origin_form(target), int(status), ua or "", addr, session)


def parse_alb(line: str) -> Record:
    """One line of an AWS Application Load Balancer access log."""
    match = ALB.match(line)
    if match is None:
        raise ValueError("not an ALB log line")
    when, client, status, request, ua = match.groups()
    method, target = _request_line(request)
    return Record(parse_time(when), method, _origin_form(target), int(status) if status != "-" else 0, ua,
                  client.rpartition(":")[0] or client, "")


def _get(obj: Any, spec: str) -> Any:
    """The value at the first of ``a.b|c`` (dotted paths into objects and lists) that is present."""
    for path in spec.split("|"):
        if not path:
            continue
        node = obj.get(path) if isinstance(obj, dict) else None  # a flat key with dots or dashes first
        if node is None:
            node = obj
            for key in path.split("."):
                if isinstance(node, dict):
                    node = node.get(key)
                elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
                    node = node[int(key)]
                else:
                    node = None
                if node is None:
                    break
        if node is not None and node != "":
            return node
    return None


def json_parser(fields: dict[str, str]) -> Callable[[str], Record]:
    """A parser for JSON lines with the given field names (see :data:`PRESETS`)."""
    def parse(line: str) -> Record:
        obj = json.loads(line)
        if not isinstance(obj, dict):
            raise TypeError("not a JSON object")
        method, target = _get(obj, fields["method"]), _get(obj, fields["url"])
        if method is None or target is None:
            request = _get(obj, fields["request"])
            if request is None:
                raise ValueError("no method or URL")
            method, target = _request_line(str(request))
        when = _get(obj, fields["time"])
        if when is None:
            raise ValueError("no time")
        status = _get(obj, fields["status"])
        session = str(_get(obj, fields["session"]) or "")
        if not session:
            session = session_from_cookie(str(_get(obj, fields["cookie"]) or ""))
        addr = _get(obj, fields["addr"])
        return Record(parse_time(when), str(method).upper(), _origin_form(str(target)),
                      int(status) if status not in (None, "-") else 0, str(_get(obj, fields["ua"]) or ""),
                      str(addr or ""), session)
    return parse


def parse_format_spec(spec: str) -> tuple[str, dict[str, str] | None]:
    """``auto`` | ``combined`` | ``common`` | ``alb`` | a JSON preset | ``json:key=field,...`` (or
    ``PRESET:key=field,...``) -> (name, JSON field map or None)."""
    name, _, overrides = spec.partition(":")
    name = name.strip().lower()
    if name in ("auto", *TEXT_FORMATS) and not overrides:
        return name, None
    base = "nginx-json" if name == "json" else name
    if base not in PRESETS:
        raise UsageError(f"unknown log format {spec!r}.",
                         "use auto, combined, common, alb, " + ", ".join(PRESETS) + " or json:time=FIELD,url=FIELD,...")
    fields = dict(PRESETS[base])
    for pair in filter(None, (p.strip() for p in overrides.split(","))):
        key, eq, value = pair.partition("=")
        if not eq or key not in FIELDS:
            raise UsageError(f"log format {spec!r}: {pair!r} is not KEY=FIELD with KEY one of {', '.join(FIELDS)}.",
                             "e.g. json:time=ts,method=req.method,url=req.uri,status=code")
        fields[key] = value
    return (name if name != "json" else "json"), fields


def detect(first_line: str) -> tuple[str, dict[str, str] | None]:
    """The format of a file from its first line."""
    text = first_line.strip()
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except ValueError:
            return "nginx-json", PRESETS["nginx-json"]
        if isinstance(obj, dict):
            if isinstance(obj.get("request"), dict) and "uri" in obj["request"]:
                return "caddy", PRESETS["caddy"]
            if "RequestMethod" in obj or "RequestPath" in obj:
                return "traefik", PRESETS["traefik"]
            if isinstance(obj.get("httpRequest"), dict):
                return "gcp", PRESETS["gcp"]
        return "nginx-json", PRESETS["nginx-json"]
    if ALB.match(text):
        return "alb", None
    match = CLF.match(text)
    if match is not None and match.group(6) is None:
        return "common", None
    return "combined", None


class _Source:
    """One log file: its lines as records, in the order written (roughly time order)."""

    def __init__(self, path: Path, spec: str, stats: ReadStats) -> None:
        self.path = path
        self.stats = stats
        try:
            self.raw: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed when the iterator ends
        except FileNotFoundError:
            raise UsageError(f"{path}: no such log file.", "give the path of an access log") from None
        except OSError as exc:
            raise UsageError(f"{path}: cannot be read ({exc.strerror}).", "check the path and its permissions") \
                from None
        magic = self.raw.read(2)
        self.raw.seek(0)
        binary: BinaryIO = gzip.GzipFile(fileobj=self.raw) if magic == b"\x1f\x8b" else self.raw  # type: ignore[assignment]
        self.text = io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline=None)
        self.name, self.fields = parse_format_spec(spec)
        self.size = path.stat().st_size

    def position(self) -> int:
        """Bytes of the file (compressed, for .gz) read so far."""
        try:
            return self.raw.tell()
        except (OSError, ValueError):
            return self.size

    def records(self) -> Iterator[Record]:
        stats = self.stats
        parser: Callable[[str], Record] | None = None
        try:
            for line in self.text:
                if not line.strip():
                    continue
                if parser is None:
                    if self.name == "auto":
                        self.name, self.fields = detect(line)
                    stats.formats[self.path.name] = self.name
                    parser = json_parser(self.fields) if self.fields is not None else \
                        parse_alb if self.name == "alb" else parse_clf
                stats.lines += 1
                try:
                    record = parser(line)
                except (ValueError, KeyError, TypeError, IndexError, OverflowError):
                    stats.bad(line)
                    continue
                if record.session:
                    stats.session_cookie += 1
                yield record
        except (OSError, EOFError) as exc:  # a truncated .gz: what was read counts
            stats.bad(f"<{self.path.name}: unreadable from here on: {exc}>")
        finally:
            self.text.close()
            self.raw.close()  # a GzipFile does not close the file it was given


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, sources: list[_Source], enabled: bool | None = None) -> None:
        self.sources = sources
        self.total = max(1, sum(s.size for s in sources))
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0

    def tick(self, lines: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.last < 0.25:
            return
        self.last = now
        done = min(1.0, sum(s.position() for s in self.sources) / self.total)
        bar = "#" * int(done * 30)
        sys.stderr.write(f"\rreading logs [{bar:<30}] {done:4.0%} {lines:,} lines")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()


def read_logs(paths: list[Path], spec: str = "auto", stats: ReadStats | None = None,
              progress: bool | None = None) -> Iterator[Record]:
    """Every request of every file, merged in time order (a heap over one iterator per file)."""
    stats = stats if stats is not None else ReadStats()
    parse_format_spec(spec)  # a bad --log-format fails before any file is opened
    sources = [_Source(p, spec, stats) for p in paths]
    bar = _Progress(sources, progress)
    try:
        merged = heapq.merge(*(s.records() for s in sources), key=lambda r: r.t)
        for i, record in enumerate(merged):
            if not i % 20000:
                bar.tick(stats.lines)
            yield record
    finally:
        bar.close()
