"""Opening a SQLAlchemy async engine on a shopfloor database URL.

SQLite (aiosqlite) runs in WAL mode so other processes can read — tail, attach, approve —
while a run writes, with ``synchronous=FULL`` so that a commit the writer acknowledged
survives even a power cut (group commit keeps the fsyncs few), and a busy timeout so that two
writers queue rather than fail. PostgreSQL (asyncpg) gets a connect timeout, so an unreachable
server is one line rather than a hang, a URL's ``application_name`` and ``options`` as
its server settings, and its TLS files checked and handed to asyncpg (:mod:`storage.pg_tls`).
Nothing here creates tables; migrations do that.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import ssl
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event as sa_event
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from storage.errors import LOG_GONE_REMEDY, StorageError, one_line, tls_alert
from storage.paths import (
    MASKED_PASSWORD,
    PG_SERVER_SETTINGS,
    ensure_folder,
    expand_home,
    parse_db_url,
    safe_url,
)
from storage.pg_cert_refusal import refusal
from storage.pg_tls import TLS_PARAMS, check_tls_files, system_context, tls_dsn
from storage.schema import declare_postgresql_options
from storage.sqlite_dialect import engine_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 10.0


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return expand_home(Path(database))


def probe_sqlite_file(path: Path, url: str) -> None:
    """Open ``path`` once with the standard driver, or raise a one-line StorageError.

    A path SQLite cannot open (a folder, a file it may not read) fails here, in this thread.
    Through aiosqlite the same failure leaves the connection's worker thread answering a
    loop that may have closed by then: a stray "Event loop is closed" traceback on stderr
    under the one-line error.
    """
    if path.is_dir():
        raise StorageError(f"cannot open database {safe_url(url)}: {path} is a folder")
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # missing or unreadable: the open below says which
    if 0 < size < SQLITE_MIN_PAGE:  # SQLite reads a 1-byte file as an empty database
        raise StorageError(_not_a_database(path, url))
    if size:
        _refuse_other_bytes(path, url)
    try:
        sqlite3.connect(path).close()
    except sqlite3.Error as exc:
        raise StorageError(why_not_opened(url, exc)) from exc


SQLITE_MIN_PAGE = 512
"""The smallest page: a database file holds whole pages, or nothing yet (a WAL database's
main file is empty until its first checkpoint)."""


def _refuse_other_bytes(path: Path, url: str) -> None:
    """Raise a one-line StorageError when ``path`` holds other bytes than a database's.

    SQLite reads the header itself, of the main file alone (``immutable=1``: a file renamed
    over a database would otherwise pass on the old page 1 still in the ``-wal`` beside it).
    The file is never opened here but through SQLite: closing any descriptor of a file
    drops every POSIX lock this process holds on it, the shared locks of its open SQLite
    connections included, and another process closing the database would then take itself
    for its last user, checkpoint, truncate the WAL and delete the ``-shm`` file under them
    (their next read: "disk I/O error"). SQLite's unix VFS keeps such a close pending while
    other connections of the process hold locks.
    """
    try:
        probe = sqlite3.connect(f"file:{quote(str(path))}?immutable=1", uri=True)
        try:
            probe.execute("PRAGMA schema_version")
        finally:
            probe.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
            raise StorageError(_not_a_database(path, url)) from exc
        # Anything else (a file it may not read): the plain open after this says it.


def _not_a_database(path: Path, url: str) -> str:
    """Why ``path``, a file of other bytes than a SQLite database's, is not opened."""
    leases = path.with_name(path.name + ".leases")
    if leases.is_dir():  # runs were driven on a database there: not a --db typo
        return (
            f"cannot open database {safe_url(url)}: {path} is not a SQLite database any "
            f"more, though runs were driven on one there (their leases are in {leases}): "
            f"it was overwritten or replaced; {LOG_GONE_REMEDY}"
        )
    return (
        f"cannot open database {safe_url(url)}: {path} is not a SQLite database; "
        "use --db with a database file or a new path"
    )


def why_not_opened(url: str, exc: BaseException) -> str:
    """The one line saying why the database at ``url`` could not be opened.

    SQLite says only "unable to open database file" when the file's folder is read-only: a
    database in WAL mode (shopfloor's) cannot be read without the ``-wal`` and ``-shm`` files
    beside it, which it must create. Opening it ``?mode=ro`` fails the same way, and
    ``?immutable=1`` would read it without them, missing what a writer elsewhere committed
    and not yet checkpointed (or pages it moves meanwhile), so the user is told what to do.
    """
    parsed = parse_db_url(url)
    path = sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None
    if path is not None and not os.access(path.parent, os.W_OK):
        if not path.exists():
            return (
                f"cannot create database {safe_url(url)}: its folder {path.parent} is "
                "read-only; use --db with a file in a folder you can write"
            )
        return (
            f"cannot open database {safe_url(url)}: its folder {path.parent} is read-only, "
            f"and SQLite must create {path.name}-wal and {path.name}-shm beside it to read a "
            "database in WAL mode; make the folder writable, or copy the database (with "
            f"any {path.name}-wal) to a folder you can write and use --db on the copy"
        )
    if parsed.get_backend_name() == "postgresql":
        problem = _server_problem(parsed, exc)
        if problem is not None:
            return f"cannot open database {safe_url(url)}: {problem}"
    return f"cannot open database {safe_url(url)}: {one_line(exc)}"


