"""Where shopfloor keeps its data, and which database a command talks to.

One place decides the database URL so that ``run``, ``status``, ``attach`` and ``replay``
always agree: the ``--db`` flag wins, then ``$SHOPFLOOR_DB``, then a SQLite file in the data
home (``$SHOPFLOOR_HOME`` or the platform's user data directory). Users may give a plain
file path instead of a URL; it becomes a SQLite URL. Only the async drivers the store runs
on are accepted, and anything else is refused with one line saying what would work — so is a
URL that lost its ``//`` or a server address without its scheme, which would have made a new
database under a folder of that name. A PostgreSQL URL may carry libpq's ``sslmode`` and
``connect_timeout``, passed to asyncpg by its own names, libpq's TLS files (``sslrootcert``,
``sslcert``, ``sslkey``, ``sslcrl``; made absolute, ``~`` expanded) and ``sslpassword``
(see :mod:`storage.pg_tls`), and ``application_name`` and ``options``, which asyncpg sends
the server as settings when it connects.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
from pathlib import Path
from urllib.parse import unquote_plus

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from engine.data_home import HOME_ENV, home_location
from storage.errors import StorageError
from storage.pg_tls import SSL_MODES, SYSTEM_ROOT, TLS_PARAMS

DB_ENV = "SHOPFLOOR_DB"
DB_FILENAME = "shopfloor.db"

SQLITE_DRIVER = "sqlite+aiosqlite"
POSTGRES_DRIVER = "postgresql+asyncpg"

# Schemes users write, mapped to the async driver the store uses for them.
_DRIVERS: dict[str, str] = {
    "sqlite": SQLITE_DRIVER,
    "sqlite+aiosqlite": SQLITE_DRIVER,
    "postgres": POSTGRES_DRIVER,
    "postgresql": POSTGRES_DRIVER,
    "postgresql+asyncpg": POSTGRES_DRIVER,
}

_URL_HINT = (
    "use a file path, sqlite+aiosqlite:///path/to/file.db or postgresql+asyncpg://user@host/db"
)

_SCHEME_TYPO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
"""The scheme of a URL written without its ``//`` (``sqlite:/srv/shop.db``)."""
_HOST_PORT = re.compile(r"[^/]*(@|:[0-9]+$)")
"""A first path component that reads as ``user@host`` or ``host:port``."""

_PG_QUERY: dict[str, str] = {
    "sslmode": "ssl",  # libpq's name, in every DSN an operator hands out
    "ssl": "ssl",
    "connect_timeout": "timeout",
    "timeout": "timeout",
    "target_session_attrs": "target_session_attrs",
    "prepared_statement_cache_size": "prepared_statement_cache_size",  # 0 behind pgbouncer
    "application_name": "application_name",
    "options": "options",  # "-csearch_path=app": the server's command-line options
    **{name: name for name in TLS_PARAMS},  # sslrootcert=/etc/ssl/corp-ca.pem, ...
}
"""The query parameters of a PostgreSQL URL the store passes on, by the name the user may
write (libpq's or asyncpg's) and the name asyncpg takes. Any other one reached asyncpg's
``connect()`` as a keyword it does not take: a traceback at the first query."""
TLS_FILES = ("sslrootcert", "sslcert", "sslkey", "sslcrl")
"""The parameters of :data:`_PG_QUERY` that name files: made absolute as the URL is read."""
PG_SERVER_SETTINGS = ("application_name", "options")
"""The parameters of :data:`_PG_QUERY` that are the server's settings, not ``connect()``'s
keywords: the engine hands them to asyncpg as its ``server_settings``."""


def data_home() -> Path:
    """The folder shopfloor keeps its data in (:func:`engine.data_home.home_location`),
    created if missing; a one-line :class:`StorageError` when ``$SHOPFLOOR_HOME`` names a
    ``~user`` with no home folder, or the folder cannot be made."""
    try:
        home = home_location()
    except RuntimeError:  # "~nosuchuser": expand_home says so in one line
        home = expand_home(Path(os.environ[HOME_ENV].strip()))
    ensure_folder(home, "data folder")
    return home


