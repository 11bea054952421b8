"""Command-line flags of the demo storefront (shared by ``loadkit demo-site`` and the server process)."""

from __future__ import annotations

import argparse

from ..units import parse_duration
from . import DEFAULT_SERVICE_MS, PAGE_TYPES, DemoConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the demo storefront's flags to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0 picks a free one; default 8080)")
    parser.add_argument("--slots", type=int, default=16, help="concurrent worker slots (default 16)")
    parser.add_argument("--checkout-slots", type=int, default=4,
                        help="concurrent payment slots for checkout (default 4)")
    parser.add_argument("--service", action="append", default=[], metavar="PAGE=TIME",
                        help=f"service time of a page type ({', '.join(PAGE_TYPES)}), e.g. checkout=250ms")
    parser.add_argument("--queue-timeout", default="2s", help="longest wait for a slot before shedding (default 2s)")
    parser.add_argument("--queue-limit", type=int, default=500, help="most requests waiting for a slot (default 500)")
    parser.add_argument("--when-saturated", choices=("503", "slow"), default="503",
                        help="shed with 503 + Retry-After (default), or keep queueing (latency grows)")
    parser.add_argument("--recovery-time", default="0s", metavar="TIME|never",
                        help="after an overload, stay degraded this long ('never': stays degraded; default 0s)")
    parser.add_argument("--degraded-factor", type=float, default=10.0,
                        help="service-time multiplier while degraded (default 10)")


def config_from_args(args: argparse.Namespace) -> DemoConfig:
    """Build a DemoConfig from parsed flags; raises ValueError naming the bad flag."""
    service = dict(DEFAULT_SERVICE_MS)
    for item in args.service:
        page, _, value = item.partition("=")
        if page not in PAGE_TYPES or not value:
            raise ValueError(f"--service {item!r}: expected PAGE=TIME with PAGE one of {', '.join(PAGE_TYPES)}")
        service[page] = parse_duration(value) * 1000.0
    if args.slots < 1 or args.checkout_slots < 1:
        raise ValueError("--slots and --checkout-slots must be at least 1")
    if args.degraded_factor < 1:
        raise ValueError("--degraded-factor must be at least 1")
    recovery = float("inf") if args.recovery_time == "never" else parse_duration(args.recovery_time)
    return DemoConfig(slots=args.slots, checkout_slots=args.checkout_slots, service_ms=service,
                      queue_timeout_ms=parse_duration(args.queue_timeout) * 1000.0,
                      queue_limit=args.queue_limit, when_saturated=args.when_saturated, recovery_s=recovery,
                      degraded_factor=args.degraded_factor)
