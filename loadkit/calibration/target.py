"""The calibration's target: a catch-all HTTP server on 127.0.0.1 that answers every method and path at once
with ``200`` and the same small HTML page, in a process of its own.

``loadkit calibrate`` measures the load process's CPU per visit; the target must cost the measurement
nothing (its own process, so its CPU is not the generator's) and must never be the limit (no work per
request but parsing the request's head and skipping its body). Run it alone with
``python -m loadkit.calibration.target --port 8089``.
"""

from __future__ import annotations

import argparse
import sys
from types import TracebackType
from typing import Any

from ..child_server import ListeningChild
from ..errors import RunError

__all__ = ["PAGE", "CatchAllServer", "main"]

# A small page, HTML as most pages are (so a scenario that posts forms scans it for a CSRF field, as it
# would a real page), with a CSRF field for it to find.
PAGE = (b"<!doctype html><html><head><title>loadkit calibration</title></head><body>"
        b"<form method=post><input type=hidden name=csrf_token value=calibration></form>"
        b"<p>Answered by loadkit's calibration server.</p></body></html>\n")
_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n"
         b"Content-Length: " + str(len(PAGE)).encode() + b"\r\n")
_ANSWER = _HEAD + b"\r\n" + PAGE
_ANSWER_CLOSE = _HEAD + b"Connection: close\r\n\r\n" + PAGE
_MAX_HEAD = 64 * 1024


def serve(host: str, port: int, announce: Any = print) -> None:
    """Serve until killed (asyncio, in the calling process)."""
    import asyncio

    class Conn(asyncio.Protocol):
        def __init__(self) -> None:
            self.buf = b""
            self.skip = 0  # body bytes of the current request still to come
            self.transport: asyncio.Transport | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            if self.skip:
                taken = min(self.skip, len(data))
                self.skip -= taken
                data = data[taken:]
                if self.skip:
                    return
            buf = self.buf + data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD and self.transport is not None:
                        self.transport.close()
                    self.buf = buf
                    return
                length, close = _framing(buf[:end])
                head_only = buf.startswith(b"HEAD ")
                rest = buf[end + 4:]
                if self.transport is not None:
                    answer = _ANSWER_CLOSE if close else _ANSWER
                    self.transport.write(answer[:len(answer) - len(PAGE)] if head_only else answer)
                    if close:
                        self.transport.close()
                        return
                if length > len(rest):
                    self.skip = length - len(rest)
                    self.buf = b""
                    return
                buf = rest[length:]

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Conn, host, port, backlog=4096, reuse_address=True)
        bound = server.sockets[0].getsockname()
        announce(f"listening http://{bound[0]}:{bound[1]}")
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def _framing(head: bytes) -> tuple[int, bool]:
    """(body length, close after answering) from a request head. A chunked body is not parsed: the
    connection closes after the answer (loadkit's visitors send a Content-Length)."""
    length, close = 0, head.split(b"\r\n", 1)[0].endswith(b"HTTP/1.0")
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip() or b"0")
        elif name == b"connection":
            close = value.strip().lower() == b"close"
        elif name == b"transfer-encoding":
            close = True
    return length, close


class CatchAllServer:
    """The catch-all server in a child process on 127.0.0.1; use as a context manager."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.url = ""
        self._child = ListeningChild("loadkit-calibration-")

    def start(self, timeout: float = 15.0) -> CatchAllServer:
        """Start the process and wait until it listens; RunError when it does not."""
        url = self._child.start([sys.executable, "-m", "loadkit.calibration.target", "--port", str(self.port)],
                                timeout)
        if url is None:
            raise RunError(f"the calibration server did not start on 127.0.0.1 ({self._child.last_line}).",
                           "check that Python can listen on 127.0.0.1 (and the port, if given, is free)")
        self.url, self.port = url, int(url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        """Stop the process (if running) and remove its log."""
        self._child.stop()

    def __enter__(self) -> CatchAllServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m loadkit.calibration.target [--port N]``: serve on 127.0.0.1 until killed."""
    parser = argparse.ArgumentParser(prog="python -m loadkit.calibration.target", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    args = parser.parse_args(argv)
    try:
        serve("127.0.0.1", args.port, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