def expand_home(path: Path) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded, or a one-line
    :class:`StorageError` when there is no such home folder."""
    try:
        return path.expanduser()
    except RuntimeError as exc:  # "~nosuchuser", or no $HOME and no passwd entry
        raise StorageError(f"cannot find the home folder of {path.parts[0]!r} in {path}") from exc


def ensure_folder(folder: Path, what: str) -> None:
    """Create ``folder`` and its parents, or raise a one-line :class:`StorageError`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next(
            (p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None
        )
        reason = f"{blocker} is a file" if blocker is not None else (exc.strerror or str(exc))
        raise StorageError(f"cannot create {what} {folder}: {reason}") from exc


def default_db_url(explicit: str | None = None) -> str:
    """The database URL to use: ``explicit`` (the ``--db`` flag), else ``$SHOPFLOOR_DB``,
    else ``sqlite+aiosqlite:///<data_home>/shopfloor.db``.

    Plain file paths are turned into SQLite URLs; see :func:`normalize_db_url`. An empty
    ``$SHOPFLOOR_DB`` counts as unset.
    """
    if explicit is not None:
        return normalize_db_url(explicit)
    from_env = os.environ.get(DB_ENV, "").strip()
    if from_env:
        return normalize_db_url(from_env)
    return sqlite_url(data_home() / DB_FILENAME)


def sqlite_url(path: Path) -> str:
    """The async SQLite URL of a database file (made absolute, ``~`` expanded)."""
    return f"{SQLITE_DRIVER}:///{expand_home(path).resolve()}"


def normalize_db_url(value: str) -> str:
    """A URL the store can open, from what a user typed.

    ``foo.db`` or ``~/runs/shop.db`` become ``sqlite+aiosqlite:///<absolute path>``;
    ``sqlite://`` and ``postgresql://`` URLs get their async driver; an already async URL is
    returned as given. Raises :class:`StorageError` for an empty value, a malformed URL or a
    scheme the store has no driver for.
    """
    text = value.strip()
    if not text:
        raise StorageError(f"empty database URL ({_URL_HINT})")
    if "://" not in text:
        return sqlite_url(_plain_path(text))
    url = parse_db_url(text)
    driver = _DRIVERS[url.drivername]
    if driver == POSTGRES_DRIVER and url.query:
        url = url.set(query=_pg_query(url))
    elif driver == SQLITE_DRIVER and url.host:
        raise StorageError(
            f"malformed SQLite URL {url.drivername}://{url.host}/...: a SQLite URL has no "
            f"host; write {url.drivername}:///relative/path.db, "
            f"{url.drivername}:////absolute/path.db or just the file's path"
        )
    elif driver == url.drivername:
        return text
    return url.set(drivername=driver).render_as_string(hide_password=False)


def _plain_path(text: str) -> Path:
    """The file a plain ``--db`` value names, or a one-line error for a URL that lost its
    ``//`` or a server address without its scheme: either would silently have made a new,
    empty database in a folder named ``sqlite:`` or ``user@host``."""
    typo = _SCHEME_TYPO.match(text)
    if typo is not None:
        scheme = typo["scheme"].lower()
        if scheme in _DRIVERS or scheme.startswith(("sqlite", "postgres")):
            raise StorageError(
                f"malformed database URL {typo['scheme']}:...: a URL is written "
                f"{typo['scheme']}://... ({_URL_HINT})"
            )
    path = Path(text)
    first = text.split("/", 1)[0]  # "./user@host/x.db" is a file: "." reads as no address
    if _HOST_PORT.match(first) and not expand_home(path).parent.exists():
        raise StorageError(
            f"database {first.rsplit('@', 1)[-1]}/... reads as a server address without its "
            "scheme: write postgresql://user@host:port/db, or ./name for a file of that name"
        )
    return path


def _pg_query(url: URL) -> dict[str, str]:
    """The query of a PostgreSQL URL in asyncpg's names, or a one-line error naming the
    parameter to fix (never the URL, which may hold a password)."""
    query: dict[str, str] = {}
    for name, value in url.query.items():
        if name not in _PG_QUERY:
            known = ", ".join(n for n in _PG_QUERY if n not in ("ssl", "timeout"))
            raise StorageError(
                f"unsupported parameter {name!r} in the PostgreSQL URL (it takes {known})"
            )
        if not isinstance(value, str):
            raise StorageError(f"parameter {name!r} is given twice in the PostgreSQL URL")
        target = _PG_QUERY[name]
        if target in query:  # sslmode and ssl, connect_timeout and timeout
            first = next(n for n in url.query if _PG_QUERY.get(n) == target)
            raise StorageError(
                f"parameters {first!r} and {name!r} in the PostgreSQL URL say the same; keep one"
            )
        if target == "ssl" and value not in SSL_MODES:
            raise StorageError(
                f"{name}={value!r} in the PostgreSQL URL is not an SSL mode "
                f"(one of {', '.join(SSL_MODES)})"
            )
        if target == "timeout" and not _positive_number(value):
            raise StorageError(
                f"{name}={value!r} in the PostgreSQL URL is not a number of seconds above 0"
            )
        if target == "prepared_statement_cache_size" and not value.isdigit():
            raise StorageError(f"{name}={value!r} in the PostgreSQL URL is not a whole number")
        query[target] = _tls_file(value) if target in TLS_FILES else value
    return query


def _tls_file(value: str) -> str:
    """A TLS file's path from the URL, absolute (``~`` expanded), as a SQLite file's is: the
    commands a run prints carry this URL (:func:`db_option`), and pasted in another folder, a
    relative ``sslrootcert=ca.pem`` named no file. ``system`` (libpq's "the system's CAs")
    and an empty value (none) stay as written."""
    if value in ("", SYSTEM_ROOT):
        return value
    return str(expand_home(Path(value)).absolute())


def _positive_number(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def parse_db_url(text: str) -> URL:
    """Parse a database URL, refusing schemes the store has no driver for."""
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise StorageError(
            f"malformed database URL {text.split('://', 1)[0]}://... ({_URL_HINT})"
        ) from exc
    except ValueError as exc:  # SQLAlchemy's int() of the port: a traceback, exit 1, before
        raise StorageError(
            f"malformed database URL {text.split('://', 1)[0]}://...: its port is not a number"
        ) from exc
    if url.drivername not in _DRIVERS:
        raise StorageError(f"unsupported database URL scheme {url.drivername!r} ({_URL_HINT})")
    return url


def is_in_memory(url: str) -> bool:
    """Whether ``url`` names an in-memory SQLite database (``sqlite://``,
    ``sqlite:///:memory:``, a ``file::memory:`` or ``mode=memory`` URI): one that lives and
    dies with the process that opened it, seen by no other process."""
    parsed = parse_db_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return True
    return database.startswith("file:") and (
        database.startswith("file::memory:") or parsed.query.get("mode") == "memory"
    )


MASKED_PASSWORD = "***"
"""How a URL's password (and ``sslpassword``) reads in messages and printed commands: what
SQLAlchemy's ``render_as_string(hide_password=True)`` puts in its place."""


def safe_url(url: str) -> str:
    """A URL fit for messages and logs: the password and any ``sslpassword`` (the client
    key's passphrase) are masked, and the query is shown as written, not percent-encoded."""
    try:
        parsed = make_url(url)
        if "sslpassword" in parsed.query:
            parsed = parsed.update_query_dict({"sslpassword": MASKED_PASSWORD})
        base, mark, query = parsed.render_as_string(hide_password=True).partition("?")
        return base + mark + unquote_plus(query)  # sslrootcert=/etc/ssl/ca.pem, not %2Fetc...
    except (ArgumentError, ValueError):
        return url.split("://", 1)[0] + "://..."


def db_option(url: str) -> str:
    """`` --db DB`` for a command a message tells the user to run on ``url``'s database, or ""
    for the data home's default database, which a command finds without it. $SHOPFLOOR_DB
    is repeated too: whoever reads the line (a journal, another shell) may not have it set.
    DB is the SQLite file's path, else the URL as :func:`safe_url` shows it (no password)."""
    if url == sqlite_url(data_home() / DB_FILENAME):
        return ""
    shown = safe_url(url)
    with contextlib.suppress(ArgumentError):
        parsed = make_url(url)
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and database and not parsed.query:
            shown = database if not database.startswith("file:") else shown
    return f" --db {shlex.quote(shown)}"
