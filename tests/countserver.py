"""A site on 127.0.0.1 that answers every request with 200 and counts what it received.

The ground truth for tests that compare loadkit's request count with the site's, and that check what the
requests carried (their ``User-Agent``). It runs in a thread of the test process (the load comes from a
``loadkit`` subprocess), speaks HTTP/1.1 with keep-alive, and counts every request it answers.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CountingServer:
    """``with CountingServer() as site:`` ... ``site.url``, ``site.requests``, ``site.user_agents``."""

    def __init__(self) -> None:
        self.requests = 0
        self.paths: Counter[str] = Counter()
        self.user_agents: Counter[str] = Counter()
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                with owner._lock:
                    owner.requests += 1
                    owner.paths[f"{self.command} {self.path}"] += 1
                    owner.user_agents[self.headers.get("User-Agent") or ""] += 1
                body = b"<html><body>ok</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> CountingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
