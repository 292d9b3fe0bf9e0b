"""Terminal output that outlives its terminal.

A run started in an SSH session outside tmux loses its terminal when the connection drops:
the process gets SIGHUP (handled like Ctrl-C, see :mod:`engine.interrupt`) and every write
to the terminal fails with EIO from then on. The graceful stop still has to store the last
events, flush the traces and exit with the code that says "resumable", and a failing
``print`` in the middle of it would turn that into a traceback. :class:`LosableStream`
wraps stdout or stderr for the consoles: on the first failed write the stream's descriptor
is pointed at ``/dev/null`` (as ``nohup`` would have done), so later writes — ours, the
interpreter's final flush, a last log line — succeed and go nowhere.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, TextIO


class LosableStream:
    """A text stream that goes quiet instead of failing once its terminal is gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.lost: str | None = None
        """Why output stopped (the first write's error), or None while it works."""

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            self._lose(exc)
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._lose(exc)

    def _lose(self, exc: OSError) -> None:
        if self.lost is None:
            self.lost = exc.strerror or str(exc)
        self.lose_quietly()

    def lose_quietly(self) -> None:
        """Send the stream's file and what is buffered for it to /dev/null (so that
        flushing it at exit does not fail again)."""
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()  # what was buffered now goes to /dev/null

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
