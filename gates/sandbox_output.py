"""What a sandboxed command prints, collected as it comes, bounded and cleaned of secrets.

The command's stdout and stderr come in merged through :class:`Collector`, the subprocess
protocol of :class:`~gates.sandbox.ProcessSandbox`, which tells the command's exit from the
close of its pipes (a background child holding stdout must not hold up the caller).
:class:`Capture` keeps the head and the tail of the text up to the sandbox's output limit and
cleans each of the secret values before it is cut.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Iterable

from engine.secrets import REDACTED, redacted_slice, secrets_pattern

MIN_MARGIN = 4096
"""Characters each end of the output keeps past its cap at least, so a secret added after the
command (:meth:`Capture.add_secrets`) that the cut crosses is blanked whole: a secret file's
values are lines (a private key's body: 64 characters each); 8 KB more per command."""


class Capture:
    """Keeps the head and the tail of a stream of text, bounded to ``limit`` characters, with
    ``secrets`` redacted.

    Cleaned after the cut, a key across it left its first characters at the end of the head
    (or its last at the start of the tail), no longer the whole value, so nothing replaced
    them. So each end keeps as many characters more as the longest secret has (at least
    :data:`MIN_MARGIN`: secrets added once the command ended), and each is cleaned before it
    is cut (:func:`~engine.secrets.redacted_slice`): a key the cut crosses is replaced whole.
    """

    def __init__(self, limit: int, secrets: Iterable[str] = ()) -> None:
        self.limit = max(limit, 0)
        self._head_limit = self.limit // 2
        self._tail_limit = self.limit - self._head_limit
        kept = tuple(secrets)
        self._kept = kept
        self._secrets = secrets_pattern(kept)
        margin = max([MIN_MARGIN, *map(len, kept)])
        self._head_cap = self._head_limit + margin
        self._tail_cap = self._tail_limit + margin
        self._head: list[str] = []
        self._head_len = 0
        self._tail = ""
        self.total = 0

    def feed(self, text: str) -> None:
        self.total += len(text)
        room = self._head_cap - self._head_len
        if room > 0:
            self._head.append(text[:room])
            self._head_len += len(text[:room])
            text = text[room:]
        if text and self._tail_cap:
            self._tail = (self._tail + text)[-self._tail_cap :]

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Clean of ``secrets`` too (the values of the worktree's secret files, looked for once
        the command ended). The margin stays the one set at the start: a new value longer
        than it and than every value known then is blanked whole where the output is not
        cut, in part where a cut crosses it."""
        self._kept = (*self._kept, *secrets)
        self._secrets = secrets_pattern(self._kept)

    @property
    def truncated(self) -> bool:
        """Whether :meth:`result` cuts the text."""
        return self.total > self.limit

    def result(self) -> tuple[str, bool]:
        head = "".join(self._head)
        if len(head) + len(self._tail) == self.total:  # all of it is here
            whole = head + self._tail
            if self.total <= self.limit:
                return self._cleaned(whole, 0, self.total), False
            head = self._cleaned(whole, 0, self._head_limit)
            tail = self._cleaned(whole, self.total - self._tail_limit, self.total)
        else:
            head = self._cleaned(head, 0, self._head_limit)
            tail = self._cleaned(self._tail, len(self._tail) - self._tail_limit, len(self._tail))
        dropped = self.total - self._head_limit - self._tail_limit
        note = f"\n... [shopfloor sandbox: {dropped} characters of output truncated] ...\n"
        return head + note + tail, True

    def _cleaned(self, text: str, start: int, stop: int) -> str:
        return redacted_slice(text, start, stop, self._secrets, REDACTED)


class Collector(asyncio.SubprocessProtocol):
    """Collects merged output and signals exit (the process) and close (its pipes) apart.

    ``Process.wait()`` only returns once every pipe is closed, so a background child holding
    stdout would hold up the caller; ``process_exited`` fires when the command itself ends.
    """

    def __init__(self, limit: int, secrets: Iterable[str] = ()) -> None:
        self.capture = Capture(limit, secrets)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.exited = asyncio.Event()
        self.closed = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.capture.feed(self._decoder.decode(data))

    def process_exited(self) -> None:
        self.exited.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.capture.feed(self._decoder.decode(b"", final=True))
        self.closed.set()

    def note(self, message: str) -> None:
        """Append a line of our own to the output."""
        self.capture.feed(f"\n[shopfloor sandbox: {message}]\n")
