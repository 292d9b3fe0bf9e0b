"""``shopfloor answer ID OPTION``: every option of an escalation, from another shell.

``approve``/``reject``/``change`` map onto an escalation's yes, no and note, so a tripped
circuit breaker's ``abort`` (``reject`` means ``skip`` there) could only be chosen in the TUI.
``answer`` takes the option by name; ``escalations`` lists the command for each option, and
an option the escalation does not offer is refused in one line naming those it does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from escalation_records import open_escalation
from test_plan_view import RUN_ID, db, plan_events, store

from engine import loop as event_loop
from engine.events import EscalationRaised
from storage.records import EscalationRecord
from storage.store import SqlEventStore
from tui.cli import main
from tui.commands import escalations as commands
from tui.commands.escalations import check_option, choose_option, option_command
from tui.commands.exit_codes import UsageError

__all__ = ["db"]  # the fixture, shared

TRIPPED = EscalationRaised(
    escalation_id="esc-2",
    kind="circuit_breaker",
    question="Task ledger failed the same way twice (F401). Retry, skip it, or abort?",
    options=["retry", "skip", "abort"],
    default="abort",
    task_id="ledger",
)
"""As :meth:`engine.build.Build` raises a tripped circuit breaker."""


@pytest.fixture(autouse=True)
def quick_confirmation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(commands, "CONFIRM_S", 0.3, raising=False)
    monkeypatch.setattr(commands, "decider", lambda: "human:me")


def record(*options: str) -> EscalationRecord:
    return open_escalation(*options, kind="circuit_breaker", escalation_id="esc-2")


def test_every_option_is_reachable_and_the_verbs_keep_their_meaning() -> None:
    breaker = record("retry", "skip", "abort")
    assert [check_option(breaker, o) for o in breaker.options] == ["retry", "skip", "abort"]
    assert choose_option("reject", breaker) == "skip"  # not abort: only answer reaches it
    assert choose_option("approve", breaker) == "retry"
    with pytest.raises(UsageError) as refused:
        check_option(breaker, "stop")
    assert str(refused.value) == (
        "escalation esc-2 has no option 'stop'; its options: retry, skip, abort"
    )
    assert option_command(breaker, "abort", with_run=False) == "shopfloor answer esc-2 abort"
    assert option_command(breaker, "abort", with_run=True) == "shopfloor answer esc-2 abort --run r"
    twin = record("accept", "change", "reject")
    assert option_command(twin, "change", with_run=False) == (
        "shopfloor answer esc-2 change --note TEXT"
    )


def test_abort_answered_from_the_cli_waits_in_the_inbox(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), TRIPPED]))
    assert main(["escalations", "--db", str(db)]) == 0
    listed = capsys.readouterr().out
    for option in ("retry", "skip", "abort"):
        assert f"  shopfloor answer esc-2 {option} --db {db}\n" in listed

    assert main(["answer", "esc-2", "finish", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "shopfloor: escalation esc-2 has no option 'finish'; its options: retry, skip, abort\n"
    )

    assert main(["answer", "esc-2", "abort", "--note", "enough", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"abort posted for escalation esc-2 of run {RUN_ID}; no process")

    async def waiting() -> tuple[str, str]:
        async with await SqlEventStore.open(str(db)) as opened:
            found = (await opened.waiting_decisions(RUN_ID))[(RUN_ID, "esc-2")]
        return found.decision, found.decided_by

    assert event_loop.run(waiting()) == ("abort", "human:me")
    assert main(["escalations", "--db", str(db)]) == 0
    listed = capsys.readouterr().out
    assert "shopfloor answer esc-2" not in listed  # answered: no commands to answer it again
    assert main(["escalations", "--json", "--db", str(db)]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert entry["answered"]["decision"] == "abort"


def test_an_option_that_asks_for_changes_needs_a_note(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["answer", "esc-1", "revise", "--db", str(db)]) == 2
    assert capsys.readouterr().err == "shopfloor: revise needs a --note saying what to change\n"
