"""A site that answers every request with 200 and logs when each arrived, by its own clock.

``python tests/stampserver.py ADDRESS PORT LOG``: one line per request, ``<unix time> <method> <path>``,
written as the request is read. The ground truth for tests that compare loadkit's per-second counts with
what the site saw (tests/test_real_hosts.py runs it on a host of its own).
"""

from __future__ import annotations

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def main(address: str, port: int, log_path: str) -> None:
    """Serve until killed."""
    lock = threading.Lock()
    log = open(log_path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - open for the server's life

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            arrived = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with lock:
                log.write(f"{arrived:.6f} {self.command} {self.path}\n")
            body = b"<html><body>ok</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((address, port), Handler)
    server.daemon_threads = True
    print(f"listening on http://{address}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
