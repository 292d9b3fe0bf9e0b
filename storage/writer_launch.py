"""Starting the storage writer's process, before the run has loaded what it needs.

The child (:mod:`storage.process_writer`) spends most of its start importing — Python,
SQLAlchemy, the event models — and so does the run's own process: the engine, the
providers, the gates and the store, ~1 s of CPU. A child spawned once those imports are done
was still importing when the run had set itself up, and the run waited for it. This module
imports nothing but the standard library and :mod:`engine.secrets`, so ``demo``, ``run`` and
``resume`` spawn the child before they load the factory (:mod:`tui.commands.launch`), and
the two processes import side by side. :class:`~storage.run_writer.ProcessStorageWriter`
takes the child over once the store is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping

from engine.secrets import is_secret_name

LINE_LIMIT = 256 * 1024 * 1024
"""Longest line either side reads: one event's JSON (a blueprint, a large agent output)."""


class WriterLaunch:
    """A writer process started before its run knows its store, to open it later.

    The child spends most of its start importing (Python, SQLAlchemy, the event models):
    600 ms of the 2-core machine's time to ``RunStarted``, waited for after the run's own
    set-up. Spawned first, it imports while the run routes its models, checks the repository
    and migrates the store; :meth:`~storage.run_writer.ProcessStorageWriter.launched` then
    sends the URL of the migrated store and waits for ``ready``. Whoever spawns it calls
    :meth:`discard` in a ``finally``: a set-up that fails (a refused repository) leaves no
    child behind; once taken, the child is the writer's.
    """

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        """Wrap a started child; prefer :meth:`spawn`."""
        self.process = process
        self._taken = False

    @classmethod
    async def spawn(cls) -> WriterLaunch:
        """Start the child; it waits for the database URL on its stdin."""
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "storage.writer_main",
                str(os.getpid()),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
                env=writer_environment(os.environ),
            )
        except OSError as exc:
            # Loaded only here: storage.errors loads SQLAlchemy, which this module must not.
            from storage.errors import StorageError, one_line

            raise StorageError(f"cannot start the storage writer: {one_line(exc)}") from exc
        return cls(process)

    def take(self) -> asyncio.subprocess.Process:
        """The child, for the writer that opens it; it is the writer's from here on.
        RuntimeError when it was taken or discarded already."""
        if self._taken:
            raise RuntimeError("this writer process was already opened or discarded")
        self._taken = True
        return self.process

    async def discard(self) -> None:
        """Kill and reap the child unless :meth:`take` took it; idempotent."""
        if self._taken:
            return
        self._taken = True
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        await self.process.wait()


def writer_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The writer process's environment: ``environ`` without its secrets (the model
    providers' keys, a GitHub token), which it has no use for and which a command of the
    run could read while it starts (:func:`~engine.secrets.hide_process_environment`).
    PostgreSQL's own variables stay: the store may log in with ``PGPASSWORD``."""
    return {
        name: value
        for name, value in environ.items()
        if name.upper().startswith("PG") or not is_secret_name(name)
    }
