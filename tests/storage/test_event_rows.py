"""The events INSERT that bypasses Core's per-row work stores what Core reads back.

Rows are written through :func:`storage.event_rows.insert_events` and read through
SQLAlchemy Core and the store, on SQLite and PostgreSQL: timestamps (with and without
microseconds, from another time zone), types and bodies come back equal.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from engine.event_codec import event_to_json
from engine.events import AgentOutput, EventBase, Stage, StageChanged
from storage.errors import StorageError
from storage.event_rows import SQLITE_ROWS, sqlite_ts, sqlite_ts_of_body
from storage.schema import events as events_table
from storage.store import SqlEventStore


def stamped(event: EventBase, seq: int, ts: datetime, run_id: str = "rows1") -> EventBase:
    return event.model_copy(update={"run_id": run_id, "seq": seq, "ts": ts})


async def test_rows_read_back_equal_through_core(store: SqlEventStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    written = [
        stamped(StageChanged(stage=Stage.BUILD), 1, datetime(2026, 11, 22, 17, 0, tzinfo=UTC)),
        stamped(
            AgentOutput(agent_id="eng", text='line one\nline "two" ✓'),
            2,
            datetime(2026, 11, 22, 19, 0, 0, 123456, tzinfo=plus_two),
        ),
    ]
    await store.append(written)
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(events_table).order_by(events_table.c.seq))).all()
    assert [row.seq for row in rows] == [1, 2]
    assert [row.type for row in rows] == ["StageChanged", "AgentOutput"]
    assert rows[0].ts == datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
    assert rows[1].ts == datetime(2026, 11, 22, 17, 0, 0, 123456, tzinfo=UTC)
    assert await store.read("rows1") == written


async def test_more_rows_than_one_statement_holds(store: SqlEventStore) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    count = SQLITE_ROWS * 2 + 7
    written = [
        stamped(AgentOutput(agent_id="eng", text=f"line {i}"), i + 1, base + timedelta(seconds=i))
        for i in range(count)
    ]
    await store.append(written)
    assert await store.count_events("rows1") == count
    assert await store.read("rows1") == written


async def test_a_naive_timestamp_is_refused_in_one_line(store: SqlEventStore) -> None:
    naive = stamped(StageChanged(stage=Stage.BUILD), 1, datetime(2026, 1, 1))
    with pytest.raises(StorageError, match="naive datetime"):
        await store.append([naive])
    assert await store.count_events("rows1") == 0


def test_sqlite_text_always_has_microseconds() -> None:
    assert sqlite_ts(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01 00:00:00.000000"
    later = datetime(2026, 1, 1, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-1)))
    assert sqlite_ts(later) == "2026-01-01 04:04:05.000006"


def test_the_text_read_off_a_body_is_what_formatting_its_stamp_gives() -> None:
    base = datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC)
    for micros in (0, 1, 10, 999_999, 123_000, 500_001):
        for run_id in ("r", "run-" + "x" * 60):
            ts = base + timedelta(microseconds=micros)
            event = stamped(AgentOutput(agent_id="eng", text='"ts":"1999"'), 7, ts, run_id)
            assert sqlite_ts_of_body(event_to_json(event)) == sqlite_ts(ts)


def test_a_body_in_another_zone_or_layout_is_left_to_the_datetime() -> None:
    elsewhere = datetime(2026, 1, 1, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-1)))
    body = event_to_json(stamped(StageChanged(stage=Stage.BUILD), 1, elsewhere))
    assert sqlite_ts_of_body(body) is None
    assert sqlite_ts_of_body('{"run_id":"r","seq":1,"ts":"2026-01-01 00:00:00Z"}') is None
    assert sqlite_ts_of_body('{"run_id":"r","seq":1}') is None
