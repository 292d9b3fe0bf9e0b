"""The control room shows the user's and the models' words as they are.

A request, a task title, an agent's line, a reason or an escalation's question can hold
``[/]`` or ``[red]``: Textual and rich read those as markup, swallowing the one and raising
on the other, which ended the app. Every screen that shows such words is visited here.
"""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import sample_run
from pilot_helpers import caught_up
from textual.pilot import Pilot
from textual.widgets import DataTable

import tui
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    EscalationRaised,
    EventBase,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
)
from storage.store import RunRecord
from tui.app import ShopfloorApp
from tui.messages import Decision
from tui.screens.escalation import EscalationScreen
from tui.screens.runs import RunsScreen
from tui.screens.task_detail import TaskDetailScreen

SIZE = (160, 48)
MARKUP = "[/] and [red]red[/red] and [engine]"


async def ignore(decision: Decision) -> None:
    return None


class History:
    """One stored run whose request looks like markup."""

    def __init__(self) -> None:
        self.record = RunRecord(
            run_id="r-markup",
            request=f"Request {MARKUP}",
            repo="/srv/repos/hello",
            mode="create",
            branch=None,
            integration_branch="shopfloor/wip/r-markup",
            outcome=Outcome.FAILED,
            reason=f"Reason {MARKUP}",
            simulated=True,
            tasks_total=1,
            tasks_merged=0,
            created_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
            finished_at=None,
            last_seq=1,
        )

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        return [self.record]

    async def read(self, run_id: str, after_seq: int = 0) -> list[EventBase]:
        return []


def shown_text(app: ShopfloorApp) -> str:
    """Everything the current screen draws, as plain text."""
    return "\n".join(
        "".join(segment.text for segment in line)
        for line in app.screen._compositor.render_update(full=True).strips  # type: ignore[attr-defined]
    )


async def shows(app: ShopfloorApp, pilot: Pilot[None], text: str) -> bool:
    """Whether ``text`` comes on screen within 5 s (a toast is mounted after its call)."""
    for _ in range(250):
        if text in shown_text(app).replace("\n", ""):
            return True
        await pilot.pause(0.02)
    return False


async def test_words_that_look_like_markup_reach_every_screen_intact() -> None:
    bus = EventBus("r-markup")
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore, store=History())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        bus.emit(
            RunStarted(
                request=f"Request {MARKUP}",
                repo="/srv/repos/hello",
                base_branch="main",
                base_commit="0" * 40,
                integration_branch="shopfloor/wip/r-markup",
                simulated=True,
            )
        )
        plan = Blueprint(spec=f"Spec {MARKUP}", tasks=[Task(id="t1", title=f"Title {MARKUP}")])
        bus.emit(BlueprintProposed(blueprint=plan))
        bus.emit(StageChanged(stage=Stage.BUILD))
        sample_run.attempt(bus, "t1", 1, [f"Line {MARKUP}"], passes=False)
        bus.emit(AgentOutput(agent_id=sample_run.engineer_id("t1", 1), text=f"More {MARKUP}"))
        bus.emit(
            EscalationRaised(
                escalation_id="e1",
                question=f"Question {MARKUP}",
                options=["approve", "[reject]"],
                default="approve",
                task_id="t1",
                context=f"Context {MARKUP}",
            )
        )
        await caught_up(app, bus, pilot)
        assert f"More {MARKUP}" in shown_text(app)
        assert f"Request {MARKUP}" in shown_text(app)

        await pilot.press("slash", *"[/]x", "enter")  # no match: says so, in its own words
        assert await shows(app, pilot, "no match for '[/]x'")
        await pilot.press("escape")

        await pilot.press("enter")
        assert isinstance(app.screen, TaskDetailScreen)
        assert f"Title {MARKUP}" in shown_text(app)
        await pilot.press("escape")

        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)
        assert f"Question {MARKUP}" in shown_text(app)
        assert "[reject]" in shown_text(app)
        await pilot.press("escape")

        await pilot.press("R")
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(DataTable)
        for _ in range(100):
            if table.row_count:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        assert f"Request {MARKUP}" in shown_text(app)
        await pilot.press("escape")

        bus.emit(RunFinished(outcome=Outcome.FAILED, reason=f"Reason {MARKUP}"))
        await caught_up(app, bus, pilot)
        assert await shows(app, pilot, f"Reason {MARKUP}")


def test_every_notification_of_ours_is_plain_text() -> None:
    """Textual reads a notification as markup unless told ``markup=False``, and ours carry a
    run's words. (Textual's own, like the hint on ctrl+c, keep their markup.)"""
    calls = 0
    for path in sorted(Path(tui.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr != "notify":
                continue
            calls += 1
            markup = {k.arg: k.value for k in node.keywords}.get("markup")
            where = f"{path.name}:{node.lineno}"
            assert isinstance(markup, ast.Constant) and markup.value is False, where
    assert calls >= 10
