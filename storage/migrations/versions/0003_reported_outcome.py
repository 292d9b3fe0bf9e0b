"""Runs may end as ``reported``: an audit writes its report and ships nothing.

Revision ID: 0003
Revises: 0002

Only the CHECK constraint on ``runs.outcome`` changes. On SQLite the table is rebuilt in batch
mode (SQLite cannot alter a constraint in place); on PostgreSQL the constraint is replaced.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_NAME = "ck_runs_ck_runs_outcome"  # as 0001 created it (the naming convention applied twice)
_BEFORE = "outcome IN ('running', 'shipped', 'failed', 'killed')"
_AFTER = "outcome IN ('running', 'shipped', 'reported', 'failed', 'killed')"


def _replace(condition: str) -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_constraint(op.f(_NAME), type_="check")
        batch.create_check_constraint(op.f(_NAME), condition)


def upgrade() -> None:
    """Allow ``reported`` as a run's outcome."""
    _replace(_AFTER)


def downgrade() -> None:
    """Refuse ``reported`` again (fails if a reported run is stored)."""
    _replace(_BEFORE)
