"""The storage layer's errors, and how a driver's failure becomes one readable line.

Everything that goes wrong below the store — a bad URL, an unreachable server, a path that
cannot be written, a duplicate sequence number — reaches callers as a :class:`StorageError`
whose message is a single line the CLI can print as is. The driver's exception stays attached
as ``__cause__`` for debugging.
"""

from __future__ import annotations

import re
import socket
import ssl

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
    this is the run failing in this process, not bad input (the CLI exits 1, not 2; 75 for
    :class:`EventsNotStored`, which the same command outlasts)."""


class DatabaseUnreachable(StorageError):
    """The database could not be reached (refused, no answer in time, a server starting up
    or shutting down, out of connections, a SQLite file another process keeps locked): an
    outage the same command may outlast when tried again later — the CLI exits 75
    (EX_TEMPFAIL) — unlike a malformed URL, a wrong password or database name (exit 2)."""


class WritesRefused(StorageError):
    """The database refuses the run's events for a reason waiting does not cure: the role
    lost its privilege, a table was dropped, the file is no longer a database or may not be
    written, a trigger or a constraint rejects them (see :func:`refused_for_good`). A run
    meeting it stops at once, resumable, with exit code 1: under systemd, 75 restarted it
    into the same refusal all night."""


class LogGone(WritesRefused):
    """The database no longer holds the run's log: its events table was dropped, or its
    SQLite file deleted or replaced during the run. ``resume`` on it has nothing to carry on
    from (:data:`LOG_GONE_REMEDY` says what does)."""


LOG_GONE_REMEDY = (
    "restore the database from a backup, or `shopfloor import` an export of the run into a "
    "new database (--db)"
)
"""What brings a run's log back once its database lost it: ``db upgrade`` does not (its
revision is still stamped), and a new, empty database knows no run."""


class ProjectionGone(WritesRefused):
    """A projection table (``runs``, ``tasks``, ``escalations``, ``learnings``) or the
    decisions inbox is gone while the log is not: ``shopfloor db rebuild`` recreates it
    (:data:`REBUILD_REMEDY`, :data:`INBOX_REMEDY`), and the run carries on from there."""


REBUILD_REMEDY = (
    "`shopfloor db rebuild` recreates it from the events table (a projection of the log: "
    "nothing is lost)"
)
"""What brings back a projection table that was dropped: the log it derives from holds it."""

PROJECTION_TABLES = frozenset({"runs", "tasks", "escalations", "learnings"})
"""The names of :data:`storage.schema.PROJECTIONS` (not imported: this module is loaded by
commands that never touch a table; a test pins them equal)."""

INBOX_TABLE = "decisions"
"""The decisions inbox's table (:data:`storage.schema.decisions`)."""

REBUILT_TABLES = PROJECTION_TABLES | {INBOX_TABLE}
"""The tables ``shopfloor db rebuild`` makes again when they are gone."""

INBOX_REMEDY = (
    "`shopfloor db rebuild` makes it again, empty (answers posted and not yet taken by their "
    "run went with it: post them again; those a run took are in its log)"
)
"""What brings back a dropped decisions inbox: it is no projection, so only its table."""


class EventsNotStored(RunStopped):
    """A run stopped because its events could not be stored (the writer gave up): what was
    committed stays, and the same command carries the run on once the database takes writes
    again — the CLI exits 75, as for :class:`DatabaseUnreachable`."""


class RunNotFound(StorageError):
    """No stored run matches the given id or prefix."""


class RunInFlight(StorageError):
    """Another live process drives this run; ``holder`` says which. ``db`` is the ``--db``
    of the database the run is on (:func:`storage.paths.db_option`, not imported here:
    paths imports this module), which the commands the line names carry."""

    def __init__(self, run_id: str, holder: str, db: str = "") -> None:
        super().__init__(
            f"run {run_id} is still running ({holder}); follow it with `shopfloor attach "
            f"{run_id}{db}` (the screen) or `shopfloor tail {run_id}{db}` (its lines)"
        )
        self.run_id = run_id
        self.holder = holder
        self.db = db


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
    if tls_alert(cause) is not None:
        return False
    if isinstance(cause, DBAPIError):
        if cause.connection_invalidated:
            return True
        cause = cause.orig
    if isinstance(cause, ssl.SSLCertVerificationError):
        # An OSError too, but the server's certificate is refused (rotated to one the URL's
        # CA did not sign, say): waiting the outage window out would not change it.
        return False
    if isinstance(cause, OSError | TimeoutError):
        return True
    state = str(getattr(cause, "sqlstate", "") or "")
    return state.startswith(_CONNECTION_SQLSTATES)


