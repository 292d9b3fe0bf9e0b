"""How a command ends: its exit codes, and the usage error (wrong arguments: exit code 2).

Imports nothing: ``shopfloor`` names them for every command, and a command that opens no
store (``doctor``, ``init``, ``dna``) no longer loaded SQLAlchemy and the whole store (~200
ms) with them, as it did when they lived beside :func:`tui.commands.common.open_store`.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_KILLED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_TRY_LATER = 75
"""EX_TEMPFAIL (sysexits.h): the database could not be reached, or a run stopped because its
events could not be stored; the same command carries on once the database is back (a
systemd unit restarts on it)."""


class UsageError(ValueError):
    """Wrong arguments; one line."""
