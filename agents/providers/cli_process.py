"""Running a coding agent's process: its output read line by line, capped and cleaned.

The pieces :class:`~agents.providers.cli.CliProvider` runs the agent with: the prompt fed
to its stdin, its output split into lines cut to :data:`MAX_LINE` bytes with the secrets
redacted (:func:`lines`), the log capped at :data:`MAX_LINES_SAID` lines (:class:`Capped`),
and its end — once it has exited, what it left running in its process group is killed
(:func:`finished`, :func:`engine.strays.kill_group`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from engine.secrets import REDACTED, redacted_slice, secrets_pattern
from engine.strays import kill_group

MAX_LINE = 4_000_000
"""Bytes of one output line kept (a JSON event longer than this is read as text)."""
MAX_LINES_SAID = 5000
"""Lines of one run's output that reach the agent's log (an event each) before the rest is
only counted; its last :data:`LAST_LINES_SAID` lines are said at the end."""
LAST_LINES_SAID = 20


class Capped:
    """What of an agent's output reaches its log: the first :data:`MAX_LINES_SAID` lines, how
    many more there were, and the last of them.

    An agent at a verbose log level, or a build that prints a line per step, printed a
    hundred thousand lines: each became an event, the run's database grew by 30 MB and the run
    took a minute longer; a night of it would fill the disk.
    """

    def __init__(self, say: Callable[[str], None]) -> None:
        self._say = say
        self._said = 0
        self._unsaid = 0
        self._last: collections.deque[str] = collections.deque(maxlen=LAST_LINES_SAID)

    def __call__(self, text: str) -> None:
        if self._said < MAX_LINES_SAID:
            self._said += 1
            self._say(text)
        else:
            self._unsaid += 1
            self._last.append(text)

    def end(self) -> None:
        """Say how much was left out, and the last lines."""
        if self._unsaid:
            left_out = self._unsaid - len(self._last)
            if left_out:
                self._say(f"[{left_out} lines of the agent's output not shown]")
            for text in self._last:
                self._say(text)
        self._unsaid = 0
        self._last.clear()


EXIT_GRACE_S = 2.0
"""Seconds the output of an agent that has exited is still read for (what it printed last is
in the pipe) before what it left running in the background is killed."""


async def finished(process: asyncio.subprocess.Process, reading: asyncio.Future[Any]) -> int:
    """The agent's exit code, once it has exited and its output is read.

    A process it left behind (a dev server or a watcher started in the background) holds its
    output open: the attempt waited for it to its time limit and failed as timed out, however
    well the agent had done. Once the agent has exited, what is left of its process group is
    given :data:`EXIT_GRACE_S`, then killed.
    """
    exited = asyncio.ensure_future(exit_code(process))
    try:
        await asyncio.wait({reading, exited}, return_when=asyncio.FIRST_COMPLETED)
        for _ in range(2):  # the output's end, else killing the group closes it
            if (await asyncio.wait({reading}, timeout=EXIT_GRACE_S))[0]:
                break
            kill_group(process.pid)
        else:  # held open from outside the group (a child that made a session of its own)
            reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        return await exited
    finally:
        exited.cancel()


async def exit_code(process: asyncio.subprocess.Process) -> int:
    """The exit code, once the process has exited: ``process.wait()`` also waits for its
    pipes to close, which a process left behind holds open."""
    while process.returncode is None:  # noqa: ASYNC110 (asyncio tells an exit only by wait())
        await asyncio.sleep(0.05)
    return process.returncode


async def feed(process: asyncio.subprocess.Process, stdin: bytes | None) -> None:
    """Write ``stdin`` to the agent and close it; an agent that exits unread is no error."""
    if stdin is None or process.stdin is None:
        return
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.write(stdin)
        await process.stdin.drain()
    process.stdin.close()


_REDACTED = REDACTED.encode()


async def lines(
    stream: asyncio.StreamReader, secrets: Sequence[bytes] = ()
) -> AsyncIterator[tuple[bytes, bool]]:
    """The lines of ``stream`` cleaned of ``secrets``, each cut to its first MAX_LINE bytes,
    and whether it was cut: an agent that prints one enormous line (Node prints the minified
    source line of a crash) costs memory, not the attempt.

    A line is cleaned before it is cut (:func:`~engine.secrets.redacted_slice`): cut first, a
    key across the cut kept its first characters, which no longer matched it. So a line keeps
    as many bytes past the cut as the longest secret has until it is cleaned. A secret not
    among ``secrets`` (a value of a ``.env`` the agent writes) is cleaned after, where a cut
    line's end is looked at for its start (``WorktreeSecrets.mask(cut=True)``).
    """
    found = secrets_pattern(secrets)
    keep = MAX_LINE + max(map(len, secrets), default=0)
    line = bytearray()
    size = 0  # of the whole line, what was not kept included
    while chunk := await stream.read(1 << 16):
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            line += chunk[start : start + max(0, min(end - start, keep - len(line)))]
            size += end - start
            yield redacted_slice(bytes(line), 0, MAX_LINE, found, _REDACTED), size > MAX_LINE
            line.clear()
            size = 0
            start = end + 1
        line += chunk[start : start + max(0, keep - len(line))]
        size += len(chunk) - start
    if size:
        yield redacted_slice(bytes(line), 0, MAX_LINE, found, _REDACTED), size > MAX_LINE
