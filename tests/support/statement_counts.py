"""Counting the SQL statements a store sends: a reader that should be idle reads nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.store import SqlEventStore


class StatementCount:
    """Counts the statements on ``store``'s connections whose text holds ``holding`` (a
    table read, ``"FROM runs"``; or a table named at all, ``"decisions"``)."""

    def __init__(self, store: SqlEventStore, holding: str) -> None:
        self.count = 0
        self.holding = holding
        event.listen(store.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.holding in statement:
            self.count += 1
