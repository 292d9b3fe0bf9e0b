"""Alembic environment for shopfloor's schema (SQLite and PostgreSQL alike).

The store runs migrations itself, on open and from ``shopfloor db upgrade``: it hands a
synchronous connection (from ``AsyncConnection.run_sync``) in ``config.attributes``, inside a
transaction it owns. Run through the ``alembic`` command instead (with ``sqlalchemy.url`` set),
this file opens the async engine and migrates through ``run_sync`` the same way.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from storage.connect import make_engine
from storage.paths import normalize_db_url
from storage.schema import metadata


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _migrate_url(url: str) -> None:
    engine = make_engine(normalize_db_url(url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate)
    finally:
        await engine.dispose()


def _main() -> None:
    if context.is_offline_mode():
        raise SystemExit("shopfloor migrations run online only: use `shopfloor db upgrade`")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url, or use `shopfloor db upgrade --db URL`")
    asyncio.run(_migrate_url(url))


_main()
