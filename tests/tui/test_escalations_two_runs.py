"""Two runs on one team database each wait on their own ``esc-1``.

``shopfloor escalations`` listed both and ended "answer with: shopfloor approve|reject|change
ID"; doing just that was refused ("open in several runs; give --run RUN_ID"). The commands it
lists now say ``--run RUN`` when an id waits in more than one run, and stay short when none
does.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_plan_view import RUN_ID, db, plan_events, store, twin_question

from engine import loop as event_loop
from engine.bus import EventBus
from engine.events import RunStarted
from storage.store import SqlEventStore
from tui.cli import main

__all__ = ["db"]  # the fixture

OTHER = "r-other"


async def store_other(db: Path) -> None:
    bus = EventBus(OTHER)
    first = plan_events()[0]
    assert isinstance(first, RunStarted)
    events = [first.model_copy(update={"repo": "/srv/repos/other"}), twin_question()]
    async with await SqlEventStore.open(str(db)) as opened:
        await opened.append([bus.emit(event) for event in events])


def test_the_hint_says_run_when_one_id_waits_in_two_runs(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    event_loop.run(store_other(db))
    assert main(["escalations", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f" {RUN_ID} " in out and f" {OTHER} " in out
    on = f" --db {db}"
    assert f"  shopfloor answer esc-1 accept --run {RUN_ID}{on}\n" in out
    assert f"  shopfloor answer esc-1 change --note TEXT --run {OTHER}{on}\n" in out
    assert f"or: shopfloor approve|reject|change ID --run RUN{on} (its yes, its no," in out
    # ... which is what the refusal asks for
    assert main(["approve", "esc-1", "--db", str(db)]) == 2
    assert "give --run RUN_ID" in capsys.readouterr().err
    assert main(["approve", "esc-1", "--run", OTHER, "--db", str(db)]) == 0


def test_the_hint_stays_short_when_every_id_is_its_runs_own(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    assert main(["escalations", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"  shopfloor answer esc-1 reject --db {db}\n" in out
    assert f"or: shopfloor approve|reject|change ID --db {db} (its yes, its no," in out
