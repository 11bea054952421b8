"""Targets of known behaviour for the benchmarks, on 127.0.0.1 only.

``python benchmarks/servers.py --delay 50ms``: answers every request after exactly 50 ms.
``python benchmarks/servers.py --stall-every 10s --stall-for 2s``: answers at once, except that every
10 s it stalls for 2 s (requests arriving then wait until the stall ends).
The server measures what each request waited (from the moment its handler starts to the response) and
serves its own figures at ``GET /__figures``; ``POST /__reset`` clears them.
nginx (Debian's package) is started by ``harness.nginx`` for raw speed.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
import numpy as np  # noqa: E402
from gevent.pywsgi import WSGIHandler, WSGIServer  # noqa: E402


class _NoDelay(WSGIHandler):
    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()


def app_factory(delay_s: float, stall_every: float, stall_for: float) -> Any:
    waits: list[float] = []
    started = time.monotonic()

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path = environ["PATH_INFO"]
        if path == "/__figures":
            arr = np.array(waits) * 1000 if waits else np.array([0.0])
            body = json.dumps({"count": len(waits), "p50_ms": float(np.percentile(arr, 50)),
                               "p90_ms": float(np.percentile(arr, 90)), "p95_ms": float(np.percentile(arr, 95)),
                               "p99_ms": float(np.percentile(arr, 99)), "max_ms": float(arr.max())}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        if path == "/__reset":
            waits.clear()
            start_response("200 OK", [("Content-Length", "0")])
            return [b""]
        t_in = time.perf_counter()
        if stall_every:
            phase = (time.monotonic() - started) % stall_every
            if phase >= stall_every - stall_for:
                gevent.sleep(stall_every - phase)
        if delay_s:
            gevent.sleep(delay_s)
        waits.append(time.perf_counter() - t_in)
        body = b"ok\n"
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", default="0ms")
    parser.add_argument("--stall-every", default="0s")
    parser.add_argument("--stall-for", default="0s")
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
    from loadkit.units import parse_duration

    server = WSGIServer(("127.0.0.1", args.port), app_factory(parse_duration(args.delay),
                                                              parse_duration(args.stall_every),
                                                              parse_duration(args.stall_for)),
                        log=None, error_log=None, backlog=4096, handler_class=_NoDelay)
    server.start()
    print(f"listening http://127.0.0.1:{server.address[1]}", flush=True)
    gevent.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
