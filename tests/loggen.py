"""Synthetic access logs with a known truth, for the log import's tests and benchmark.

Visitors of the demo storefront's paths walk four journeys (60/25/10/5: product, basket, checkout, search),
pausing a log-normal time between pages (median 4 s, sigma 0.6: mean 4.79 s); they arrive at an everyday
rate with a burst on top (linear ramp, hold, exponential decay of known half-life). Around them: every
page's static assets, a search engine's crawler, a crawler that reads robots.txt with a browser's user agent,
malformed lines, and planted secrets (e-mail addresses, tokens, session ids, a JWT, a reset link; 30% of
visitors carry a PHPSESSID in every page's URL, all starting with "PLANTED") that must never reach the
converted scenario.
"""

from __future__ import annotations

import gzip
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = [line.split(",")[0] for line in
            (ROOT / "loadkit/scenarios/data/products.csv").read_text().splitlines()[1:] if line]
TERMS = ["kitchen", "garden", "lighting", "item 1", "item 2", "item 3"]
MIX = {"product": 0.60, "basket": 0.25, "checkout": 0.10, "search": 0.05}
THINK_MEDIAN_S, THINK_SIGMA = 4.0, 0.6
THINK_MEAN_S = THINK_MEDIAN_S * math.exp(THINK_SIGMA ** 2 / 2)
# endpoint -> expected requests per visit (product journey: 1, 2 or 3 product pages, 2 on average)
EXPECTED_PER_VISIT = {"GET /products": 0.6 * 2 + 0.25 + 0.10 + 0.05, "POST /cart": 0.35, "GET /cart": 0.35,
                      "POST /checkout": 0.10, "GET /search": 0.05}
BROWSERS = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/124.0 Safari/537.36",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.4 Safari/605.1.15",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"]
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SECRETS = ["planted.person@example.com", "PLANTEDtok3nAbCdEf1234567", "PLANTEDreset9f8e7d6c5b4aZZ",
           "PLANTEDJSESSION123456ABCdef", "PLANTEDsid77aaQQ", "planted.search@example.com",
           "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQTEFOVEVEIn0.c2lnbmF0dXJl", "hunter2PLANTEDpw",
           "PLANTEDcookieSess99xx", "198.51.100.77"]


@dataclass
class Truth:
    """What the generator put in."""

    start: float
    baseline: float
    peak: float
    spike_start: float
    ramp: float
    hold: float
    half_life: float
    visits: dict[str, int] = field(default_factory=dict)
    addresses: set[str] = field(default_factory=set)
    lines: int = 0


def _burst_rate(t: float, truth: Truth) -> float:
    tau = t - truth.spike_start
    excess = truth.peak - truth.baseline
    if tau < 0:
        return truth.baseline
    if tau < truth.ramp:
        return truth.baseline + excess * tau / truth.ramp
    if tau < truth.ramp + truth.hold:
        return truth.peak
    return truth.baseline + excess * 0.5 ** ((tau - truth.ramp - truth.hold) / truth.half_life)


def _clf_time(t: float) -> str:
    import time as _time
    return _time.strftime("%d/%b/%Y:%H:%M:%S +0000", _time.gmtime(t))


def _visit(rng: random.Random, journey: str) -> list[tuple[str, str, int]]:
    """(method, target, status) of one visit's pages."""
    product = f"/products/{rng.choice(PRODUCTS)}"
    if journey == "product":
        views = rng.choices((1, 2, 3), (0.3, 0.4, 0.3))[0]
        return [("GET", f"/products/{rng.choice(PRODUCTS)}", 200) for _ in range(views)]
    if journey == "search":
        return [("GET", f"/search?q={rng.choice(TERMS).replace(' ', '+')}", 200), ("GET", product, 200)]
    pages = [("GET", product, 200), ("POST", "/cart", 303), ("GET", "/cart", 200)]
    if journey == "checkout":
        pages.append(("POST", "/checkout", 200))
    return pages


def _plant(rng: random.Random, target: str) -> str:
    """Now and then, a tracking parameter or a secret in a page's query (all must be dropped)."""
    roll = rng.random()
    sep = "&" if "?" in target else "?"
    if roll < 0.02:
        return f"{target}{sep}email={SECRETS[0]}"
    if roll < 0.04:
        return f"{target}{sep}token={SECRETS[1]}"
    if roll < 0.05:
        return f"{target};jsessionid={SECRETS[3]}" if "?" not in target else target
    if roll < 0.06:
        return f"{target}{sep}sid={SECRETS[4]}"
    if roll < 0.07:
        return f"{target}{sep}auth={SECRETS[6]}"
    if roll < 0.08:
        return f"{target}{sep}password={SECRETS[7]}"
    if roll < 0.15:
        return f"{target}{sep}utm_source=tv&utm_campaign=spot"
    if roll < 0.17:
        return f"{target}{sep}_={1764612000000 + rng.randrange(10**6)}"
    return target


