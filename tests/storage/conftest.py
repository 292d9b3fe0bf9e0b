"""Fixtures for storage tests, and for any test that needs a real event store.

``store`` is a :class:`~storage.store.SqlEventStore` on a fresh database of each backend —
a SQLite file in ``tmp_path``, and a scratch PostgreSQL database — so every test taking it is
part of the one conformance suite both backends pass. PostgreSQL tests use a real server:
``$SHOPFLOOR_TEST_PG_URL``, else a database this session creates (and drops) on
127.0.0.1:5432; without a server they skip, except under CI=true where they fail.
``tls_pg`` is a throw-away cluster of this session that speaks TLS with certificates made
for it (``tls_cluster``): the machine's server is never reconfigured.
``backend_url`` is the same fresh database as a URL, for tests that open stores (or start
processes) of their own; ``db_url`` is a SQLite file's URL. ``emit_little_run`` plays a short,
complete run through an EventBus.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from plans import TWO_TASKS
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    EventBase,
    GateFinished,
    Merged,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from storage.paths import normalize_db_url
from storage.store import SqlEventStore

if TYPE_CHECKING:
    from tls_cluster import TlsCluster


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "shopfloor.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    return f"sqlite+aiosqlite:///{db_path}"


PG_URL_ENV = "SHOPFLOOR_TEST_PG_URL"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
"""Where scratch databases are created when $SHOPFLOOR_TEST_PG_URL is not set."""

OUR_TABLES = ("decisions", "learnings", "escalations", "tasks", "runs", "events", "alembic_version")


def in_ci() -> bool:
    """CI=true: PostgreSQL tests are required, not skipped."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _admin_now(dsn: str, *statements: str) -> None:
    """Run admin statements from sync code, even when an event loop is running here."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin(dsn, *statements)).result()


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"PostgreSQL is required when CI=true and is not usable: {reason}")
    pytest.skip(f"no PostgreSQL server ({reason}); set {PG_URL_ENV} or start one")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A scratch PostgreSQL database for this test session, as a SQLAlchemy async URL.

    $SHOPFLOOR_TEST_PG_URL when set (used as is: its shopfloor tables get dropped), else a
    database created on the local server and dropped at the end. Without a server the test
    is skipped — or fails, when CI=true.
    """
    explicit = os.environ.get(PG_URL_ENV, "").strip()
    if explicit:
        url = normalize_db_url(explicit)
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            _admin_now(dsn, "SELECT 1")
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _unavailable(f"{PG_URL_ENV}: {exc}")
        yield url
        return
    name = f"shopfloor_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        _admin_now(PG_SERVER, f'CREATE DATABASE "{name}"')
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        _unavailable(f"{PG_SERVER}: {exc}")
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin_now(PG_SERVER, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def tls_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    """The session's TLS cluster; skipped without initdb, except under CI=true."""
    from tls_cluster import pg_bin, start_tls_cluster  # cryptography: for these tests only

    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        if in_ci():
            pytest.fail("PostgreSQL's initdb is required when CI=true and is not installed")
        pytest.skip("no initdb: cannot start a PostgreSQL cluster with TLS")
    cluster, process = start_tls_cluster(tmp_path_factory.mktemp("tls-client"))
    try:
        yield cluster
    finally:
        process.stop()


async def reset_pg(url: str) -> None:
    """Drop every shopfloor table (and the Alembic stamp) from a scratch database."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for table in OUR_TABLES:
                await conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    finally:
        await engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
async def backend_url(request: pytest.FixtureRequest, db_url: str) -> str:
    """The URL of an empty database: a SQLite file, then the scratch PostgreSQL database
    (emptied first). Tests taking it run once per backend: the conformance suite."""
    if request.param == "sqlite":
        return db_url
    url: str = request.getfixturevalue("pg_url")
    await reset_pg(url)
    return url


@pytest.fixture
async def empty_pg_url(pg_url: str) -> str:
    """The scratch PostgreSQL database, emptied: for PostgreSQL-only tests."""
    await reset_pg(pg_url)
    return pg_url


@pytest.fixture
async def store(backend_url: str) -> AsyncIterator[SqlEventStore]:
    """A fresh, empty, migrated store on each backend (closed after the test)."""
    opened = await SqlEventStore.open(backend_url)
    try:
        yield opened
    finally:
        await opened.close()


def run_started(request: str = "Build a greeting CLI", simulated: bool = True) -> RunStarted:
    return RunStarted(
        request=request,
        repo="/repos/greet",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/integration",
        models={"planner": "sim:"},
        simulated=simulated,
    )


@pytest.fixture
def emit_little_run() -> Callable[[EventBus], list[EventBase]]:
    """Emit a whole shipped run of two tasks on ``bus``; returns the stamped events."""

    def play(bus: EventBus) -> list[EventBase]:
        script: list[EventBase] = [
            run_started(),
            StageChanged(stage=Stage.BLUEPRINT),
            BlueprintProposed(blueprint=TWO_TASKS),
            StageChanged(stage=Stage.BUILD),
            AgentStarted(agent_id="eng-1", role="engineer", model="sim:", task_id="core"),
            AgentOutput(agent_id="eng-1", text="writing greet.py"),
            TaskStateChanged(task_id="core", state=TaskState.GATES, attempt=1),
            GateFinished(gate="tests", scope="task", task_id="core", passed=True, summary="3 ok"),
            Merged(task_id="core", attempt=1, commit="a" * 40),
            Merged(task_id="cli", attempt=1, commit="b" * 40),
            RunFinished(outcome=Outcome.SHIPPED, reason="all gates green", branch="feat/greet"),
        ]
        return [bus.emit(event) for event in script]

    return play
