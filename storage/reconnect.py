"""Readers that outlive a database hiccup: back off, say so once, carry on when it answers.

A run's engine waits on the decisions inbox for hours, ``attach`` and ``serve-metrics`` follow
runs overnight. Their connections die under them — a server restart, a failover, an idle
connection cut by a firewall, an administrator's ``pg_terminate_backend`` — and a reader that
gave up on the first failed query left a run waiting forever for an approval that had been
posted. :class:`Reconnecting` is the policy they share: wait a growing interval after each
failure (up to ``max_s``), log one warning when the database first fails and one line when it
answers again, and give up only after ``give_up_s`` of nothing but failures (never, for a
reader that must not end).
"""

from __future__ import annotations

import asyncio
import logging
import time

from storage.errors import StorageError

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 2.0


class Reconnecting:
    """Backoff state of one reader: call :meth:`failed` after each failure, :meth:`ok` after
    each success."""

    def __init__(
        self,
        what: str,
        *,
        give_up_s: float | None = None,
        first_s: float = FIRST_DELAY_S,
        max_s: float = MAX_DELAY_S,
    ) -> None:
        """``what`` names the reader in the log ("the decisions inbox of run X")."""
        self.what = what
        self.give_up_s = give_up_s
        self.first_s = first_s
        self.max_s = max_s
        self.failures = 0
        """Failures since the last success."""
        self._since: float | None = None
        self._delay = first_s

    async def failed(self, exc: StorageError) -> None:
        """Wait before the next try; re-raise ``exc`` once failing for ``give_up_s``."""
        now = time.monotonic()
        if self._since is None:
            self._since = now
            log.warning("%s: %s; trying again", self.what, exc)
        self.failures += 1
        if self.give_up_s is not None and now - self._since >= self.give_up_s:
            raise exc
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self.max_s)

    def ok(self) -> None:
        """The database answered: reset the backoff (and say so after an outage)."""
        if self._since is not None:
            log.warning(
                "%s: the database answers again after %.1fs",
                self.what,
                time.monotonic() - self._since,
            )
        self._since = None
        self.failures = 0
        self._delay = self.first_s