_UNREACHABLE_SQLSTATES = frozenset(
    {"08000", "08001", "08003", "08006", "57P01", "57P02", "57P03", "53300"}
)
"""Connection exceptions that say nothing about the URL (not 08004, the server refusing the
client, nor 08P01, a protocol violation), the server shutting down or starting up, and
too_many_connections."""

_SQLITE_BUSY = frozenset({5, 6})
"""SQLITE_BUSY and SQLITE_LOCKED: another connection held the lock past the busy timeout."""


def unreachable(exc: BaseException) -> bool:
    """Whether the driver's error under ``exc`` says the database could not be reached for
    now (see :class:`DatabaseUnreachable`), not that the URL, login or database is wrong.

    Narrower than :func:`lost_connection`, which a run rides out: a host name that does not
    resolve (except "try again": a resolver not up yet), a refused certificate, a server that
    refuses the SSL the URL requires and a socket it may not open are the URL's or the
    set-up's to fix, and trying again cannot help.
    """
    seen: set[int] = set()
    cause: BaseException | None = exc.__cause__ if isinstance(exc, StorageError) else exc
    if tls_alert(cause) is not None:
        return False
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        if _unreachable_here(cause):
            return True
        cause = cause.orig if isinstance(cause, DBAPIError) else cause.__cause__
    return False


