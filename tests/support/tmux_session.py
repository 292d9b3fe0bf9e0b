"""A tmux session on a tmux server of its own, for the tests that drive a real terminal.

Every session used to be made on the default server, shared by the whole suite's workers.
tmux ends a server when its last session ends: a test's ``kill-session`` could end the
server while another worker's ``new-session`` was connecting to it, and that one failed
with "server exited unexpectedly" (CI, test_terminal_colours). Here each session has its
own socket (``-S``), no configuration file, and its server is killed, its socket removed,
when the test ends.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


class TmuxSession:
    """One session, ``main``, alone on its own tmux server."""

    def __init__(self, socket: Path) -> None:
        self.socket = socket

    def tmux(self, *args: str, check: bool = False) -> str:
        """Run a tmux command on this session's server; its standard output."""
        return subprocess.run(
            ["tmux", "-S", str(self.socket), "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        ).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux("send-keys", "-t", "main", *(["-l"] if literal else []), *keys, check=True)

    def screen(self, *, escapes: bool = False) -> str:
        """The pane's text (with its SGR sequences if ``escapes``)."""
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "main")


@contextlib.contextmanager
def tmux_session(
    *command: str, width: int, height: int, cwd: Path | None = None
) -> Iterator[TmuxSession]:
    """A detached ``width`` by ``height`` session running ``command`` (a shell if empty)."""
    session = TmuxSession(Path(tempfile.gettempdir()) / f"sf-tmux-{uuid.uuid4().hex[:12]}")
    new = ["new-session", "-d", "-s", "main", "-x", str(width), "-y", str(height), *command]
    try:
        subprocess.run(
            ["tmux", "-S", str(session.socket), "-f", "/dev/null", *new],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
            cwd=cwd,
        )
        yield session
    finally:
        subprocess.run(
            ["tmux", "-S", str(session.socket), "kill-server"], capture_output=True, check=False
        )
        session.socket.unlink(missing_ok=True)  # tmux leaves it behind
