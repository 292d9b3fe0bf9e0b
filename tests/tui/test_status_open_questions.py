"""``status`` says which human question a run waits on, and how to answer it.

Two runs share a team's PostgreSQL; one waits at the twin gate. ``status RUN`` said
"running (stage twin)", the tasks all pending and the spend: nothing of the question, so the
operator who looked there had to know to run ``shopfloor escalations`` as well. It now says
the question and the command that answers it from this shell (or the answer already posted
that the run has not taken yet), for a live run and for a stopped one alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_plan_view import RUN_ID, db, plan_events, store, twin_question

from engine import loop as event_loop
from storage.lease import RunLease
from storage.store import SqlEventStore
from tui.cli import main

__all__ = ["db"]  # the fixture

ANSWER = f"answer with: shopfloor answer esc-1 accept|change|reject --run {RUN_ID}"


def status(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["status", RUN_ID, "--db", str(db)]) == 0
    return capsys.readouterr().out


def driven_status(db: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``status`` while this process holds the run's lease, as the run's own process does."""

    async def take() -> RunLease:
        async with await SqlEventStore.open(str(db)) as opened:
            return await RunLease.take(opened, RUN_ID)

    lease = event_loop.run(take())
    try:
        return status(db, capsys)
    finally:
        event_loop.run(lease.release())


def test_status_names_the_question_a_live_run_waits_on_and_how_to_answer_it(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    said = driven_status(db, capsys)
    assert (
        "waiting for a human: esc-1 (twin) The twin says ACCEPT on the plan, but its "
        "confidence 0.62 is below 0.70. [accept / change / reject]\n"
    ) in said
    assert f"  {ANSWER} --db {db}; the plan: shopfloor status {RUN_ID} --plan --db {db}\n" in said


def test_status_says_an_answer_posted_and_not_taken_rather_than_asking_again(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    assert main(["approve", "esc-1", "--run", RUN_ID, "--db", str(db)]) == 0
    capsys.readouterr()
    said = status(db, capsys)  # no process drives the run: the resume takes the answer
    assert "open when the run stopped: esc-1 (twin)" in said
    assert "  answered: accept by human:" in said
    assert f", `shopfloor resume {RUN_ID} --db {db}` takes it; the plan:" in said
    assert "answer with:" not in said


def test_status_of_a_stopped_run_says_its_open_question_is_taken_on_resume(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    said = status(db, capsys)
    assert "open when the run stopped: esc-1 (twin)" in said
    assert (
        f"  {ANSWER} --db {db} (`shopfloor resume {RUN_ID} --db {db}` takes it; else it is "
        "asked again)"
    ) in said


def test_status_of_a_run_with_no_open_question_says_none(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, plan_events()))
    said = driven_status(db, capsys)
    assert "waiting for a human" not in said and "answer with" not in said
