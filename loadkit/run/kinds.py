"""The kind a failed request is counted under, whichever client sent it.

loadkit's own visitors name their failures (:class:`RequestFailure`). A locustfile's clients report Locust's
exceptions instead: requests' ``HTTPError`` (``HttpUser``) or ``LocustBadStatusCode`` (``FastHttpUser``) for
a status >= 400, the transport's own exception for a timeout or a dropped connection, ``CatchResponseError``
when the locustfile's code called ``response.failure()``. :func:`failure_kind` gives each the kind a
scenario's request would get in the same case (``http_503``, ``http_503_retry_after``, ``timeout``,
``connection_refused``, ...; the list is in ``loadkit/failures.py``), so the error classes, journeys, what
broke first and what to scale read the same for both. An exception it does not know (a custom client's)
keeps its class name.

A request the locustfile built wrong never reached the site: requests' ``MissingSchema``, ``InvalidSchema``,
``InvalidURL`` and ``InvalidHeader`` (``HttpUser``), geventhttpclient's ``ValueError`` for a URL or header it
cannot read (``FastHttpUser``), or a URL with no host at all (a relative path with no host set: the host lookup
of an empty name fails). :func:`request_mistake` tells them apart, and they are ``invalid_request``: a
scenario error, never counted against the site (``run/scenario_errors.py``).

gevent, geventhttpclient and requests are imported on the first failure, not with this module: the recorder
uses it, and the recorder stays importable without them (the analysis's tests read its rows).
"""

from __future__ import annotations

import errno
import http.client
import os
import socket
import ssl
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from .. import failures as kinds


class RequestFailure(Exception):
    """A request that loadkit counts as failed, with a stable ``kind`` (``http_503``, ``timeout``, ...)."""

    def __init__(self, kind: str, detail: str = "", status: int = 0) -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail
        self.status = status


def classify_error(error: BaseException) -> str:
    """A stable failure kind for a transport error (wrappers such as "retries exceeded" are looked through)."""
    original = getattr(error, "original", None)
    if isinstance(original, BaseException):
        return classify_error(original)
    if isinstance(error, ConnectionRefusedError):
        return kinds.CONNECTION_REFUSED
    if isinstance(error, ConnectionResetError | BrokenPipeError | _types().closed):
        return kinds.CONNECTION_RESET  # HTTPConnectionClosed: reset or closed before a byte of the answer
    if isinstance(error, socket.gaierror):
        return kinds.DNS
    if isinstance(error, ssl.SSLError | ssl.CertificateError):
        return kinds.TLS
    if isinstance(error, TimeoutError | socket.timeout | _types().gevent_timeout):
        return kinds.TIMEOUT
    if isinstance(error, OSError) and error.errno == errno.ECONNREFUSED:
        return kinds.CONNECTION_REFUSED
    name = type(error).__name__.lower()
    if "timeout" in name:
        return kinds.TIMEOUT
    if "ssl" in name or "certificate" in name:
        return kinds.TLS
    return kinds.CONNECTION_ERROR


@dataclass(frozen=True)
class _Types:
    closed: type[BaseException]  # geventhttpclient: closed before a byte of the answer
    gevent_timeout: type[BaseException]
    agent_error: type[BaseException]  # geventhttpclient's ConnectionError, FastHttpUser's LocustBadStatusCode too
    http_error: type[BaseException]  # requests' HTTPError (HttpUser's bad status)
    # What Locust's clients report when the request or its answer did not get through: the transport's own
    # errors (requests' are unwrapped by Locust down to the lowest, often a builtin OSError) and their wrappers
    transport: tuple[type[BaseException], ...]
    # errors that wrap the one that happened (requests' ConnectionError, urllib3's MaxRetryError, ...)
    wrappers: tuple[type[BaseException], ...]
    # a request that could not be built from what the locustfile gave (requests' and urllib3's names for it)
    unbuildable: tuple[type[BaseException], ...]
    client_folder: str  # geventhttpclient's package: a ValueError raised in it is a URL or header it cannot read


@cache
def _types() -> _Types:
    import gevent
    import geventhttpclient
    import requests
    import urllib3.exceptions
    from geventhttpclient._parser import HTTPParseError
    from geventhttpclient.response import HTTPConnectionClosed
    from geventhttpclient.useragent import ConnectionError as AgentConnectionError

    return _Types(closed=HTTPConnectionClosed, gevent_timeout=gevent.Timeout, agent_error=AgentConnectionError,
                  http_error=requests.HTTPError,
                  transport=(OSError, gevent.Timeout, HTTPConnectionClosed, HTTPParseError, http.client.HTTPException,
                             urllib3.exceptions.HTTPError, AgentConnectionError, requests.RequestException),
                  wrappers=(requests.RequestException, urllib3.exceptions.HTTPError, AgentConnectionError),
                  unbuildable=(requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                               requests.exceptions.InvalidURL, requests.exceptions.URLRequired,
                               requests.exceptions.InvalidHeader, urllib3.exceptions.LocationValueError),
                  client_folder=os.path.dirname(os.path.abspath(geventhttpclient.__file__)) + os.sep)


