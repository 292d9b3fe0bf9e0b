"""Terminal output that outlives its terminal.

A run started in an SSH session outside tmux loses its terminal when the connection drops:
the process gets SIGHUP (handled like Ctrl-C, see :mod:`engine.interrupt`) and every write
to the terminal fails with EIO from then on. The graceful stop still has to store the last
events, flush the traces and exit with the code that says "resumable", and a failing
``print`` in the middle of it would turn that into a traceback. :class:`LosableStream`
wraps stdout or stderr for the consoles: on the first failed write the stream's descriptor
is pointed at ``/dev/null`` (as ``nohup`` would have done), so later writes — ours, the
interpreter's final flush, a last log line — succeed and go nowhere.

The same holds for a reader that goes away (``shopfloor demo | head``) or a file that fills
up: a run is a long job, so it goes on with its progress lines dropped, and
:func:`say_when_lost` has that said once, on stderr (when stderr still works).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console


class LosableStream:
    """A text stream that goes quiet instead of failing once its terminal is gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.lost: str | None = None
        """Why output stopped (the first write's error), or None while it works."""
        self.on_lost: Callable[[str], object] | None = None
        """Called once, with :attr:`lost`, when output stops."""

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
        first = self.lost is None
        if self.lost is None:
            self.lost = exc.strerror or str(exc)
        self.lose_quietly()
        if first and self.on_lost is not None:
            self.on_lost(self.lost)

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


def say_when_lost(console: Console, run_id: str, db: str = "") -> None:
    """When ``console``'s output is lost, say so once on stderr: the run's progress lines
    are dropped from then on, and where to see the run instead. Nothing if the console
    does not write to a :class:`LosableStream`. ``db``: the ``--db`` of the run's database
    (:func:`storage.paths.db_option`), which the status command carries."""
    stream = console.file
    if not isinstance(stream, LosableStream):
        return

    def say(why: str) -> None:
        errors = LosableStream(sys.stderr)  # gone too (one terminal, ``2>&1``): quiet
        errors.write(
            f"shopfloor: the output is gone ({why}): run {run_id}'s progress lines are "
            f"dropped from here on; `shopfloor status {run_id}{db}` shows where it is\n"
        )
        errors.flush()

    stream.on_lost = say
