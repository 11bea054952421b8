"""The demo storefront's HTTP server: a small shop on gevent's WSGI server, limited by its knobs.

Run with ``python -m loadkit.demo.server`` (or ``loadkit demo-site``). Every page waits (``gevent.sleep``)
for its service time while holding a slot, so the shop's capacity, not this machine's CPU, sets the limit.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import html  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import secrets  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter, OrderedDict  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any, TypedDict  # noqa: E402

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from gevent.lock import BoundedSemaphore  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402
import socket  # noqa: E402
from werkzeug.wrappers import Request, Response  # noqa: E402

from . import DemoConfig  # noqa: E402
from .args import add_arguments, config_from_args  # noqa: E402

CATEGORIES = {
    "kitchen": "Kitchen", "garden": "Garden", "lighting": "Lighting", "textiles": "Textiles",
}


class Product(TypedDict):
    name: str
    category: str
    price: int


PRODUCTS: dict[str, Product] = {
    f"{cat}-{i:02d}": {"name": f"{title} item {i}", "category": cat, "price": 9 + (i * 7) % 90}
    for cat, title in CATEGORIES.items() for i in range(1, 26)
}
MAX_SESSIONS = 200_000
CSS = b"body{font-family:sans-serif;margin:2rem}nav a{margin-right:1rem}.price{font-weight:bold}\n" * 20


OVERLOAD_WAIT_S = 0.5  # a request that waited this long for a slot marks the shop overloaded


class Health:
    """When the shop was last overloaded, and so whether it is still degraded (``recovery_s``)."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.last_overload: float | None = None

    def overloaded(self) -> None:
        self.last_overload = time.monotonic()

    def factor(self) -> float:
        """Service-time multiplier now: ``degraded_factor`` while recovering, else 1."""
        cfg = self.config
        if self.last_overload is None or cfg.recovery_s <= 0:
            return 1.0
        if time.monotonic() - self.last_overload < cfg.recovery_s:
            return cfg.degraded_factor
        return 1.0


class Pool:
    """A bounded set of slots with a queue limit and a queue timeout."""

    def __init__(self, slots: int, config: DemoConfig, health: Health) -> None:
        self.sem = BoundedSemaphore(slots)
        self.config = config
        self.health = health
        self.waiting = 0

    def run(self, seconds: float) -> bool:
        """Hold a slot for ``seconds``; False when the request is shed instead."""
        cfg = self.config
        slow = cfg.when_saturated == "slow"
        if not slow and self.waiting >= cfg.queue_limit and self.sem.locked():
            self.health.overloaded()
            return False
        self.waiting += 1
        queued = time.monotonic()
        try:
            acquired = self.sem.acquire(timeout=None if slow else cfg.queue_timeout_ms / 1000.0)
        finally:
            self.waiting -= 1
        if not acquired or time.monotonic() - queued > OVERLOAD_WAIT_S:
            self.health.overloaded()
        if not acquired:
            return False
        try:
            seconds *= self.health.factor()
            if seconds > 0:
                gevent.sleep(seconds)
        finally:
            self.sem.release()
        return True


