"""A scripted HTTP server on 127.0.0.1 for the provider conformance suite.

Tests queue replies (status, headers, a JSON body, raw bytes or SSE chunks, a delay); the
server answers each request with the next reply and records what it was sent, so a test can
check the wire format the SDK produced. A server that answers from what it is sent (counts the
prompt, cuts it as Ollama does) is given as ``respond`` instead: each request is answered by
``respond(seen)``.

A scripted server speaks no native API: a request under ``/api/`` (Ollama's, which the
OpenAI-compatible provider asks for the model's window before its first request) is answered
404 as vLLM or llama.cpp answer it, kept in ``native`` apart from ``seen``, and takes no
queued reply.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    json_body: Any = None
    raw: bytes | None = None
    sse: list[str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    reset: bool = False
    """After the SSE chunks, the connection is reset (TCP RST) instead of closed."""


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up early (the timeout test) is expected; stay quiet."""


class LoopbackServer:
    """Start with ``with LoopbackServer() as server:``; ``server.url`` is its base URL."""

    def __init__(self, respond: Callable[[Seen], Reply] | None = None) -> None:
        self.replies: deque[Reply] = deque()
        self.seen: list[Seen] = []
        self.native: list[Seen] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                seen = Seen(
                    self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                if respond is not None:
                    owner.seen.append(seen)
                    reply = respond(seen)
                elif self.path.startswith("/api/"):
                    owner.native.append(seen)
                    reply = Reply(404, {"detail": "Not Found"})
                else:
                    owner.seen.append(seen)
                    reply = (
                        owner.replies.popleft() if owner.replies else Reply(500, {"error": "none"})
                    )
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.sse is not None:
                    self.send_header("content-type", "text/event-stream")
                    self.send_header("cache-control", "no-cache")
                    self.end_headers()
                    for chunk in reply.sse:
                        self.wfile.write(chunk.encode("utf-8"))
                        self.wfile.flush()
                    if reply.reset:
                        self._reset()
                    return
                payload = (
                    reply.raw if reply.raw is not None else json.dumps(reply.json_body).encode()
                )
                if reply.raw is None:
                    self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

            def _reset(self) -> None:
                """Abort the connection: SO_LINGER 0 makes close() send RST, not FIN."""
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()
                self.close_connection = True

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def queue(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
