"""A target that misbehaves on purpose, for the fault tests: run as ``python tests/faultserver.py``.

It speaks just enough HTTP/1.1 (keep-alive, Content-Length) on 127.0.0.1 and scripts one fault per path:

    /ok                  200 "ok" (sets a session cookie)
    /sleep/<ms>          200 "ok" after <ms> milliseconds (a fast site with a known floor)
    /hang                reads the request, never answers
    /reset               starts a response, then resets the connection
    /drop                reads the request, then resets the connection before any answer
    /slow-body           sends the headers, then the body in pieces over ~0.6 s
    /flood/<anything>    500 with a unique, hostile body (markup, template syntax, control bytes, bad UTF-8)
    /status/<code>       that status with a short plain body
    /redirect-away       302 to another host
    /redirect-here       302 to /ok on this host
    /echo                the request it got (method, headers, body) as JSON
    /encoded/<E>         a body compressed with E (gzip, deflate, br) when the request accepts E
    /__count             requests seen so far, as JSON (not counted)

Options: ``--die-after S`` stops listening and drops every connection S seconds after the first request
(the target dying mid-run); ``--tls CERT KEY`` serves HTTPS with that certificate. Prints ``listening URL``
when ready.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import socket
import ssl
import struct
import sys
import zlib

import brotli

HOSTILE = '</script><script>alert(1)</script> "><img src=x onerror=alert(2)> {{7*7}} ${7*7} \x1b[31m\x00'
COOKIE = "sid=COOKIESECRET-4711; Path=/; HttpOnly"


class FaultServer:
    def __init__(self) -> None:
        self.count = 0
        self.writers: set[asyncio.StreamWriter] = set()
        self.first_request = asyncio.Event()  # the die-after clock starts here, not at start-up

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                if path == "/__count":
                    await self.send(writer, 200, json.dumps({"requests": self.count}).encode())
                    continue
                self.count += 1
                self.first_request.set()
                if path in ("/echo", "/encoded/gzip", "/encoded/deflate", "/encoded/br"):
                    await self.protocol(path, method, headers, body, writer)
                elif not await self.answer(path.split("?")[0], writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    async def send(self, writer: asyncio.StreamWriter, status: int, body: bytes,
                   extra: dict[str, str] | None = None) -> None:
        reason = {200: "OK", 302: "Found", 500: "Internal Server Error"}.get(status, "Status")
        fields = {"Content-Length": str(len(body)), "Content-Type": "text/html", **(extra or {})}
        head = [f"HTTP/1.1 {status} {reason}", *(f"{k}: {v}" for k, v in fields.items())]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    async def protocol(self, path: str, method: str, headers: dict[str, str], body: bytes,
                       writer: asyncio.StreamWriter) -> None:
        """What a client must get right: ``/echo`` answers the request it got as JSON; ``/encoded/E`` sends
        a body compressed with E when the client said it accepts E."""
        if path == "/echo":
            echo = {"method": method, "headers": headers, "body": body.decode("utf-8", "replace")}
            await self.send(writer, 200, json.dumps(echo).encode(), {"Content-Type": "application/json"})
            return
        encoding = path.rsplit("/", 1)[1]
        plain = b"compressed hello " * 50
        if encoding not in headers.get("accept-encoding", ""):
            await self.send(writer, 200, plain)
        else:
            packed = {"gzip": lambda: gzip.compress(plain), "deflate": lambda: zlib.compress(plain),
                      "br": lambda: brotli.compress(plain)}[encoding]()
            await self.send(writer, 200, packed, {"Content-Encoding": encoding})

    async def answer(self, path: str, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False when the connection is finished with."""
        if path == "/ok":
            await self.send(writer, 200, b"ok", {"Set-Cookie": COOKIE})
        elif path == "/hang":
            await asyncio.sleep(3600)
            return False
        elif path == "/reset":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\npartial")
            await writer.drain()
            sock = writer.get_extra_info("socket")
            if sock is not None:  # RST instead of FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif path == "/drop":  # the request arrived; the connection dies before a byte of the answer
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif path == "/slow-body":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\nContent-Type: text/plain\r\n\r\n")
            for _ in range(6):
                await writer.drain()
                await asyncio.sleep(0.1)
                writer.write(b"x" * 10)
            await writer.drain()
        elif path.startswith("/sleep/"):
            await asyncio.sleep(float(path.removeprefix("/sleep/")) / 1000)
            await self.send(writer, 200, b"ok")
        elif path.startswith("/flood/"):
            body = f"<h1>failure at {path}</h1><pre>{HOSTILE}</pre>".encode() + b"\xff\xfe invalid utf-8"
            await self.send(writer, 500, body)
        elif path.startswith("/status/"):
            await self.send(writer, int(path.removeprefix("/status/")), b"status as asked")
        elif path == "/redirect-away":
            await self.send(writer, 302, b"", {"Location": "http://elsewhere.invalid/landing"})
        elif path == "/redirect-here":
            await self.send(writer, 302, b"", {"Location": "/ok"})
        else:
            await self.send(writer, 404, b"not found")
        return True


async def main(args: argparse.Namespace) -> None:
    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
    app = FaultServer()
    server = await asyncio.start_server(app.handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    print(f"listening {'https' if context else 'http'}://127.0.0.1:{port}", flush=True)
    if args.die_after:
        await app.first_request.wait()
        await asyncio.sleep(args.die_after)
        server.close()
        for writer in list(app.writers):
            writer.transport.abort()
        print("died", flush=True)
        await asyncio.sleep(3600)
    else:
        await server.serve_forever()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--die-after", type=float, default=0.0)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    return parser.parse_args(argv)


if __name__ == "__main__":
    try:
        asyncio.run(main(parse(sys.argv[1:])))
    except KeyboardInterrupt:
        pass
