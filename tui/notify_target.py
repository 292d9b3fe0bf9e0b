"""Where a run under systemd sends its notifications: read from the environment, and taken
out of it before any child process starts.

Kept apart from :mod:`tui.systemd_notify`, which says what is sent and loads the event models
to say it: ``demo``, ``run`` and ``resume`` take the variables first thing, before they spawn
the storage writer's process (:mod:`tui.commands.launch`), with nothing of the factory loaded.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from dataclasses import dataclass

NOTIFY_VARIABLES = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""What systemd sets for the service's main process; taken out of the environment."""


@dataclass(frozen=True)
class NotifyTarget:
    """Where to send the notifications, and how often to ping the watchdog (None: never)."""

    address: str
    """A socket path, or an abstract name starting with a NUL byte."""
    watchdog_s: float | None = None

    @classmethod
    def take(cls, environ: MutableMapping[str, str], pid: int | None = None) -> NotifyTarget | None:
        """Read and remove :data:`NOTIFY_VARIABLES` from ``environ``; None when there is no
        usable ``NOTIFY_SOCKET`` (unset, or neither an absolute path nor ``@name``).

        The watchdog is on when ``WATCHDOG_USEC`` is a positive number and ``WATCHDOG_PID``
        is unset or this process's ``pid`` (systemd may mean another process)."""
        name, usec, watchdog_pid = (environ.pop(n, "").strip() for n in NOTIFY_VARIABLES)
        if name.startswith("@") and len(name) > 1:
            address = "\0" + name[1:]
        elif name.startswith("/"):
            address = name
        else:
            return None
        own = os.getpid() if pid is None else pid
        try:
            interval = int(usec) / 2_000_000 if usec else None
            if watchdog_pid and int(watchdog_pid) != own:
                interval = None
        except ValueError:
            interval = None
        return cls(address, interval if interval is not None and interval > 0 else None)
