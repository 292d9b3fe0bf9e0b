"""Which database a command uses: --db, then $SHOPFLOOR_DB, then the data home's file."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from engine import data_home as location
from storage.errors import StorageError
from storage.paths import data_home, default_db_url, normalize_db_url


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test here reads the real environment or writes into the real user data folder."""
    monkeypatch.delenv("SHOPFLOOR_HOME", raising=False)
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    platform_dir = tmp_path / "platform" / "shopfloor"
    monkeypatch.setattr(location.platformdirs, "user_data_dir", lambda appname: str(platform_dir))


def test_data_home_is_created_under_shopfloor_home(monkeypatch, tmp_path):
    home = tmp_path / "deep" / "home"
    monkeypatch.setenv("SHOPFLOOR_HOME", str(home))
    assert data_home() == home
    assert home.is_dir()


def test_a_relative_shopfloor_home_is_made_absolute(monkeypatch, tmp_path):
    """Before, ``SHOPFLOOR_HOME=rel/home`` stayed relative and the run crashed at its first
    worktree ("FileNotFoundError ... 'rel/home/worktrees/<id>/models-a1/.git' (a bug)"):
    git is run in the worktree, where the relative path names nothing."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPFLOOR_HOME", "rel/home")
    home = data_home()
    assert home == tmp_path / "rel" / "home" and home.is_absolute() and home.is_dir()
    assert default_db_url().endswith(str(tmp_path / "rel" / "home" / "shopfloor.db"))


def test_data_home_falls_back_to_the_platform_folder(tmp_path):
    home = data_home()
    assert home == tmp_path / "platform" / "shopfloor"
    assert home.is_dir()


def test_data_home_that_cannot_be_created_is_one_line_error(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SHOPFLOOR_HOME", str(blocker / "home"))
    with pytest.raises(StorageError) as info:
        data_home()
    assert str(info.value) == f"cannot create data folder {blocker / 'home'}: {blocker} is a file"


def test_default_is_a_sqlite_file_in_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    assert default_db_url() == f"sqlite+aiosqlite:///{tmp_path / 'home' / 'shopfloor.db'}"


def test_env_beats_default_and_flag_beats_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOPFLOOR_DB", "postgresql+asyncpg://shop@db.internal/shopfloor")
    assert default_db_url() == "postgresql+asyncpg://shop@db.internal/shopfloor"
    explicit = f"sqlite+aiosqlite:///{tmp_path / 'flag.db'}"
    assert default_db_url(explicit) == explicit


def test_empty_env_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHOPFLOOR_DB", "  ")
    assert default_db_url().endswith("/home/shopfloor.db")


def test_plain_paths_become_absolute_sqlite_urls(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert default_db_url("foo.db") == f"sqlite+aiosqlite:///{tmp_path / 'foo.db'}"
    monkeypatch.setenv("SHOPFLOOR_DB", "runs/team.db")
    assert default_db_url() == f"sqlite+aiosqlite:///{tmp_path / 'runs' / 'team.db'}"
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert normalize_db_url("~/x.db") == f"sqlite+aiosqlite:///{tmp_path / 'user' / 'x.db'}"


def test_sync_schemes_get_their_async_driver():
    assert normalize_db_url("sqlite:////srv/shop.db") == "sqlite+aiosqlite:////srv/shop.db"
    assert (
        normalize_db_url("postgresql://shop:s3cret@db:5432/runs")
        == "postgresql+asyncpg://shop:s3cret@db:5432/runs"
    )
    assert normalize_db_url("postgres://db/runs") == "postgresql+asyncpg://db/runs"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://root@localhost/shop", "unsupported database URL scheme 'mysql'"),
        ("sqlite+pysqlite:///x.db", "unsupported database URL scheme 'sqlite+pysqlite'"),
        ("http://example.com/db", "unsupported database URL scheme 'http'"),
        ("://nothing", "malformed database URL"),
        ("", "empty database URL"),
    ],
)
def test_bad_urls_are_refused_in_one_line(url, expected):
    with pytest.raises(StorageError) as info:
        default_db_url(url)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert "sqlite+aiosqlite:///" in message  # says what would work


def test_bad_env_url_is_refused_too(monkeypatch):
    monkeypatch.setenv("SHOPFLOOR_DB", "oracle://scott:tiger@host/db")
    with pytest.raises(StorageError, match="unsupported database URL scheme 'oracle'"):
        default_db_url()


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        # A URL that lost its "//" made a folder named "sqlite:" and a new, empty database.
        ("sqlite:/srv/shop.db", "malformed database URL sqlite:...: a URL is written sqlite://"),
        ("postgresql:/runs", "malformed database URL postgresql:...: a URL is written post"),
        # A server address without its scheme made a folder named after the server.
        ("shop:s3cret@db.internal/runs", "database db.internal/... reads as a server address"),
        ("db.internal:5432/runs", "database db.internal:5432/... reads as a server address"),
        # Two slashes: "tmp" read as a host, and SQLAlchemy's words said nothing to do.
        ("sqlite://srv/shop.db", "malformed SQLite URL sqlite://srv/...: a SQLite URL has no"),
    ],
)
def test_a_mistyped_url_is_refused_instead_of_making_a_database(
    monkeypatch, tmp_path, typed, expected
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StorageError) as info:
        default_db_url(typed)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message and "s3cret" not in message
    assert list(tmp_path.iterdir()) == []  # no folder "sqlite:", no "db.internal:5432"


def test_a_file_whose_name_looks_like_an_address_can_still_be_named(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert default_db_url("./db.internal:5432/runs") == (
        f"sqlite+aiosqlite:///{tmp_path / 'db.internal:5432' / 'runs'}"
    )
    (tmp_path / "user@host").mkdir()  # an existing folder is a folder, whatever its name
    assert default_db_url("user@host/x.db") == f"sqlite+aiosqlite:///{tmp_path / 'user@host/x.db'}"


def test_libpq_parameters_are_passed_in_asyncpgs_names():
    assert normalize_db_url("postgresql://shop@db/runs?sslmode=require&connect_timeout=3") == (
        "postgresql+asyncpg://shop@db/runs?ssl=require&timeout=3"
    )
    assert normalize_db_url("postgres://db/runs?prepared_statement_cache_size=0") == (
        "postgresql+asyncpg://db/runs?prepared_statement_cache_size=0"
    )


def test_libpqs_tls_parameters_are_taken():
    """``sslrootcert`` and its kin were "unsupported parameter": no verify-full DSN worked."""
    url = normalize_db_url(
        "postgresql://shop@db/runs?sslmode=verify-full&sslrootcert=/etc/ssl/corp-ca.pem"
        "&sslcert=/etc/shop/client.crt&sslkey=/etc/shop/client.key&sslcrl=/etc/ssl/corp.crl"
        "&sslpassword=pw"
    )
    assert make_url(url).query == {
        "ssl": "verify-full",
        "sslrootcert": "/etc/ssl/corp-ca.pem",
        "sslcert": "/etc/shop/client.crt",
        "sslkey": "/etc/shop/client.key",
        "sslcrl": "/etc/ssl/corp.crl",
        "sslpassword": "pw",
    }


def test_tls_files_are_made_absolute_as_the_url_is_read(tmp_path, monkeypatch):
    """The commands a run prints carry its URL: a relative ``sslrootcert=ca.pem``, pasted in
    another folder, named no file. ``~`` is expanded as for a SQLite path; ``system`` (the
    system's CAs) and the non-file parameters stay as written."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    url = normalize_db_url(
        "postgresql://shop@db/runs?sslmode=verify-full&sslrootcert=certs/ca.pem"
        "&sslcert=client.crt&sslkey=~/.postgresql/client.key&sslcrl=../ca.crl&sslpassword=pw"
    )
    assert make_url(url).query == {
        "ssl": "verify-full",
        "sslrootcert": f"{tmp_path}/certs/ca.pem",
        "sslcert": f"{tmp_path}/client.crt",
        "sslkey": f"{tmp_path}/me/.postgresql/client.key",
        "sslcrl": f"{tmp_path}/../ca.crl",
        "sslpassword": "pw",
    }
    assert normalize_db_url(url) == url  # a printed --db reads back as itself
    system = normalize_db_url("postgresql://db/runs?sslrootcert=system")
    assert make_url(system).query == {"sslrootcert": "system"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("bogus=1", "unsupported parameter 'bogus' in the PostgreSQL URL (it takes sslmode,"),
        ("sslmode=on", "sslmode='on' in the PostgreSQL URL is not an SSL mode (one of disable,"),
        ("connect_timeout=soon", "connect_timeout='soon' in the PostgreSQL URL is not a number"),
        ("ssl=require&ssl=disable", "parameter 'ssl' is given twice in the PostgreSQL URL"),
        ("sslmode=require&ssl=disable", "parameters 'sslmode' and 'ssl' in the PostgreSQL URL"),
    ],
)
def test_a_bad_postgresql_parameter_is_one_line_without_the_password(query, expected):
    with pytest.raises(StorageError) as info:
        normalize_db_url(f"postgresql://shop:s3cret@db/runs?{query}")
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message and "s3cret" not in message


