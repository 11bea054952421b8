"""Generator CPU per request: loadkit's visitor client vs Locust's FastHttpSession, side by side, on nginx.

    python benchmarks/bench_client.py [--runs 5] [--requests 20000]

One greenlet sends GET / one request at a time (the open model's usual state: few requests in flight), then
ten greenlets at once; CPU is this process's user + system time divided by requests. Both clients fire
Locust's ``events.request`` to loadkit's recorder, as in a run. Interleaved, medians of runs.
"""

from __future__ import annotations

import argparse
import sys

from harness import median, nginx, save


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    with nginx() as url:
        from gevent import monkey

        monkey.patch_all()
        import time

        import gevent
        from locust.contrib.fasthttp import FastHttpSession
        from locust.env import Environment

        from loadkit.run.client import Connections, VisitorClient
        from loadkit.run.recorder import Recorder

        env = Environment()
        env.events.request.add_listener(Recorder().on_request)

        def locust_get() -> object:
            session = FastHttpSession(url, request_event=env.events.request, user=None, insecure=False,
                                      max_retries=0, concurrency=1)
            return lambda: session.get("/", name="GET /")

        def loadkit_get() -> object:
            client = VisitorClient(Connections(url, False, True, 10.0, 1), env.events.request)

            def get() -> None:
                client.report("GET /", client.send("GET", "/"), None)
            return get

        def cpu_us(make: object, in_flight: int) -> float:
            senders = [make() for _ in range(in_flight)]  # type: ignore[operator]
            per = args.requests // in_flight

            def loop(send: object) -> None:
                for _ in range(per):
                    send()  # type: ignore[operator]
            for send in senders:
                for _ in range(100):
                    send()
            start = time.process_time()
            gevent.joinall([gevent.spawn(loop, send) for send in senders])
            return (time.process_time() - start) / (per * in_flight) * 1e6

        rows: dict[str, list[float]] = {k: [] for k in ("locust_1", "loadkit_1", "locust_10", "loadkit_10")}
        for i in range(args.runs):
            for in_flight in (1, 10):
                rows[f"locust_{in_flight}"].append(cpu_us(locust_get, in_flight))
                rows[f"loadkit_{in_flight}"].append(cpu_us(loadkit_get, in_flight))
            print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f} us" for k, v in rows.items()), file=sys.stderr)
    med = {k: median(v) for k, v in rows.items()}
    ratios = {"loadkit_vs_locust_1_in_flight": med["loadkit_1"] / med["locust_1"],
              "loadkit_vs_locust_10_in_flight": med["loadkit_10"] / med["locust_10"]}
    path = save("client", {"runs": rows, "medians_cpu_us_per_request": med, "ratios": ratios})
    for k, v in med.items():
        print(f"{k:<12} {v:6.1f} us CPU/request (median of {args.runs})")
    for k, v in ratios.items():
        print(f"{k:<32} {v:.2f}x")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
