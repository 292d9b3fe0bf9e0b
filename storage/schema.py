"""The database schema: the append-only event log, its projections and the decisions inbox.

Every table lives here, as SQLAlchemy Core tables on one ``metadata``; the Alembic migrations
in ``storage/migrations`` create exactly these (a test compares them). ``events`` is the
truth: one row per event, never updated, the whole event kept as JSON in ``body``. ``runs``,
``tasks``, ``escalations`` and ``learnings`` are projections the store updates in the same
transaction as the events they derive from, and can rebuild from the log at any time.
``decisions`` is not derived from events: it is the inbox where other processes post answers
to a run's escalations, which the run's engine consumes (and then logs as events itself).

Times are stored in UTC. SQLite has no time zone type, so :class:`UTCDateTime` writes naive
UTC there and hands back aware datetimes on every backend.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.sql.naming import conv
from sqlalchemy.types import TypeDecorator

from engine.events import Outcome

# Stable constraint names, so that later migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


def as_utc(value: datetime) -> datetime:
    """``value`` in UTC; ValueError for a naive datetime (its zone is unknown)."""
    if value.tzinfo is UTC:
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to store a naive datetime: {value.isoformat()}")
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored as UTC and always read back aware (UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        utc = as_utc(value)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only autoincrements an INTEGER PRIMARY KEY; elsewhere a 64-bit key.
_EventId = BigInteger().with_variant(Integer(), "sqlite")

RUN_ID_LENGTH = 64

events = Table(
    "events",
    metadata,
    Column("id", _EventId, primary_key=True, autoincrement=True),
    Column("run_id", String(RUN_ID_LENGTH), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("type", String(64), nullable=False),
    Column("body", Text, nullable=False),
    # Unique per (run_id, seq); as the leading column, run_id is indexed by it too.
    Index("ix_events_run_id_seq", "run_id", "seq", unique=True),
)

OUTCOMES = tuple(outcome.value for outcome in Outcome)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(RUN_ID_LENGTH), primary_key=True),
    Column("request", Text, nullable=False),
    Column("repo", Text, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("branch", Text, nullable=True),
    Column("integration_branch", Text, nullable=False),
    Column("outcome", String(16), nullable=False, default=Outcome.RUNNING.value),
    Column("reason", Text, nullable=False, default=""),
    Column("simulated", Boolean, nullable=False, default=False),
    Column("tasks_total", Integer, nullable=False, default=0),
    Column("tasks_merged", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=True),
    Column("last_seq", Integer, nullable=False, default=0),
    CheckConstraint(
        "outcome IN (" + ", ".join(f"'{value}'" for value in OUTCOMES) + ")",
        # The name migration 0001 gave it (the convention applied twice), which 0003 and
        # any later change refer to: ``db rebuild`` makes a dropped ``runs`` from here.
        name=conv("ck_runs_ck_runs_outcome"),
    ),
    Index("ix_runs_created_at", "created_at"),
    Index("ix_runs_repo", "repo"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("run_id", String(RUN_ID_LENGTH), primary_key=True),
    Column("task_id", String(128), primary_key=True),
    Column("title", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),
)

escalations = Table(
    "escalations",
    metadata,
    Column("run_id", String(RUN_ID_LENGTH), primary_key=True),
    Column("escalation_id", String(128), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("question", Text, nullable=False),
    Column("options", Text, nullable=False),  # a JSON list of strings
    Column("task_id", String(128), nullable=True),
    Column("default", Text, nullable=True),
    Column("decision", Text, nullable=True),  # NULL while the escalation is open
    Column("decided_by", Text, nullable=True),
    Column("note", Text, nullable=False),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("decided_at", UTCDateTime, nullable=True),
    Column("raised_seq", Integer, nullable=False),
)

learnings = Table(
    "learnings",
    metadata,
    Column("run_id", String(RUN_ID_LENGTH), primary_key=True),
    Column("learning_id", String(128), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("tags", Text, nullable=False),  # a JSON list of strings
    Column("recorded_at", UTCDateTime, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", _EventId, primary_key=True, autoincrement=True),
    Column("run_id", String(RUN_ID_LENGTH), nullable=False),
    Column("escalation_id", String(128), nullable=False),
    Column("decision", Text, nullable=False),
    Column("decided_by", Text, nullable=False),
    Column("note", Text, nullable=False),
    Column("posted_at", UTCDateTime, nullable=False),
    Column("consumed_at", UTCDateTime, nullable=True),
    # At most one decision waiting per escalation: a second poster is refused, race-free.
    # Its PostgreSQL predicate is declared by declare_postgresql_options().
    pending_decisions := Index(
        "ix_decisions_pending",
        "run_id",
        "escalation_id",
        unique=True,
        sqlite_where=text("consumed_at IS NULL"),
    ),
)


def declare_postgresql_options() -> None:
    """Give the schema its PostgreSQL options: the pending-decisions index's predicate.

    SQLAlchemy checks a ``postgresql_*`` argument when it is given by importing its whole
    PostgreSQL dialect (~20 ms) and offers no way to declare one without it; declared with
    the table, it was loaded by every ``status`` or ``answer`` on SQLite.
    :func:`storage.connect.make_engine` calls this before it opens a PostgreSQL database,
    so nothing compiles or compares the schema there without it (the migrations declare
    the same predicate themselves). Calling it again changes nothing.
    """
    pending_decisions.dialect_kwargs["postgresql_where"] = text("consumed_at IS NULL")


PROJECTIONS = (runs, tasks, escalations, learnings)
"""The tables derived from ``events`` alone (what ``shopfloor db rebuild`` rewrites)."""

REMADE = (*PROJECTIONS, decisions)
"""The tables ``shopfloor db rebuild`` makes again when they were dropped: the projections,
refilled from the log, and the decisions inbox, empty. The inbox is no projection: the
answers posted and not taken yet went with the table, and none can be derived again (those a
run took are in its log); but without the table no answer can be posted at all, and a run
waiting for one waits for ever, so it is made again as the migrations made it."""