def tls_alert(exc: BaseException | None) -> ssl.SSLError | None:
    """The TLS alert the server ended the connection with, anywhere under ``exc``, or None.

    Under TLS 1.3 the server judges the client's certificate after the client's side of the
    handshake is done, so its refusal ("tlsv1 alert unknown ca", "sslv3 alert bad
    certificate", "tlsv13 alert certificate required") arrives on the first read, and
    asyncpg reports it as the connection lost — ConnectionDoesNotExistError (08003) with the
    SSLError as its cause — which on its own reads as an outage. An alert is the server's
    verdict, not a server gone: waiting cannot change it.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLError) and "ALERT" in str(getattr(exc, "reason", "") or ""):
            return exc
        exc = exc.orig if isinstance(exc, DBAPIError) else exc.__cause__
    return None


def failure(message: str, exc: BaseException) -> StorageError:
    """The error to raise, from ``exc``, for a database call that failed: a
    :class:`DatabaseUnreachable` when it could not reach the database, else a StorageError."""
    return (DatabaseUnreachable if unreachable(exc) else StorageError)(message)


def read_failure(what: str, exc: BaseException, db: str) -> StorageError:
    """The error to raise for a read (``cannot {what}``) that failed: :func:`failure`'s, but
    a projection table that is gone is named with what brings it back, the log being whole:
    the rebuild command with ``db``, the ``--db`` of the database read
    (:func:`storage.paths.db_option`, not imported here: paths imports this module)."""
    table = missing_table(exc)
    if table in REBUILT_TABLES:
        return StorageError(f"cannot {what}: {lost_table_line(table, db)}")
    return failure(f"cannot {what}: {one_line(exc)}", exc)


def lost_table_line(table: str, db: str) -> str:
    """That the database has no ``table`` (a projection or the inbox), and the rebuild, with
    ``db``, that makes it again (:data:`REBUILD_REMEDY`, :data:`INBOX_REMEDY`)."""
    remedy = INBOX_REMEDY if table == INBOX_TABLE else REBUILD_REMEDY
    remedy = remedy.replace("`shopfloor db rebuild`", f"`shopfloor db rebuild{db}`")
    return f"the database has no {table} table; {remedy}"


_NO_SSL_THERE = "rejected SSL upgrade"
"""asyncpg's words for a server that answered the SSLRequest of a URL requiring SSL with "no
SSL here": the URL's (or the server's set-up) to fix. asyncpg raises the same bare
ConnectionError for a server that sent an error in place of that answer (PostgreSQL does so
only when it could not start a process for the connection) and for a connection lost in the
handshake, both outages: no exception type tells this one apart, so its words do."""


def _unreachable_here(cause: BaseException) -> bool:
    if isinstance(cause, socket.gaierror):
        return cause.errno == socket.EAI_AGAIN
    if isinstance(cause, ssl.SSLError | PermissionError):
        # a certificate refused (SSLCertVerificationError) or a TLS alert from the server
        return False
    if type(cause) is ConnectionError and _NO_SSL_THERE in str(cause):
        return False
    if isinstance(cause, OSError | TimeoutError):
        return True
    if str(getattr(cause, "sqlstate", "") or "") in _UNREACHABLE_SQLSTATES:
        return True
    return getattr(cause, "sqlite_errorcode", None) in _SQLITE_BUSY


_REFUSING_SQLSTATE_CLASSES = ("42", "28", "3D", "3F", "23", "22", "27", "44", "09", "P0")
"""PostgreSQL's refusals a person must fix: syntax error or access rule violation (42501 a
privilege revoked, 42P01 a table dropped), invalid authorization (the role may no longer log
in), a database or schema that no longer exists; and the refusals of the data itself, which
the same batch meets again however long it waits: an integrity constraint (a CHECK, a
foreign key; a duplicate is :class:`AlreadyStored`, told apart before), a data exception,
a trigger's (triggered data change or action exceptions, PL/pgSQL's ``RAISE EXCEPTION``,
P0001, and ``ASSERT``). Temporary, and so not here: connection exceptions (08), insufficient
resources (53: a full disk, out of memory, too many connections), operator intervention
(57: the server shutting down, a statement timeout), transaction rollbacks (40:
serialization failures, deadlocks), lock waits (55), system errors (58: I/O). A read-only
transaction (25006: a standby, ``default_transaction_read_only``) is left temporary too: a
failover that promotes the standby cures it."""

_SQLITE_REFUSING = frozenset({1, 8, 11, 18, 19, 20, 23, 26})
"""SQLite's primary result codes a person must fix: SQLITE_ERROR (what the store writes no
longer compiles: a table or column dropped), SQLITE_READONLY (a read-only file or mount),
SQLITE_CORRUPT and SQLITE_NOTADB (the file was overwritten), SQLITE_CONSTRAINT (a trigger's
``RAISE(ABORT, ...)``, a CHECK, a NOT NULL; a duplicate is :class:`AlreadyStored`, told
apart before), SQLITE_TOOBIG, SQLITE_MISMATCH and SQLITE_AUTH (an authorizer's refusal). Not
SQLITE_BUSY nor SQLITE_LOCKED ("database is locked"), SQLITE_FULL, SQLITE_IOERR ("disk I/O
error") nor SQLITE_CANTOPEN: another writer done, space freed, a disk back, a file handle
closed cure them."""


_NO_SUCH_TABLE = re.compile(r"no such table: (?:\w+\.)?(\w+)")
_PG_NO_RELATION = re.compile(r'relation "(?:\w+\.)?(\w+)" does not exist')


def missing_table(exc: BaseException) -> str | None:
    """The table the driver's error under ``exc`` says does not exist (SQLite's "no such
    table", PostgreSQL's 42P01), or None."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        said = str(cause)
        found = _NO_SUCH_TABLE.search(said)
        if found is None and getattr(cause, "sqlstate", None) == "42P01":
            found = _PG_NO_RELATION.search(said)
        if found is not None:
            return found.group(1)
        cause = cause.orig if isinstance(cause, DBAPIError) else cause.__cause__
    return None


def events_table_missing(exc: BaseException) -> bool:
    """Whether the driver's error under ``exc`` says the ``events`` table does not exist:
    every run's log went with it."""
    return missing_table(exc) == "events"


def refusal(exc: BaseException) -> type[WritesRefused]:
    """The kind of :class:`WritesRefused` a refusal for good (:func:`refused_for_good`) is:
    the log gone, a projection gone, or neither."""
    table = missing_table(exc)
    if table == "events":
        return LogGone
    return ProjectionGone if table in REBUILT_TABLES else WritesRefused


def refused_for_good(exc: BaseException) -> bool:
    """Whether the driver's error under ``exc`` says the database refuses the write for a
    reason waiting does not cure (see :class:`WritesRefused`: a privilege, a table gone, a
    read-only or overwritten file, a trigger's or a constraint's refusal), as opposed to an
    outage, a full disk or a lock (retried, then exit 75). An error that names no class
    (no SQLSTATE, no SQLite code) stays temporary."""
    if isinstance(exc, WritesRefused):
        return True
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        state = str(getattr(cause, "sqlstate", "") or "")
        if state.startswith(_REFUSING_SQLSTATE_CLASSES):
            return True
        code = getattr(cause, "sqlite_errorcode", None)
        if isinstance(code, int) and code & 0xFF in _SQLITE_REFUSING:
            return True
        cause = cause.orig if isinstance(cause, DBAPIError) else cause.__cause__
    return False
