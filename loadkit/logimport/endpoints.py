"""Endpoints from raw URLs: what is kept, and how paths and queries become templates with data lists.

**Kept**: ``GET`` requests and ``POST`` requests to pages (form posts), answered below 400 (a 4xx is a
visitor's or a scanner's mistake, not a page to rehearse; 5xx are kept: that page was asked for). Other
methods (``PUT``, ``DELETE``, ``HEAD``, ``OPTIONS``, ...) and posts to APIs (a path under ``/api/``,
``/graphql``, ``.json``: their bodies are JSON the log does not hold) are counted and listed, not guessed.

**Dropped**: static assets (by extension: styles, scripts, images, fonts, media, source maps, ``favicon``),
``/robots.txt`` (and every request of the visitor who asked for it: a crawler), requests from user agents
that name themselves as bots, crawlers, spiders, monitors, HTTP libraries or headless browsers, and
requests that would carry a secret (see :mod:`.privacy`).

**Templates.** Paths are split into segments and grown into a tree. A segment that is a number, a UUID or a
hex hash (16+ hex digits) is a variable at once; below any other node, once more than
:data:`SLUG_LIMIT` different segments appear (product slugs, category names) they become one variable. The
segments seen become the variable's values, counted, for a ``data:`` list. The root's own children (the
site's sections) never merge.

**Query parameters** are kept only when they change the page: tracking parameters (``utm_*``, ``gclid``,
``fbclid``, ``ref``, ...), cache busters (``_``, ``cb``, ``ts``, ``v``, ``nocache``, or a value that is an
epoch time) and secrets are dropped; every other parameter is kept (``q``, ``page``, ``sort``, ``color``,
...): a literal when it always had one value, else a variable with a data list.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import parse_qsl, unquote

from ..sensitive import EMAIL, JWT, secret_name
from .privacy import ONE_TIME, looks_random, secret_value

SLUG_LIMIT = 25  # more distinct segments than this under one node: a variable
VALUE_LIMIT = 5000  # distinct values remembered per variable (the most common are written)
ASSET = re.compile(r"\.(css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|mp3|"
                   r"ogg|wav|pdf|zip|gz|txt|xml|webmanifest)$", re.IGNORECASE)
ASSET_DIRS = re.compile(r"^/(static|assets|_next/static|build|dist|media|images|img|fonts|css|js)/", re.IGNORECASE)
BOT = re.compile(r"bot\b|bot/|crawl|spider|slurp|bingpreview|facebookexternalhit|embedly|preview|monitor|uptime|"
                 r"pingdom|statuscake|newrelic|datadog|check_http|nagios|zabbix|curl/|wget/|python-requests|"
                 r"python-urllib|aiohttp|httpx|go-http-client|java/|okhttp|libwww|lwp::|scrapy|headlesschrome|"
                 r"phantomjs|lighthouse|gtmetrix|ahrefs|semrush|mj12|dotbot|petalbot|yandex|baiduspider|"
                 r"duckduckbot|applebot|googleother|feedfetcher|^-?$", re.IGNORECASE)
API_POST = re.compile(r"^/(api|graphql|rest|rpc|v\d+)(/|$)|\.json$|/graphql$", re.IGNORECASE)
TRACKING = re.compile(r"^(utm_\w+|gclid|gbraid|wbraid|dclid|fbclid|msclkid|yclid|twclid|ttclid|igshid|mc_cid|mc_eid|"
                      r"_ga|_gl|_hs\w*|hsa_\w+|ref|referrer|source|campaign|affiliate|aff|clickid|trk|"
                      r"s_kwcid|cid|_ke)$", re.IGNORECASE)
CACHE_BUSTER = re.compile(r"^(_|cb|ts|t|v|ver|rnd|rand|random|nocache|cachebuster|timestamp|_t|_ts)$", re.IGNORECASE)
NUMBER = re.compile(r"^\d+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
HEX_HASH = re.compile(r"^[0-9a-fA-F]{16,}$")
VAR = "{}"  # a variable segment in internal template keys (names are given when the scenario is written)


@lru_cache(maxsize=65536)  # a log holds few distinct user agents; the pattern is long
def is_bot(user_agent: str) -> bool:
    """A user agent that names itself as an automated client (or sends none)."""
    return bool(BOT.search(user_agent))


def is_asset(path: str) -> bool:
    """A static file: styles, scripts, images, fonts, media, downloads."""
    return bool(ASSET.search(path)) or bool(ASSET_DIRS.match(path)) or path.startswith("/favicon")


def segment_kind(segment: str) -> str:
    """``number``, ``uuid``, ``hash`` (always variables), ``token`` or ``email`` (never kept), or ``word``."""
    if NUMBER.match(segment):
        return "number"
    if UUID.match(segment):
        return "uuid"
    if HEX_HASH.match(segment):
        return "hash"
    if EMAIL.search(segment) or JWT.search(segment) or looks_random(segment):
        return "token"
    return "word"


class Values:
    """How often each value of one variable was seen (at most :data:`VALUE_LIMIT` distinct values)."""

    __slots__ = ("counts", "overflow")

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.overflow = 0

    def add(self, value: str, n: int = 1) -> None:
        if value in self.counts or len(self.counts) < VALUE_LIMIT:
            self.counts[value] += n
        else:
            self.overflow += n

    def merge(self, other: Values) -> None:
        for value, n in other.counts.items():
            self.add(value, n)
        self.overflow += other.overflow


class Node:
    """A path segment in the template tree."""

    __slots__ = ("children", "collapsed", "hits", "kinds", "values", "var")

    def __init__(self) -> None:
        self.children: dict[str, Node] = {}
        self.var: Node | None = None  # the variable child
        self.collapsed = False  # the words below became a variable too
        self.values = Values()  # of this node, when it is a variable
        self.kinds: Counter[str] = Counter()  # of this node's values, when it is a variable
        self.hits = 0

    def merge(self, other: Node) -> None:
        """Fold ``other`` (a literal child being turned into a variable) into this node."""
        self.hits += other.hits
        self.values.merge(other.values)
        self.kinds.update(other.kinds)
        for name, child in other.children.items():
            if self.collapsed:
                self._var().merge(child)
                self._var().values.add(unquote(name), child.hits)
            elif name in self.children:
                self.children[name].merge(child)
            else:
                self.children[name] = child
        if other.var is not None:
            self._var().merge(other.var)
        self.collapsed = self.collapsed or other.collapsed
        if len(self.children) > SLUG_LIMIT:
            self.collapse()

    def _var(self) -> Node:
        if self.var is None:
            self.var = Node()
        return self.var

    def collapse(self) -> None:
        """Turn the literal children into one variable whose values are their names."""
        self.collapsed = True
        var = self._var()
        children, self.children = self.children, {}
        for name, child in children.items():
            var.values.add(unquote(name), child.hits)
            var.kinds["word"] += child.hits
            var.merge(child)


@dataclass
class Templates:
    """The template tree, the query parameters seen, and what was dropped."""

    root: Node = field(default_factory=Node)
    query_values: dict[tuple[str, str], Values] = field(default_factory=dict)  # (path key, param) -> values
    dropped_params: Counter[str] = field(default_factory=Counter)  # why -> count
    dropped_param_names: dict[str, Counter[str]] = field(default_factory=dict)  # why -> names

    def path_key(self, path: str) -> str | None:
        """The template key of ``path`` (``/products/{}``), counting values; None for a secret-bearing path."""
        path = path.split(";", 1)[0]  # ;jsessionid=... and other path parameters
        segments = path.strip("/").split("/") if path.strip("/") else []
        node, out = self.root, []
        previous = ""
        for depth, segment in enumerate(segments):
            if "{" in segment or "}" in segment:
                return None
            kind = segment_kind(unquote(segment))
            if kind == "token" or ONE_TIME.match(previous) and kind != "word":
                return None
            if ONE_TIME.match(previous) and depth == len(segments) - 1 and previous.lower() in (
                    "reset", "reset-password", "reset_password", "verify", "confirm", "activate", "unsubscribe",
                    "magic-link", "invite", "token", "tokens"):
                return None  # /reset/<anything>: a one-time link
            node.hits += 1
            if kind != "word" or node.collapsed:
                var = node._var()
                var.values.add(unquote(segment))
                var.kinds[kind] += 1
                node, segment_out = var, VAR
            else:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = Node()
                    if depth > 0 and len(node.children) > SLUG_LIMIT:
                        node.collapse()
                        var = node._var()
                        var.values.add(unquote(segment))
                        child = var
                        segment = VAR
                node, segment_out = child, segment
            out.append(segment_out)
            previous = segment if segment_out != VAR else previous
        node.hits += 1
        return "/" + "/".join(out) if out else "/"

    def retemplate(self, key: str) -> str:
        """A key made earlier, in the tree as it is now (segments merged since then become variables)."""
        segments = key.strip("/").split("/") if key.strip("/") else []
        node: Node | None = self.root
        out = []
        for segment in segments:
            if node is None:
                out.append(segment)
                continue
            if segment == VAR or node.collapsed or segment not in node.children:
                node = node.var
                out.append(VAR if node is not None else segment)
            else:
                node = node.children[segment]
                out.append(segment)
        return "/" + "/".join(out) if out else "/"

    def variable(self, key: str, index: int) -> Node | None:
        """The tree node of the ``index``-th variable segment of a template key."""
        node: Node | None = self.root
        seen = 0
        for segment in key.strip("/").split("/"):
            if node is None:
                return None
            node = node.var if segment == VAR else node.children.get(segment)
            if segment == VAR:
                if seen == index:
                    return node
                seen += 1
        return None

    def query_key(self, path_key: str, query: str) -> str | None:
        """The kept parameters' names (``q&page``), counting their values; None when the query carries a
        secret in a way that cannot be dropped (never: secrets are dropped, so always a string)."""
        kept: list[str] = []
        for name, value in parse_qsl(query, keep_blank_values=True):
            why = None
            if TRACKING.match(name):
                why = "tracking"
            elif CACHE_BUSTER.match(name) or (value.isdigit() and len(value) in (10, 13)):
                why = "cache-buster or time"
            elif secret_name(name) or secret_value(value):
                why = "secret or personal"
            if why is not None:
                self.dropped_params[why] += 1
                names = self.dropped_param_names.setdefault(why, Counter())
                if len(names) < 50 or name in names:
                    names[name if why != "secret or personal" or secret_name(name) else f"{name} (value)"] += 1
                continue
            if name in kept or not re.fullmatch(r"[\w.\-\[\]]+", name):
                continue  # a repeated parameter is written once; odd names cannot be templated
            kept.append(name)
            values = self.query_values.get((path_key, name))
            if values is None:
                values = self.query_values[(path_key, name)] = Values()
            values.add(value)
        return "&".join(sorted(kept))
