"""Projections for tasks, escalations and learnings; the decisions inbox; runs by repo.

Revision ID: 0002
Revises: 0001

The new projections start empty; the store rebuilds all projections from the log right after
upgrading a database across this revision, so runs stored before it get their rows too.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.schema import UTCDateTime

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create ``tasks``, ``escalations``, ``learnings``, ``decisions``; index runs by repo."""
    op.create_table(
        "tasks",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "task_id", name="pk_tasks"),
    )
    op.create_table(
        "escalations",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("escalation_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=True),
        sa.Column("default", sa.Text(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("raised_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("raised_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "escalation_id", name="pk_escalations"),
    )
    op.create_table(
        "learnings",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("learning_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "learning_id", name="pk_learnings"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("escalation_id", sa.String(128), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("consumed_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index(
        "ix_decisions_pending",
        "decisions",
        ["run_id", "escalation_id"],
        unique=True,
        sqlite_where=sa.text("consumed_at IS NULL"),
        postgresql_where=sa.text("consumed_at IS NULL"),
    )
    op.create_index("ix_runs_repo", "runs", ["repo"])


def downgrade() -> None:
    """Drop what :func:`upgrade` created."""
    op.drop_index("ix_runs_repo", table_name="runs")
    op.drop_table("decisions")
    op.drop_table("learnings")
    op.drop_table("escalations")
    op.drop_table("tasks")
