"""A visitor's HTTP client: geventhttpclient's ``HTTPClient`` (the library under Locust's FastHttpUser), the
visitor's own cookie jar, and every request reported to Locust's ``events.request``.

Locust's ``FastHttpSession`` wraps the same client in a user agent that builds compatibility request and
response objects, handles retries and redirects, and turns bad statuses into exceptions. loadkit does its own
redirects and checks and never retries, and that wrapping was about a third of the load generator's CPU per
request (``benchmarks/bench_client.py``), which caps the open model's rate. So a visitor talks to
``HTTPClient`` directly; cookies still go through the standard library's ``http.cookiejar``, as they did in
Locust's session.
"""

from __future__ import annotations

import base64
import time
import zlib
from collections.abc import Mapping
from functools import lru_cache
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import gevent
import gevent.ssl
from geventhttpclient.client import HTTPClient, HTTPClientPool
from geventhttpclient.header import Headers
from geventhttpclient.url import URL
from geventhttpclient.useragent import CompatRequest, CompatResponse

from .identity import USER_AGENT

try:  # brotli comes with geventhttpclient; without it "br" is simply not offered
    import brotli
except ImportError:  # pragma: no cover - depends on the installation
    brotli = None

ACCEPT_ENCODING = "gzip, deflate, br" if brotli is not None else "gzip, deflate"
# what a body that does not decode raises (it is then kept as sent)
_DECODE_ERRORS: tuple[type[Exception], ...] = (zlib.error,) if brotli is None else (zlib.error, brotli.error)


class Response:
    """One request's outcome: the status (0 when nothing came back), headers, the decoded body, and the
    transport error if any (with a status, the body broke off after the headers)."""

    __slots__ = ("method", "url", "status_code", "headers", "content", "error", "start_time", "response_time",
                 "length")

    def __init__(self, method: str, url: str, start_time: float) -> None:
        self.method = method
        self.url = url
        self.status_code = 0
        self.headers: Mapping[str, Any] = {}
        self.content = b""
        self.error: BaseException | None = None
        self.start_time = start_time
        self.response_time = 0.0  # milliseconds, sending to the last byte of the body
        self.length = 0  # bytes of body received (before decoding)


@lru_cache(maxsize=4096)
def _parse(url: str) -> tuple[URL, str]:
    """geventhttpclient's parsed URL and the quoted origin-form request target (both reused: visitors ask
    for the same URLs again and again)."""
    parsed = URL(url)
    return parsed, parsed.quoted_uri


