"""An open escalation as the store lists it, for tests of the commands that answer one."""

from __future__ import annotations

from datetime import UTC, datetime

from storage.records import EscalationRecord


def open_escalation(
    *options: str, kind: str = "other", escalation_id: str = "esc-1"
) -> EscalationRecord:
    """Escalation ``escalation_id`` of run ``r``, offering ``options``, not yet answered."""
    return EscalationRecord(
        run_id="r",
        escalation_id=escalation_id,
        kind=kind,
        question="?",
        options=options,
        task_id=None,
        default=None,
        decision=None,
        decided_by=None,
        note="",
        raised_at=datetime.now(UTC),
        decided_at=None,
    )
