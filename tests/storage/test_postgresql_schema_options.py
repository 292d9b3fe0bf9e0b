"""The schema's PostgreSQL options are declared when a PostgreSQL database is opened.

The pending-decisions index is partial on both backends. Its ``postgresql_where`` is no
longer given with the table (SQLAlchemy imports the whole PostgreSQL dialect to check it,
in every command on SQLite): :func:`storage.connect.make_engine` declares it before it opens
a PostgreSQL database. Without that, the schema would describe the index there as a plain
unique one, and a database built from it would refuse a second answer to an escalation once
the first was consumed.
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex

from storage.connect import make_engine
from storage.schema import decisions

PG_URL = "postgresql+asyncpg://shopfloor@127.0.0.1:1/never_reached"
"""A PostgreSQL URL: making an engine does not connect."""


def pending_index_ddl(dialect: postgresql.base.PGDialect | sqlite.base.SQLiteDialect) -> str:
    (index,) = [i for i in decisions.indexes if i.name == "ix_decisions_pending"]
    return " ".join(str(CreateIndex(index).compile(dialect=dialect)).split())


async def test_a_postgresql_engine_gives_the_pending_index_its_predicate() -> None:
    engine = make_engine(PG_URL)
    try:
        assert pending_index_ddl(postgresql.dialect()) == (
            "CREATE UNIQUE INDEX ix_decisions_pending ON decisions (run_id, escalation_id) "
            "WHERE consumed_at IS NULL"
        )
    finally:
        await engine.dispose()


def test_the_pending_index_is_partial_on_sqlite_as_declared() -> None:
    assert pending_index_ddl(sqlite.dialect()).endswith("WHERE consumed_at IS NULL")