@lru_cache(maxsize=1024)
def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit."""
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class _OneContext:
    """A TLS context factory that builds each context once per process, as a browser loads its trust store
    once. geventhttpclient asks for a context per connection pool, that is per new visitor, and building
    one (loading the CA bundle) costs about 17 ms of CPU: a new HTTPS visitor each time would cap one
    process at some sixty visitors a second."""

    def __init__(self, verify: bool) -> None:
        self.verify = verify
        self._made: dict[str | None, gevent.ssl.SSLContext] = {}

    def __call__(self, cafile: str | None = None) -> gevent.ssl.SSLContext:
        context = self._made.get(cafile)
        if context is None:
            context = gevent.ssl.create_default_context(cafile=cafile)
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = gevent.ssl.CERT_NONE
            self._made[cafile] = context
        return context


class _OneAttemptClient(HTTPClient):
    """geventhttpclient's client without its hidden retries. When a connection closes or resets before the
    first byte of the answer, ``HTTPClient.request`` sends an idempotent request again, up to the pool's
    size + 1 more times, and that budget is the only use of the pool's ``size`` (its semaphore and queue were
    sized at construction). A size of -1 leaves no extra attempt, so a request loadkit sends is a request the
    site sees once, and a dropped one is one failure. An idle keep-alive connection the site has closed is
    still noticed before reuse (the pool checks it), so this costs nothing on the request path."""

    def __init__(self, host: str, **kw: Any) -> None:
        super().__init__(host, **kw)
        self._connection_pool.size = -1  # no retry budget; tests/test_faults.py checks it stays so


class _Pool(HTTPClientPool):
    """``HTTPClientPool`` making ``_OneAttemptClient``s (one client per host and port, as the base does)."""

    def get_client(self, url: str | URL) -> HTTPClient:
        if not isinstance(url, URL):
            url = URL(url)
        key = url.host, url.port
        try:
            return self.clients[key]
        except KeyError:
            client = self.clients[key] = _OneAttemptClient.from_url(url, **self.client_args)
            return client


class Connections:
    """How a load process's visitors reach the target: each visitor with its own keep-alive connection
    (``connections: new``, opened on its first request, closed when it leaves), or all of them through one
    pool of keep-alive connections (``connections: shared``). The target URL is read once here: its
    credentials, if any, become an HTTP Basic header and leave the URL."""

    def __init__(self, target: str, shared: bool, verify_tls: bool, timeout: float, pool_size: int) -> None:
        parts = urlsplit(target)
        self.auth: str | None = None
        if parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
            self.auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
        self.base = urlunsplit(parts).rstrip("/")
        self.origin = _origin(self.base)  # the credentials go here only
        self.args: dict[str, Any] = {
            "network_timeout": timeout, "connection_timeout": timeout, "insecure": not verify_tls,
            "ssl_context_factory": _OneContext(verify_tls),
            # set once per client, not per request: a scenario's own User-Agent header replaces it per request
            "headers": {"Accept-Encoding": ACCEPT_ENCODING, "User-Agent": USER_AGENT}}
        self.shared = _Pool(concurrency=pool_size, **self.args) if shared else None

    def for_visitor(self) -> HTTPClientPool:
        """The client pool a new visitor sends through."""
        return self.shared if self.shared is not None else _Pool(concurrency=1, **self.args)


class VisitorClient:
    """One visitor's view of the site: a cookie jar and the connections it sends through."""

    def __init__(self, connections: Connections, request_event: Any) -> None:
        self.base, self.auth = connections.base, connections.auth
        self.connections = connections
        self.pool = connections.for_visitor()
        self._jar: CookieJar | None = None  # made when a site first sets a cookie (a jar comes with a lock)
        self.fire = request_event.fire

    @property
    def cookiejar(self) -> CookieJar:
        """The cookies this visitor holds."""
        if self._jar is None:
            self._jar = CookieJar()
        return self._jar

    def send(self, method: str, url: str, headers: Mapping[str, str] | None = None,
             body: str | bytes | None = None) -> Response:
        """Send one request (``url``: a path on the target, or an absolute URL) and read the whole answer.
        Never raises for a transport problem: it is the response's ``error``."""
        absolute = "://" in url
        full = url if absolute else self.base + url
        response = Response(method, full, time.time())
        started = time.perf_counter()
        try:
            parsed, target = _parse(full)
            # the target's Basic credentials go to the target's origin only, never to another allowed host
            auth = self.auth if not absolute or _origin(full) == self.connections.origin else None
            sent: Mapping[str, str] | Headers | None = headers
            if auth is not None or (self._jar is not None and len(self._jar)):
                sent = self._with_credentials(method, full, headers, auth)
            answer = self.pool.get_client(parsed).request(method, target, body=body, headers=sent)
        except (Exception, gevent.Timeout) as error:  # noqa: BLE001 - failing is the answer; GreenletExit is not
            response.error = error
            response.response_time = (time.perf_counter() - started) * 1000
            return response
        response.status_code = answer.status_code
        response.headers = answer._headers_index
        try:
            raw = answer.read()
        except (Exception, gevent.Timeout) as error:  # noqa: BLE001 - the status line came, the body broke off
            response.error = error
            raw = b""
        finally:
            answer.release()
        response.response_time = (time.perf_counter() - started) * 1000
        response.length = len(raw)
        response.content = _decode(raw, answer.get("content-encoding"))
        if "set-cookie" in answer:
            jar, request = self.cookiejar, CompatRequest(full, method)
            jar.extract_cookies(CompatResponse(answer), request)  # type: ignore[arg-type]
        return response

    def _with_credentials(self, method: str, url: str, headers: Mapping[str, str] | None,
                          auth: str | None) -> Headers:
        merged = Headers(headers or {})
        if auth is not None and "authorization" not in merged:
            merged["Authorization"] = auth
        if self._jar is not None and len(self._jar):
            request = CompatRequest(url, method, headers=merged)
            self.cookiejar.add_cookie_header(request)
            merged = request.headers
        return merged

    def report(self, name: str, response: Response, failure: BaseException | None) -> None:
        """Tell Locust's ``events.request`` (and so loadkit's recorder) about one request."""
        self.fire(request_type=response.method, name=name, response_time=response.response_time,
                  response_length=response.length, response=response, context={}, exception=failure,
                  start_time=response.start_time, url=response.url)

    def close(self) -> None:
        """The visitor leaves: its own connections close (a shared pool stays open for the next)."""
        if self.pool is not self.connections.shared:
            self.pool.close()


def _decode(raw: bytes, encoding: Any) -> bytes:
    """The body with its Content-Encoding undone (an encoding that cannot be undone leaves it as sent)."""
    if not encoding or not raw:
        return raw
    encoding = (encoding if isinstance(encoding, str) else encoding[-1]).strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return zlib.decompress(raw, 16 + zlib.MAX_WBITS)
        if encoding == "deflate":
            try:
                return zlib.decompress(raw)
            except zlib.error:  # raw deflate without the zlib wrapper, as some servers send it
                return zlib.decompress(raw, -zlib.MAX_WBITS)
        if encoding == "br" and brotli is not None:
            return bytes(brotli.decompress(raw))
    except _DECODE_ERRORS:
        return raw
    return raw


__all__ = ["ACCEPT_ENCODING", "Connections", "Response", "VisitorClient"]
