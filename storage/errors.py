"""The storage layer's errors, and how a driver's failure becomes one readable line.

Everything that goes wrong below the store — a bad URL, an unreachable server, a path that
cannot be written, a duplicate sequence number — reaches callers as a :class:`StorageError`
whose message is a single line the CLI can print as is. The driver's exception stays attached
as ``__cause__`` for debugging.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

DB_ERRORS = (SQLAlchemyError, OSError, TimeoutError)
"""What a database call can raise: the driver's and SQLAlchemy's errors, sockets, timeouts."""


class StorageError(Exception):
    """The event store cannot do what was asked. ``str(err)`` is one line for the user."""


class AlreadyStored(StorageError):
    """A batch was refused: one of its events' sequence numbers (or its run) is stored."""


class RunStopped(StorageError):
    """A run's process stopped driving it part way: its events could not be stored, or
    another process took the run over. What was committed stays, so the run is resumable;
    this is the run failing in this process, not bad input (the CLI exits 1, not 2)."""


class RunNotFound(StorageError):
    """No stored run matches the given id or prefix."""


class AmbiguousRunId(StorageError):
    """A run id prefix matches more than one stored run."""

    def __init__(self, message: str, candidates: tuple[str, ...]) -> None:
        super().__init__(message)
        self.candidates = candidates


def one_line(exc: BaseException) -> str:
    """The first meaningful line of an exception's message, without driver boilerplate.

    SQLAlchemy messages carry the statement, parameters and a "Background on this error"
    link on later lines; a DBAPI error's own message (``exc.orig``) is the useful part.
    """
    source: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        source = exc.orig
    text = str(source).strip()
    if not text and isinstance(exc, SQLAlchemyError):
        text = str(exc).strip()
    first = text.splitlines()[0].strip() if text else ""
    return first or type(source).__name__


_CONNECTION_SQLSTATES = ("08", "57P01", "57P02", "57P03")
"""PostgreSQL's connection exceptions, and the server shutting down or starting up."""


def lost_connection(exc: BaseException) -> bool:
    """Whether ``exc`` (or the driver error under a StorageError) says the database could not
    be reached or dropped the connection — an outage worth waiting out — rather than refusing
    what was asked."""
    cause: BaseException | None = exc.__cause__ if isinstance(exc, StorageError) else exc
    if isinstance(cause, DBAPIError):
        if cause.connection_invalidated:
            return True
        cause = cause.orig
    if isinstance(cause, OSError | TimeoutError):
        return True
    state = str(getattr(cause, "sqlstate", "") or "")
    return state.startswith(_CONNECTION_SQLSTATES)
