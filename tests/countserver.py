"""A site on 127.0.0.1 that answers every request with 200 and counts what it received.

The ground truth for tests that compare loadkit's request count with the site's, and that check what the
requests carried (their ``User-Agent``). A couple of JSON endpoints serve Locust's own examples. It runs in
a thread of the test process (the load comes from a ``loadkit`` subprocess), speaks HTTP/1.1 with
keep-alive, and counts every request it answers.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def _json_answer(method: str, path: str, sent: bytes) -> dict[str, Any] | None:
    """The JSON endpoints Locust's examples check (they add them to Locust's own web UI, as Flask routes,
    to have something to test against): ``POST /authenticate`` welcomes the user by name, ``POST
    /checkout/confirm`` returns an order id. Every other request gets a small HTML page."""
    if method != "POST":
        return None
    if path == "/authenticate":
        try:
            username = json.loads(sent or b"{}").get("username")
        except ValueError:
            username = None
        return {"message": f"Welcome {username}!"}
    if path == "/checkout/confirm":
        return {"orderId": 42}
    return None


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
                sent = self.rfile.read(length) if length else b""
                with owner._lock:
                    owner.requests += 1
                    owner.paths[f"{self.command} {self.path}"] += 1
                    owner.user_agents[self.headers.get("User-Agent") or ""] += 1
                answer = _json_answer(self.command, self.path, sent)
                body = json.dumps(answer).encode() if answer is not None else b"<html><body>ok</body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if answer is not None else "text/html")
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
