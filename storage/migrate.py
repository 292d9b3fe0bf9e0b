"""Bringing a database's schema to the revision this code knows, through Alembic.

The store calls :func:`upgrade` whenever it opens a database, and ``shopfloor db upgrade``
calls it on purpose. It runs in one transaction that holds off other migrators (an advisory
lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so two processes opening a fresh database
at once cannot both create it. A database stamped with a revision this code has never heard of
was written by a newer shopfloor; it is refused in one line rather than misread. A database
made by shopfloor 0.1 (tables, but no ``alembic_version``) is stamped as revision 0001 first.

A database already at :data:`HEAD_REVISION` — every open but the first after an upgrade —
is recognised by one query, and Alembic is not even imported: it cost a quick command
(``status``, ``approve`` from another shell) a fifth of its start.

An empty database is created as ``storage/schema.py`` declares it and stamped with the head
revision, again without Alembic: importing it and running the migrations one by one took
0.16 s of CPU (a fresh SQLite file, the 2-core machine; 0.02 s created at once), on every
first run in a new data folder — every test that starts a factory — and every test's fresh
store. A test holds the two to the same schema, as it holds the migrations to schema.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.errors import StorageError
from storage.schema import metadata

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
LEGACY_REVISION = "0001"
"""The revision a pre-Alembic database (events and runs only) is equivalent to."""
HEAD_REVISION = "0003"
"""The newest revision in ``migrations/versions`` (a test holds it to Alembic's head): a
database stamped with it needs nothing, and is opened without loading Alembic."""

_PG_LOCK_KEY = 0x5F5F_5348_4F50  # any constant; the key of the migration advisory lock


class NewerSchemaError(StorageError):
    """The database was written by a newer shopfloor than this one."""


@dataclass(frozen=True)
class Upgrade:
    """What :func:`upgrade` did: the revision found (None: an empty database) and the head."""

    before: str | None
    after: str

    @property
    def changed(self) -> bool:
        """Whether any migration ran."""
        return self.before != self.after


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped with this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def _scripts() -> ScriptDirectory:
    # Reading the migration scripts costs ~10 ms and they never change while running:
    # read them once per process, not on every open of a store.
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this code knows."""
    head = _scripts().get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise StorageError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _current(sync_conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(sync_conn).get_current_revision()


def _check_known(revision: str | None, where: str) -> None:
    from alembic.util.exc import CommandError

    if revision is None:
        return
    try:
        known = _scripts().get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise NewerSchemaError(
            f"database {where} has schema revision {revision!r}, newer than this shopfloor "
            f"knows (latest {head_revision()!r}); upgrade shopfloor to use it"
        )


VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
"""Alembic's stamp table, as Alembic creates it."""


def _create_at_head(sync_conn: Connection) -> Upgrade:
    """Create every table of the schema in an empty database and stamp it with the head."""
    metadata.create_all(sync_conn)
    VERSION_TABLE.create(sync_conn)
    sync_conn.execute(VERSION_TABLE.insert().values(version_num=HEAD_REVISION))
    return Upgrade(before=None, after=HEAD_REVISION)


def _upgrade_sync(sync_conn: Connection, where: str) -> Upgrade:
    if not inspect(sync_conn).get_table_names():
        return _create_at_head(sync_conn)
    from alembic import command

    before = _current(sync_conn)
    _check_known(before, where)
    config = alembic_config()
    config.attributes["connection"] = sync_conn
    if before is None and inspect(sync_conn).has_table("events"):
        command.stamp(config, LEGACY_REVISION)
        before = LEGACY_REVISION
    head = head_revision()
    if before != head:
        command.upgrade(config, "head")
    return Upgrade(before=before, after=head)


async def _lock(conn: AsyncConnection) -> None:
    if conn.dialect.name == "postgresql":
        await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK_KEY})")
    else:
        # pysqlite runs DDL outside any transaction unless one is begun by hand.
        await conn.exec_driver_sql("BEGIN IMMEDIATE")


async def upgrade(engine: AsyncEngine, where: str) -> Upgrade:
    """Migrate the database behind ``engine`` to the head revision, atomically.

    ``where`` names the database in messages (a URL with the password masked). Raises
    :class:`NewerSchemaError` when the database is ahead of this code.
    """
    if await _at_head(engine):
        return Upgrade(before=HEAD_REVISION, after=HEAD_REVISION)
    async with engine.connect() as conn:
        await _lock(conn)
        try:
            done = await conn.run_sync(_upgrade_sync, where)
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
    return done


async def _at_head(engine: AsyncEngine) -> bool:
    """Whether the database is stamped with :data:`HEAD_REVISION` alone (one query; a
    database without the stamp table is simply not at head)."""
    async with engine.connect() as conn:
        try:
            stamped = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:
            return False
    return [row[0] for row in stamped] == [HEAD_REVISION]


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is stamped with (None for an empty database)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)