def request_mistake(error: BaseException | None, url: str | None = None) -> bool:
    """Whether ``error`` says the request could not be built from what the locustfile gave: a URL without a
    scheme or a host, a malformed URL, an unsupported scheme, a header value that cannot be sent (the module's
    rules), or, with the ``url`` the client reported, a host lookup that failed because the URL has no host."""
    if error is None:
        return False
    types = _types()
    for cause in _causes(error):
        if isinstance(cause, types.unbuildable):
            return True
        if isinstance(cause, ValueError) and not isinstance(cause, types.transport) and _raised_in(cause,
                                                                                                 types.client_folder):
            return True
    # only a failed host lookup: a URL with no host has nothing else to fail at, and a custom client that reports
    # a bare path for its requests keeps its timeouts and refused connections the site's
    return url is not None and isinstance(error, socket.gaierror) and _hostless(url)


def _raised_in(error: BaseException, folder: str) -> bool:
    """Whether a frame of ``error``'s traceback runs code from ``folder``."""
    tb = error.__traceback__
    while tb is not None:
        if os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(folder):
            return True
        tb = tb.tb_next
    return False


def _hostless(url: str) -> bool:
    """Whether a URL a client reported has no host to send it to (``http://``, ``/path`` with no host set)."""
    try:
        return not urlsplit(url).hostname
    except ValueError:  # not even a URL
        return True


def carried_status(error: BaseException | None) -> int:
    """The status of the answer an exception reports as bad (0: none): requests' ``HTTPError.response``;
    geventhttpclient's ``BadStatusCode`` and FastHttpUser's ``LocustBadStatusCode`` carry it as ``code``."""
    if error is None:
        return 0
    types = _types()
    if isinstance(error, types.http_error):
        status = getattr(getattr(error, "response", None), "status_code", None)
    elif isinstance(error, types.agent_error):
        status = getattr(error, "code", None)
    else:
        return 0
    return status if isinstance(status, int) and status > 0 else 0


def transport_kind(error: BaseException | None) -> str | None:
    """The kind of a transport error (a timeout, a refused or reset connection, ...), None for anything else
    (a bad status is no transport error, whichever exception reports it)."""
    if error is None or not isinstance(error, _types().transport) or carried_status(error):
        return None
    # The innermost error that names what happened, as Locust unwraps requests' errors before reporting them
    # (an error kept on a response, or given to response.failure(), is still wrapped).
    for cause in reversed(_causes(error)):
        kind = classify_error(cause)
        if kind != kinds.CONNECTION_ERROR:
            return kind
    return kinds.CONNECTION_ERROR


def _causes(error: BaseException) -> list[BaseException]:
    """``error`` and, while it is a wrapper, the error it wraps (at most a few deep)."""
    chain = [error]
    wrappers = _types().wrappers
    while isinstance(chain[-1], wrappers) and len(chain) < 8:
        outer = chain[-1]
        inner = (getattr(outer, "original", None) or getattr(outer, "reason", None) or outer.__cause__
                 or outer.__context__ or next((a for a in outer.args if isinstance(a, BaseException)), None))
        if not isinstance(inner, BaseException) or inner in chain:
            break
        chain.append(inner)
    return chain


def failure_status(exception: BaseException, response: Any = None) -> int:
    """The HTTP status of a failed request's answer (0: none came): loadkit's own, the response's, or the one
    the exception carries."""
    if isinstance(exception, RequestFailure):
        return exception.status
    status = getattr(response, "status_code", None)
    if isinstance(status, int) and status > 0:
        return status
    return carried_status(exception)


def failure_kind(exception: BaseException, response: Any = None, url: str | None = None) -> str:
    """The kind a failed request is counted under (see the module's rules). ``response`` and ``url``: the
    answer and the URL as the client reported them to ``events.request`` (a locustfile's: Locust's response
    object), if any."""
    if isinstance(exception, RequestFailure):
        return exception.kind
    # the locustfile's request could not be built (reported as the exception, or kept on the response)
    if request_mistake(exception, url) or request_mistake(getattr(response, "error", None), url):
        return kinds.INVALID_REQUEST
    # A transport error, reported as the exception or, when the locustfile's code called
    # response.failure() on a request that never got an answer, kept on the response.
    transport = transport_kind(exception) or transport_kind(getattr(response, "error", None))
    if transport is not None:
        return transport
    status = failure_status(exception, response)
    if status >= 400:
        answer = response if getattr(response, "headers", None) is not None else getattr(exception, "response", None)
        return kinds.http_kind(status, retry_after=_retry_after(answer))
    if status:
        return kinds.CHECK_FAILED  # the locustfile's own check (response.failure()) failed an answer below 400
    return type(exception).__name__


def _retry_after(response: Any) -> bool:
    """Whether an answer says when to come back (a 503 with ``Retry-After`` is load shedding)."""
    headers = getattr(response, "headers", None)
    try:
        return headers is not None and headers.get("Retry-After") is not None
    except Exception:  # noqa: BLE001 - a client's odd headers object: no Retry-After read
        return False


__all__ = ["RequestFailure", "carried_status", "classify_error", "failure_kind", "failure_status", "request_mistake",
           "transport_kind"]
