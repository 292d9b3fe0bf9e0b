"""Moving one run between databases as JSON lines: one event per line, in sequence order.

The export is the log itself (each line is what ``event_to_json`` stores, as the store reads
it back: its free text cleaned of secrets), so it can be read by ``jq``, replayed, or imported
into another database — SQLite to PostgreSQL and back. Importing checks the whole file before
writing anything: every line parses, all events belong to one run, sequence numbers run 1, 2,
3, ... from its RunStarted, and the run is not stored yet. It is then cleaned as the bus
cleans a run's events (an export written by an older shopfloor holds keys as they came) and
appended in one transaction, projections included, or not at all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

from pydantic import ValidationError

from engine.event_codec import event_from_json, event_to_json
from engine.event_redaction import clean_event
from engine.events import EventBase, RunStarted
from storage.errors import StorageError
from storage.store import SqlEventStore

EXPORT_PAGE = 1000


async def export_lines(store: SqlEventStore, run_id: str) -> AsyncIterator[str]:
    """The events of ``run_id`` as JSON lines (without newlines), read page by page."""
    after = 0
    while True:
        page = await store.read(run_id, after_seq=after, limit=EXPORT_PAGE)
        for event in page:
            yield event_to_json(event)
        if len(page) < EXPORT_PAGE:
            return
        after = page[-1].seq


def parse_lines(lines: Iterable[str], source: str) -> list[EventBase]:
    """Parse an export (blank lines ignored); a bad line is a one-line error naming it."""
    parsed: list[EventBase] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            parsed.append(event_from_json(line))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "event"
            raise StorageError(
                f"{source}:{number}: not a shopfloor event ({where}: {first['msg']})"
            ) from exc
    return parsed


def check_run(events: list[EventBase], source: str) -> str:
    """The run id of a complete, gap-free single-run log; else a one-line StorageError."""
    if not events:
        raise StorageError(f"{source} holds no events")
    run_ids = sorted({e.run_id for e in events})
    if len(run_ids) != 1:
        raise StorageError(f"{source} mixes {len(run_ids)} runs ({', '.join(run_ids[:3])})")
    if not isinstance(events[0], RunStarted):
        raise StorageError(f"{source} does not start with the run's RunStarted")
    for expected, event in enumerate(events, start=1):
        if event.seq != expected:
            raise StorageError(
                f"{source}: event {expected} has sequence number {event.seq}; "
                "an export is numbered 1, 2, 3, ... without gaps"
            )
    return run_ids[0]


async def import_run(store: SqlEventStore, events: list[EventBase], source: str) -> str:
    """Store a checked export as a new run; returns its id. A run already stored is refused."""
    run_id = check_run(events, source)
    if await store.get_run(run_id) is not None or await store.count_events(run_id):
        raise StorageError(f"run {run_id} is already stored in this database; nothing imported")
    redactor = store.redactor
    await store.append([clean_event(redactor, event) for event in events])
    return run_id