def generate(path: Path, *, hours: float = 4.0, baseline: float = 0.5, peak: float = 12.0, ramp: float = 60.0,
             hold: float = 60.0, half_life: float = 120.0, seed: int = 7, fmt: str = "combined",
             files: int = 1, cookie: bool = False, gz: bool = False) -> tuple[list[Path], Truth]:
    """Write the log(s) (``files`` > 1: visitors spread over several files, as behind a load balancer) and
    return their paths and the truth."""
    rng = random.Random(seed)
    start = 1764576000.0  # 2025-12-01 08:00 UTC
    truth = Truth(start=start, baseline=baseline, peak=peak, spike_start=start + hours * 3600 * 0.4, ramp=ramp,
                  hold=hold, half_life=half_life, visits={k: 0 for k in MIX})
    end = start + hours * 3600
    events: list[tuple[float, int, str]] = []  # (time, file, line)
    t = start
    visitor = 0
    cap = max(peak, baseline)
    while True:  # arrivals of a non-homogeneous Poisson process, by thinning
        t += rng.expovariate(cap)
        if t >= end:
            break
        if rng.random() > _burst_rate(t, truth) / cap:
            continue
        visitor += 1
        journey = rng.choices(list(MIX), list(MIX.values()))[0]
        truth.visits[journey] += 1
        addr = f"10.{(visitor >> 16) & 255}.{(visitor >> 8) & 255}.{visitor & 255}"
        truth.addresses.add(addr)
        ua = rng.choice(BROWSERS)
        sid = f"sid=s{visitor:08d}x{rng.randrange(16**8):08x}"
        f = visitor % files
        url_session = f"PLANTEDphp{rng.randrange(16**12):012x}" if rng.random() < 0.3 else None
        at = t
        previous_post = False
        for i, (method, target, status) in enumerate(_visit(rng, journey)):
            if i:
                at += rng.uniform(0.05, 0.3) if previous_post else rng.lognormvariate(math.log(THINK_MEDIAN_S),
                                                                                     THINK_SIGMA)
            previous_post = method == "POST"
            sent = _plant(rng, target) if method == "GET" else target
            if url_session is not None and method == "GET":  # a site that rewrites its URLs with the session id
                sent += f"{'&' if '?' in sent else '?'}PHPSESSID={url_session}"
            events.append((at, f, _line(fmt, addr, at, method, sent, status, ua, sid if cookie else None)))
            if method == "GET":
                for asset in ("/static/app.css", f"/static/img/p{rng.randrange(50)}.png", "/favicon.ico"):
                    events.append((at + 0.1, f, _line(fmt, addr, at + 0.1, "GET", asset, 200, ua,
                                                      sid if cookie else None)))
    # a search engine's crawler, a sneaky crawler (browser agent, reads robots.txt), a reset link, API calls
    for _ in range(int(hours * 600)):
        at = start + rng.uniform(0, hours * 3600)
        events.append((at, 0, _line(fmt, "66.249.66.1", at, "GET", f"/products/{rng.choice(PRODUCTS)}", 200,
                                    GOOGLEBOT, None)))
    crawl = start + 600
    events.append((crawl, 0, _line(fmt, "203.0.113.50", crawl, "GET", "/robots.txt", 200, BROWSERS[0], None)))
    for k in range(300):
        at = crawl + 1 + k * 2
        events.append((at, 0, _line(fmt, "203.0.113.50", at, "GET", f"/products/{PRODUCTS[k % len(PRODUCTS)]}", 200,
                                    BROWSERS[0], None)))
    for k in range(20):
        at = start + 900 + k * 97
        addr = f"192.0.2.{k + 1}"
        truth.addresses.add(addr)
        events.append((at, 0, _line(fmt, addr, at, "GET", f"/account/reset-password/{SECRETS[2]}", 200,
                                    BROWSERS[1], None)))
        events.append((at + 1, 0, _line(fmt, addr, at + 1, "PUT", "/api/basket/3", 200, BROWSERS[1], None)))
        events.append((at + 2, 0, _line(fmt, addr, at + 2, "POST", "/api/events", 204, BROWSERS[1], None)))
        events.append((at + 3, 0, _line(fmt, addr, at + 3, "GET", "/wp-login.php", 404, BROWSERS[1], None)))
    if cookie:  # a visit whose cookie is planted in the log: the cookie never reaches the output
        events.append((start + 5, 0, _line(fmt, "10.99.0.1", start + 5, "GET", "/products/" + PRODUCTS[0], 200,
                                           BROWSERS[0], f"session_id={SECRETS[8]}")))
    events.sort(key=lambda e: e[0])
    malformed = ["", "\x00\x01garbage", f"{SECRETS[9]} - - [not a time] \"GET /x?token={SECRETS[1]} HTTP/1.1\" 200 5",
                 f"oops {SECRETS[0]} and {SECRETS[6]}", "{\"half\": "]
    paths = [path.with_name(f"{path.stem}-{i}{path.suffix}") if files > 1 else path for i in range(files)]
    if gz:
        paths = [p.with_name(p.name + ".gz") for p in paths]
    handles = [gzip.open(p, "wt", encoding="utf-8") if gz else open(p, "w", encoding="utf-8")  # noqa: SIM115
               for p in paths]
    try:
        for n, (_, f, line) in enumerate(events):
            handles[f].write(line + "\n")
            truth.lines += 1
            if n % 997 == 0:
                handles[f].write(malformed[(n // 997) % len(malformed)] + "\n")
                truth.lines += 1
    finally:
        for h in handles:
            h.close()
    return paths, truth


def _line(fmt: str, addr: str, t: float, method: str, target: str, status: int, ua: str, cookie: str | None) -> str:
    if fmt == "json":
        obj = {"time_iso8601": _iso(t), "remote_addr": addr, "request_method": method, "request_uri": target,
               "status": str(status), "body_bytes_sent": "512", "http_user_agent": ua,
               "http_referer": "-", "http_cookie": cookie or ""}
        return json.dumps(obj)
    line = f'{addr} - - [{_clf_time(t)}] "{method} {target} HTTP/1.1" {status} 512 "-" "{ua}"'
    return line + (f' "{cookie}"' if cookie else "")


def _iso(t: float) -> str:
    import time as _time
    return _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(t)) + f".{int((t % 1) * 1000):03d}+00:00"
