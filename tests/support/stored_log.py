"""Reading the SQLite log of a run another process drives, as cheaply as it can be read.

A test waiting for a run to get somewhere polls often; a poll of ``shopfloor escalations``
costs a Python process (a second of CPU, which the run being watched needs), a query costs
next to nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_escalation_ids(db: Path, run_id: str | None = None) -> list[str]:
    """The ids of the escalations nobody has answered yet (of ``run_id``, or of every run),
    oldest first; none when the database is not there yet."""
    if not db.exists():
        return []
    query = "select escalation_id from escalations where decision is null"
    params: tuple[str, ...] = ()
    if run_id is not None:
        query += " and run_id = ?"
        params = (run_id,)
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute(query + " order by raised_at, raised_seq", params).fetchall()
    except sqlite3.Error:
        return []
    return [str(row[0]) for row in rows]
