"""The service manager's end of sd_notify, for tests: a datagram socket bound where a unit's
``$NOTIFY_SOCKET`` would name it, collecting what a run sends (there is no systemd here)."""

from __future__ import annotations

import contextlib
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator


class NotifyListener:
    """The service manager's end: a datagram socket collecting what the run sends."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.messages.append((time.monotonic(), data.decode()))

    def wait_for(self, pattern: str, timeout: float = 90) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for _, message in list(self.messages):
                if found := re.search(pattern, message):
                    return found
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {self.messages}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@contextlib.contextmanager
def listening() -> Iterator[tuple[str, NotifyListener]]:
    """A listener on a fresh abstract socket (as systemd's may be), and the ``@name`` that
    ``$NOTIFY_SOCKET`` gives for it."""
    name = f"shopfloor-test-{secrets.token_hex(4)}"
    heard = NotifyListener("\0" + name)
    try:
        yield "@" + name, heard
    finally:
        heard.close()
