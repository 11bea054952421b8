"""What a browser does besides the steps it is told: cache DNS, send CSRF tokens back, load page assets.

Pure helpers over response text and headers; :mod:`loadkit.run.visitors` calls them for each visitor.
"""

from __future__ import annotations

import re
import time
from http.cookiejar import CookieJar
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import gevent
from gevent.event import AsyncResult
from selectolax.lexbor import LexborHTMLParser

_CSRF_NAMES = re.compile(r"csrf[\w-]*|_csrf[\w-]*|csrfmiddlewaretoken|authenticity_token|"
                         r"__requestverificationtoken|_token", re.IGNORECASE)
# cookie that carries a CSRF token -> the header frameworks read it back from
_CSRF_COOKIES = {"csrftoken": "X-CSRFToken", "xsrf-token": "X-XSRF-TOKEN", "csrf_token": "X-CSRF-Token",
                 "_csrf": "X-CSRF-Token"}


class CachingResolver:
    """gevent's resolver, remembering each answer for ``ttl`` seconds, as browsers cache DNS.

    geventhttpclient resolves the host for every new connection, and every visitor opens one: without a
    cache a run against a host name would send the shop's DNS thousands of lookups a second (each
    through gevent's pool of at most ten resolver threads: with a resolver that answers in 20 ms, about
    490 lookups a second per process, measured, the wait counted in the site's response times), which no
    crowd of browsers does. Visitors that ask while the same question is out wait for its answer, so a
    burst of new visitors asks once. Failures are not remembered: the next connection asks again.
    """

    def __init__(self, inner: Any, ttl: float = 60.0) -> None:
        self.inner = inner
        self.ttl = ttl
        self._cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
        self._asking: dict[tuple[Any, ...], AsyncResult[Any]] = {}

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, socktype: int = 0, proto: int = 0,
                    flags: int = 0) -> Any:
        """The addresses for ``host`` and ``port``, as ``socket.getaddrinfo`` gives them."""
        key = (host, port, family, socktype, proto, flags)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        asking = self._asking.get(key)
        if asking is not None:
            answer = asking.get()  # raises the asker's error
            return answer if answer is not None else self.getaddrinfo(host, port, family, socktype, proto, flags)
        asking = self._asking[key] = AsyncResult()
        try:
            answer = self.inner.getaddrinfo(host, port, family, socktype, proto, flags)
        except Exception as error:
            asking.set_exception(error)
            raise
        except BaseException:  # the asker was stopped: the others ask again
            asking.set(None)
            raise
        finally:
            del self._asking[key]
        self._cache[key] = (time.monotonic(), answer)
        asking.set(answer)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def cache_dns() -> None:
    """Make this process's gevent hub cache name lookups (see :class:`CachingResolver`)."""
    hub = gevent.get_hub()
    if not isinstance(hub.resolver, CachingResolver):
        # a proxy, not an AbstractResolver subclass: every method it lacks is the inner resolver's own
        hub.resolver = CachingResolver(hub.resolver)  # type: ignore[assignment]


def csrf_field(html: str) -> tuple[str, str] | None:
    """The (name, value) of the CSRF token an HTML page's forms carry in a hidden field, if any."""
    for node in LexborHTMLParser(html).css("input[type=hidden][name]"):
        name, value = node.attributes.get("name") or "", node.attributes.get("value")
        if value is not None and _CSRF_NAMES.fullmatch(name):
            return name, value
    return None


def csrf_headers(cookies: CookieJar) -> dict[str, str]:
    """The headers a framework's JavaScript would set from its CSRF cookie (``csrftoken`` -> ``X-CSRFToken``)."""
    headers: dict[str, str] = {}
    for cookie in cookies:
        header = _CSRF_COOKIES.get(cookie.name.lower())
        if header is not None and cookie.value:
            headers[header] = unquote(cookie.value)
    return headers


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, the port made explicit."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def page_assets(html: str, page_url: str, target: str) -> list[str]:
    """Stylesheets, scripts and images an HTML page references on the target's own origin, in page order."""
    found: list[str] = []
    for node in LexborHTMLParser(html).css("link[href], script[src], img[src]"):
        if node.tag == "link" and "stylesheet" not in (node.attributes.get("rel") or "").lower().split():
            continue
        ref = node.attributes.get("href" if node.tag == "link" else "src") or ""
        absolute = urljoin(page_url, ref)
        if ref and origin(absolute) == origin(target) and absolute not in found:
            found.append(absolute)
    return found


def cacheable(response: Any) -> bool:
    """Whether a browser would keep this response for a later visit without asking again."""
    headers = response.headers or {}
    control = (headers.get("Cache-Control") or "").lower()
    if "no-store" in control or "no-cache" in control:
        return False
    match = re.search(r"max-age\s*=\s*(\d+)", control)
    return bool(match and int(match.group(1)) > 0) or bool(headers.get("Expires"))


__all__ = ["CachingResolver", "cache_dns", "cacheable", "csrf_field", "csrf_headers", "origin", "page_assets"]
