"""A real Prometheus server (Debian's package) on 127.0.0.1 for the observability tests.

It scrapes the given targets every second into a throw-away folder and answers the HTTP query API, as a
team's own Prometheus would. Stopped (and its folder removed) when the ``with`` block ends.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PROMETHEUS = shutil.which("prometheus")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (for a server started next)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """``with Prometheus({"demo": ["127.0.0.1:8080"]}, paths={"demo": "/__metrics"}) as prom:`` ..."""

    def __init__(self, jobs: dict[str, list[str]], paths: dict[str, str] | None = None) -> None:
        assert PROMETHEUS, "prometheus is not installed (apt-get install prometheus)"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="loadkit-prom-"))
        scrape = [{"job_name": job, "scrape_interval": "1s", "scrape_timeout": "900ms",
                   "metrics_path": (paths or {}).get(job, "/metrics"),
                   "static_configs": [{"targets": targets}]} for job, targets in jobs.items()]
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"}, "scrape_configs": scrape}
        (self.dir / "prometheus.yml").write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        self.proc = subprocess.Popen(
            [str(PROMETHEUS), f"--config.file={self.dir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.dir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
             "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError("prometheus did not start within 30 s")

    def __exit__(self, *_: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path> with query parameters; the ``data`` member of the answer."""
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.loads(response.read())
        assert body["status"] == "success", body
        return body["data"]

    def wait_for(self, query: str, timeout: float = 20) -> list[Any]:
        """Wait until an instant query returns at least one series; its result."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.api("query", query=query)["result"]
            if result:
                return list(result)
            time.sleep(0.3)
        raise AssertionError(f"no series for {query} within {timeout} s")
