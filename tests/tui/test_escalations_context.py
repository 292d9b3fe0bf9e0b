"""``shopfloor escalations --context``: what a question quotes, for a human in another shell.

The escalations table keeps the question and the options; the context it was raised with —
the failing output behind a circuit breaker, the findings behind a review question, the
diff — was only in the TUI. Answering from another shell meant answering blind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_plan_view import BREAKER, RUN_ID, db, plan_events, store, twin_question

from engine import loop as event_loop
from engine.events import EscalationResolved
from tui.cli import main

__all__ = ["db"]  # the fixture, shared


def test_context_prints_what_each_open_escalation_quotes(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question(), BREAKER]))
    assert main(["escalations", "--context", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "  The owner never decided how errors are reported." in out
    assert f"the plan: shopfloor status {RUN_ID} --plan" in out
    assert "  FAILED tests/test_ledger.py::test_add" in out
    assert "  AssertionError: 3 != 4" in out
    assert "\x1b" not in out and "pwned" not in out  # a terminal title, dropped whole

    assert main(["escalations", "--json", "--context", "--db", str(db)]) == 0
    listed = {e["id"]: e for e in json.loads(capsys.readouterr().out)}
    assert listed["esc-2"]["context"] == BREAKER.context  # JSON keeps the text as raised
    assert listed["esc-1"]["context"] == twin_question().context

    assert main(["escalations", "--db", str(db)]) == 0  # without --context: the table only
    assert "AssertionError" not in capsys.readouterr().out


def test_context_lists_only_what_still_waits(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    answered = EscalationResolved(escalation_id="esc-1", decision="accept", decided_by="twin")
    event_loop.run(store(db, [*plan_events(), twin_question(), answered, BREAKER]))
    assert main(["escalations", "--context", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "AssertionError: 3 != 4" in out
    assert "The owner never decided" not in out