class Shop:
    """The WSGI application: pages, sessions with a CSRF token, and the served counts."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.health = Health(config)
        self.workers = Pool(config.slots, config, self.health)
        self.payments = Pool(config.checkout_slots, config, self.health)
        self.sessions: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.served: Counter[str] = Counter()  # by page type
        self.status: Counter[str] = Counter()
        self.shed = 0
        self.in_flight = 0
        self.orders = 0
        self.routes: list[tuple[str, re.Pattern[str], str, Callable[..., Response]]] = [
            ("GET", re.compile(r"/"), "home", self.home),
            ("GET", re.compile(r"/category/([\w-]+)"), "category", self.category),
            ("GET", re.compile(r"/search"), "search", self.search),
            ("GET", re.compile(r"/products/([\w-]+)"), "product", self.product),
            ("GET", re.compile(r"/cart"), "cart", self.cart),
            ("POST", re.compile(r"/cart"), "add_to_cart", self.add_to_cart),
            ("POST", re.compile(r"/checkout"), "checkout", self.checkout),
            ("GET", re.compile(r"/static/app\.css"), "static", self.static),
        ]

    # --- plumbing ------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == "/__stats":
            return self.stats_response()(environ, start_response)
        if request.path == "/__metrics":
            return self.metrics_response()(environ, start_response)
        self.in_flight += 1
        try:
            response = self.dispatch(request)
        finally:
            self.in_flight -= 1
        self.status[str(response.status_code)] += 1
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        for method, pattern, page, handler in self.routes:
            match = pattern.fullmatch(request.path)
            if match and request.method in (method, "HEAD" if method == "GET" else method):
                self.served[page] += 1
                pool = None if page == "static" else self.payments if page == "checkout" else self.workers
                seconds = self.config.service_ms.get(page, 0.0) / 1000.0
                if pool is not None and not pool.run(seconds):
                    self.shed += 1
                    return Response("Service busy, please retry.\n", status=503, headers={"Retry-After": "1"},
                                    mimetype="text/plain")
                return handler(request, *match.groups())
        self.served["not_found"] += 1
        return Response("Not found\n", status=404, mimetype="text/plain")

    def session(self, request: Request) -> tuple[str, dict[str, Any], bool]:
        cached = request.environ.get("demo.session")
        if cached is not None:
            return cached  # type: ignore[no-any-return]
        result = self._session(request)
        request.environ["demo.session"] = result
        return result

    def _session(self, request: Request) -> tuple[str, dict[str, Any], bool]:
        sid = request.cookies.get("sid", "")
        data = self.sessions.get(sid)
        if data is not None:
            self.sessions.move_to_end(sid)
            return sid, data, False
        sid = secrets.token_urlsafe(12)
        data = {"csrf": secrets.token_urlsafe(16), "cart": []}
        self.sessions[sid] = data
        if len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)
        return sid, data, True

    def page(self, request: Request, title: str, body: str, status: int = 200) -> Response:
        sid, _, new = self.session(request)
        doc = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} - Demo Shop"
               "</title><link rel='stylesheet' href='/static/app.css'></head><body>"
               "<nav><a href='/'>Home</a>" + "".join(f"<a href='/category/{c}'>{t}</a>" for c, t in CATEGORIES.items())
               + "<a href='/cart'>Cart</a></nav>"
               f"<h1>{html.escape(title)}</h1>{body}</body></html>")
        response = Response(doc, status=status, mimetype="text/html")
        if new:
            response.set_cookie("sid", sid, httponly=True, samesite="Lax")
        return response

    def csrf_ok(self, request: Request) -> tuple[bool, dict[str, Any]]:
        _, data, new = self.session(request)
        token = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token", "")
        return (not new and secrets.compare_digest(token, data["csrf"])), data

    def stats_response(self) -> Response:
        body = {"served": sum(self.served.values()), "by_page": dict(self.served), "by_status": dict(self.status),
                "shed": self.shed, "in_flight": self.in_flight, "orders": self.orders,
                "sessions": len(self.sessions), "degraded": self.health.factor() > 1}
        return Response(json.dumps(body), mimetype="application/json")

    def metrics_response(self) -> Response:
        """The shop's own gauges and counters in Prometheus's text format (as a real site's exporter would
        serve them): busy slots and queue length per pool, requests by page, shed requests, orders."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        shop = self

        class Collector:
            def collect(self) -> Iterable[Any]:
                busy = GaugeMetricFamily("demo_busy_slots", "Slots serving a request.", labels=["pool"])
                slots = GaugeMetricFamily("demo_slots", "Slots in the pool.", labels=["pool"])
                queue = GaugeMetricFamily("demo_queue_length", "Requests waiting for a slot.", labels=["pool"])
                for name, pool, size in (("pages", shop.workers, shop.config.slots),
                                         ("checkout", shop.payments, shop.config.checkout_slots)):
                    busy.add_metric([name], size - pool.sem.counter)
                    slots.add_metric([name], size)
                    queue.add_metric([name], pool.waiting)
                served = CounterMetricFamily("demo_requests", "Requests served, by page.", labels=["page"])
                for page, n in sorted(shop.served.items()):
                    served.add_metric([page], n)
                shed = CounterMetricFamily("demo_shed", "Requests shed with 503.")
                shed.add_metric([], shop.shed)
                orders = CounterMetricFamily("demo_orders", "Orders placed.")
                orders.add_metric([], shop.orders)
                return [busy, slots, queue, served, shed, orders]

        registry = CollectorRegistry(auto_describe=False)
        registry.register(Collector())
        return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4")

    # --- pages ---------------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        featured = list(PRODUCTS)[::10]
        items = "".join(f"<li><a href='/products/{s}'>{html.escape(PRODUCTS[s]['name'])}</a></li>" for s in featured)
        return self.page(request, "Welcome", f"<form action='/search'><input name='q'></form><ul>{items}</ul>")

    def category(self, request: Request, slug: str) -> Response:
        if slug not in CATEGORIES:
            return self.page(request, "No such category", "", status=404)
        items = "".join(f"<li><a href='/products/{s}'>{html.escape(p['name'])}</a> "
                        f"<span class='price'>{p['price']} EUR</span></li>"
                        for s, p in PRODUCTS.items() if p["category"] == slug)
        return self.page(request, CATEGORIES[slug], f"<ul>{items}</ul>")

    def search(self, request: Request) -> Response:
        query = request.args.get("q", "").lower()
        hits = [s for s, p in PRODUCTS.items() if query and query in p["name"].lower()][:20]
        items = "".join(f"<li><a href='/products/{s}'>{html.escape(PRODUCTS[s]['name'])}</a></li>" for s in hits)
        return self.page(request, f"Search: {query}", f"<p>{len(hits)} results</p><ul>{items}</ul>")

    def product(self, request: Request, slug: str) -> Response:
        product = PRODUCTS.get(slug)
        if product is None:
            return self.page(request, "No such product", "", status=404)
        _, data, _ = self.session(request)
        form = (f"<form method='post' action='/cart'><input type='hidden' name='product' value='{slug}'>"
                f"<input type='hidden' name='csrf_token' value='{data['csrf']}'>"
                "<button>Add to cart</button></form>")
        return self.page(request, product["name"], f"<p class='price'>{product['price']} EUR</p>{form}")

    def cart(self, request: Request) -> Response:
        _, data, _ = self.session(request)
        items = "".join(f"<li>{html.escape(PRODUCTS[s]['name'])}</li>" for s in data["cart"])
        form = ("<form method='post' action='/checkout'>"
                f"<input type='hidden' name='csrf_token' value='{data['csrf']}'><button>Checkout</button></form>")
        return self.page(request, "Your cart", f"<ul>{items}</ul>{form if data['cart'] else '<p>Empty.</p>'}")

    def add_to_cart(self, request: Request) -> Response:
        ok, data = self.csrf_ok(request)
        if not ok:
            return Response("Invalid or missing CSRF token\n", status=403, mimetype="text/plain")
        slug = request.form.get("product", "")
        if slug not in PRODUCTS:
            return Response("Unknown product\n", status=400, mimetype="text/plain")
        data["cart"].append(slug)
        return Response("", status=303, headers={"Location": "/cart"})

    def checkout(self, request: Request) -> Response:
        ok, data = self.csrf_ok(request)
        if not ok:
            return Response("Invalid or missing CSRF token\n", status=403, mimetype="text/plain")
        if not data["cart"]:
            return Response("Your cart is empty\n", status=409, mimetype="text/plain")
        data["cart"] = []
        self.orders += 1
        return self.page(request, "Thank you for your order", f"<p>Order number {self.orders}.</p>")

    def static(self, request: Request) -> Response:
        return Response(CSS, mimetype="text/css", headers={"Cache-Control": "max-age=3600"})


class _NoDelayHandler(WSGIHandler):
    """Sends each response at once (TCP_NODELAY), as production servers do, so Nagle's algorithm and
    delayed ACKs never add 40 ms to the shop's known service times."""

    def handle(self) -> None:
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        super().handle()


def serve(config: DemoConfig, host: str, port: int, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM; ``announce`` receives the base URL once listening."""
    server = WSGIServer((host, port), Shop(config), log=None, error_log=None, backlog=2048,
                        handler_class=_NoDelayHandler)
    server.start()
    bound_host, bound_port = server.address[0], server.address[1]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    announce(f"http://{shown}:{bound_port}")
    stop = Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    gevent.signal_handler(signal.SIGINT, stop.set)
    stop.wait()
    server.stop(timeout=1)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m loadkit.demo.server``: prints ``listening URL`` once ready."""
    parser = argparse.ArgumentParser(prog="python -m loadkit.demo.server")
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"loadkit demo-site: {exc}", file=sys.stderr)
        return 2
    try:
        serve(config, args.host, args.port, lambda url: print(f"listening {url}", flush=True))
    except OSError as exc:
        print(f"loadkit demo-site: cannot listen on {args.host}:{args.port} ({exc.strerror})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