@pytest.mark.postgres
async def test_a_postgresql_url_with_libpq_parameters_opens(empty_pg_url):
    """``?sslmode=disable&connect_timeout=5``, as an operator's DSN reads, reached asyncpg's
    connect() as keywords it does not take: a TypeError traceback on every command. (The
    session's scratch database emptied first: other tests store runs in it.)"""
    from storage.store import SqlEventStore

    url = empty_pg_url.replace("postgresql+asyncpg://", "postgresql://") + (
        "?sslmode=disable&connect_timeout=5&prepared_statement_cache_size=0"
    )
    async with await SqlEventStore.open(url) as store:
        assert await store.list_runs() == []


@pytest.mark.postgres
async def test_a_pasted_postgresql_url_with_application_name_and_options_opens(empty_pg_url):
    """A URL as a hosting dashboard hands it out, with libpq's ``application_name`` and
    ``options`` (``-csearch_path=...``) besides ``sslmode``, ``connect_timeout`` and
    ``target_session_attrs``, was refused ("unsupported parameter 'application_name'"),
    though asyncpg sends both to the server when it connects. Both reach the server now: the
    connection carries the name, and the store's tables are made in the schema named."""
    from sqlalchemy import text

    from storage.store import SqlEventStore

    schema = "shop_pasted"
    admin = await SqlEventStore.open(empty_pg_url)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await conn.execute(text(f"CREATE SCHEMA {schema}"))
    pasted = empty_pg_url.replace("postgresql+asyncpg://", "postgresql://") + (
        "?sslmode=prefer&connect_timeout=5&application_name=shop-x"
        f"&target_session_attrs=read-write&options=-csearch_path%3D{schema}"
    )
    try:
        async with await SqlEventStore.open(pasted) as store:
            assert await store.list_runs() == []
            async with store.engine.connect() as conn:
                seen = await conn.execute(
                    text("SELECT current_setting('application_name'), to_regclass(:events)"),
                    {"events": f"{schema}.events"},
                )
                assert tuple(seen.one()) == ("shop-x", "events")
    finally:
        async with admin.engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.close()


