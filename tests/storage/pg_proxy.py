"""A loopback TCP proxy in front of PostgreSQL that a test can take away and bring back.

``pg_terminate_backend`` kills connections but the server keeps answering new ones; an outage
— a restart, a failover, a network blip — also refuses connections for a while. The proxy
plays that without touching the shared server: :meth:`PgProxy.cut` drops every connection
through it and stops listening (new connections are refused), :meth:`PgProxy.restore`
listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy.engine import make_url


class PgProxy:
    """Forwards ``127.0.0.1:<port>`` to the server of a PostgreSQL URL."""

    def __init__(self, target_url: str) -> None:
        target = make_url(target_url)
        self.target_url = target_url
        self.target_host = target.host or "127.0.0.1"
        self.target_port = target.port or 5432
        self.port = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The target URL, through the proxy."""
        url = make_url(self.target_url).set(host="127.0.0.1", port=self.port)
        return url.render_as_string(hide_password=False)

    async def start(self) -> PgProxy:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.close()
            return
        self._pipes.update((client_w, server_w))
        await asyncio.gather(
            self._pump(client_r, server_w), self._pump(server_r, client_w), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._pipes.discard(writer)
            writer.close()

    async def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`restore`."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._pipes):
            transport = writer.transport
            with contextlib.suppress(Exception):
                transport.abort()
        self._pipes.clear()
        await asyncio.sleep(0.05)

    async def restore(self) -> None:
        """Accept connections again, on the same port."""
        await self.start()

    async def close(self) -> None:
        await self.cut()