def _server_problem(url: URL, exc: BaseException) -> str | None:
    """What to check when no PostgreSQL server could be reached at ``url``'s address, or it
    has no such database; None when the failure is something else. The driver's words
    were "[Errno 111] Connection refused", "[Errno -2] Name or service not known" and,
    from a server that never answers, only "TimeoutError"."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    where = f"{url.host or 'localhost'}:{url.port or 5432}"
    sqlstate = str(getattr(cause, "sqlstate", ""))
    if sqlstate == "28P01" and url.password == MASKED_PASSWORD:  # invalid_password
        return (
            f"password authentication failed for {url.username!r}: the URL's password is "
            f"{MASKED_PASSWORD}, as the commands shopfloor prints show it; put the real "
            "password back, or leave it out of the URL and set PGPASSWORD or ~/.pgpass"
        )
    if sqlstate == "3D000":  # invalid_catalog_name
        return (
            f"there is no database {url.database!r} on {where}; create it (createdb) or "
            "check the database name in the URL"
        )
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _refused_certificate(url, where, cause)
    alert = tls_alert(exc)
    if alert is not None:
        return refusal(url, alert)
    if isinstance(cause, socket.gaierror):
        return f"cannot find host {url.host!r} ({cause.strerror}); check the host in the URL"
    if isinstance(cause, ConnectionRefusedError):
        return (
            f"nothing accepts connections at {where} (connection refused); is PostgreSQL "
            "running there, on that port?"
        )
    if isinstance(cause, TimeoutError):
        timeout = url.query.get("timeout")
        seconds = float(timeout) if isinstance(timeout, str) else PG_CONNECT_TIMEOUT_S
        return (
            f"no answer from {where} within {seconds:g}s; is PostgreSQL running there and "
            "reachable from here? (?connect_timeout=N in the URL waits longer)"
        )
    return None


_NAME_MISMATCH = (62, 64)
"""OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH."""


def _refused_certificate(url: URL, where: str, cause: ssl.SSLCertVerificationError) -> str:
    """What a certificate the client refused (``verify-ca``, ``verify-full``, ``require``
    with a root certificate) means: asyncpg's words are OpenSSL's, "[SSL:
    CERTIFICATE_VERIFY_FAILED] certificate verify failed: ... (_ssl.c:1006)"."""
    reason = str(cause.verify_message or cause.reason or cause).rstrip(".")
    if cause.verify_code in _NAME_MISMATCH:
        return (
            f"the server's certificate is not for {url.host!r} ({reason}); connect by a name "
            "the certificate holds, or with sslmode=verify-ca to check only who signed it"
        )
    return (
        f"the certificate of the server at {where} was refused ({reason}); is sslrootcert "
        "the CA that signed it?"
    )


def make_engine(url: str) -> AsyncEngine:
    """An async engine for ``url`` (already normalised), its folder created for SQLite."""
    parsed = parse_db_url(url)
    target: str | URL = url
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is None:
            # One shared connection, or every connection would see its own empty database.
            kwargs["poolclass"] = StaticPool
        else:
            ensure_folder(path.parent, "database folder")
            probe_sqlite_file(path, url)
        target = engine_url(parsed)  # aiosqlite, its connections terminated without a hang
    else:
        declare_postgresql_options()
        # asyncpg takes its timeout as a number; a URL's query holds text.
        timeout = parsed.query.get("timeout")
        kwargs["connect_args"] = {
            "timeout": float(timeout) if isinstance(timeout, str) else PG_CONNECT_TIMEOUT_S
        }
        settings = {
            name: value
            for name in PG_SERVER_SETTINGS
            if isinstance(value := parsed.query.get(name), str)
        }
        if settings:
            kwargs["connect_args"]["server_settings"] = settings
        check_tls_files(parsed.query)
        dropped = ["timeout", *PG_SERVER_SETTINGS, *TLS_PARAMS]
        context = system_context(parsed.query)
        if context is not None:  # it carries every TLS setting, sslmode's included
            kwargs["connect_args"]["ssl"] = context
            dropped.append("ssl")
        elif (dsn := tls_dsn(parsed.query)) is not None:
            kwargs["connect_args"]["dsn"] = dsn
        target = parsed.difference_update_query(dropped)
    try:
        engine = create_async_engine(target, **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise StorageError(f"cannot use database {safe_url(url)}: {one_line(exc)}") from exc
    if parsed.get_backend_name() == "sqlite":
        sa_event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
    return engine