async def _open_fails(url: str) -> str:
    from storage.store import SqlEventStore

    with pytest.raises(StorageError) as info:
        await SqlEventStore.open(url)
    message = str(info.value)
    assert "\n" not in message and "s3cret" not in message
    return message


async def test_nothing_listening_at_the_address_says_what_to_check():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    message = await _open_fails(f"postgresql://shop:s3cret@127.0.0.1:{port}/runs")
    assert message.endswith(
        f"nothing accepts connections at 127.0.0.1:{port} (connection refused); is PostgreSQL "
        "running there, on that port?"
    )  # before: "[Errno 111] Connection refused"


async def test_a_server_that_never_answers_says_how_long_it_waited():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, read, never answer

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        message = await _open_fails(
            f"postgresql://shop:s3cret@127.0.0.1:{port}/runs?connect_timeout=0.5"
        )
    finally:
        server.close()
    assert message.endswith(
        f"no answer from 127.0.0.1:{port} within 0.5s; is PostgreSQL running there and "
        "reachable from here? (?connect_timeout=N in the URL waits longer)"
    )  # before: "TimeoutError", and nothing else


async def test_a_host_that_does_not_resolve_is_named():
    message = await _open_fails("postgresql://shop:s3cret@no-such-host.invalid/runs")
    assert "cannot find host 'no-such-host.invalid' (" in message
    assert message.endswith("); check the host in the URL")


@pytest.mark.postgres
async def test_a_database_that_does_not_exist_says_to_create_it(pg_url):
    url = make_url(pg_url).set(password="s3cret", database="h_no_such_db_here")
    message = await _open_fails(url.render_as_string(hide_password=False))
    assert message.endswith(
        f"there is no database 'h_no_such_db_here' on {url.host}:{url.port or 5432}; create "
        "it (createdb) or check the database name in the URL"
    )
