"""The plan as the planner wrote it is readable where a human decides on it.

Before, the control room drew the task graph's titles and nothing else of the blueprint: a
human asked by the twin or the review panel to accept the plan could not read its spec, its
acceptance criteria or what each task was to do — not in the escalation, not anywhere in
the TUI, not from ``shopfloor status``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sample_run
from pilot_helpers import caught_up
from test_tui_plain_text import SIZE, ignore, shown_text

from engine import loop as event_loop
from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    EventBase,
    RunStarted,
    Stage,
    StageChanged,
)
from storage.store import SqlEventStore
from tui.app import ShopfloorApp
from tui.cli import main
from tui.screens.escalation import EscalationScreen
from tui.screens.plan import PlanScreen
from tui.screens.task_detail import TaskDetailScreen

RUN_ID = "r-plan"
PLAN = Blueprint(
    spec="A stock ledger with [bold]Decimal[/bold] prices.\nNo third-party packages.",
    acceptance_criteria=["`python -m stock add` records an item", "prices never use float"],
    tasks=[
        Task(
            id="ledger",
            title="Stock ledger",
            description="Keep items in a dict keyed by SKU.\x1b[31m Not red.\x1b[0m",
            files=["stock/ledger.py", "tests/test_ledger.py"],
            test_plan="add, remove, and refuse a negative count",
        ),
        Task(id="cli", title="Command line", depends_on=["ledger"], test_plan="argparse paths"),
    ],
)


def started() -> RunStarted:
    return RunStarted(
        request="Build a stock ledger",
        repo="/srv/repos/stock",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch=f"shopfloor/wip/{RUN_ID}",
        simulated=True,
    )


def twin_question() -> EscalationRaised:
    return EscalationRaised(
        escalation_id="esc-1",
        kind="twin",
        question="The twin says ACCEPT on the plan, but its confidence 0.62 is below 0.70.",
        options=["accept", "change", "reject"],
        default="reject",
        context="The owner never decided how errors are reported.",
    )


BREAKER = EscalationRaised(
    escalation_id="esc-2",
    kind="circuit_breaker",
    question="ledger failed twice the same way. Retry or skip?",
    options=["retry", "skip"],
    default="skip",
    task_id="ledger",
    context="FAILED tests/test_ledger.py::test_add\n\x1b]0;pwned\x07AssertionError: 3 != 4",
)
"""A question about one task: the failing output is its context, the plan is not."""


def plan_events() -> list[EventBase]:
    return [started(), BlueprintProposed(blueprint=PLAN), StageChanged(stage=Stage.TWIN)]


def says_the_plan(text: str) -> None:
    flat = " ".join(text.split())
    for words in (
        "A stock ledger with [bold]Decimal[/bold] prices.",  # markup drawn as written
        "1. `python -m stock add` records an item",
        "2. prices never use float",
        "Keep items in a dict keyed by SKU. Not red.",  # the escape sequence dropped
        "stock/ledger.py, tests/test_ledger.py",
        "add, remove, and refuse a negative count",
        "cli Command line",
        "after ledger",
    ):
        assert words in flat, words


async def test_b_opens_the_plan_and_a_question_about_the_plan_shows_it() -> None:
    bus = EventBus(RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore)
    async with app.run_test(size=(SIZE[0], 80)) as pilot:
        for event in plan_events():
            bus.emit(event)
        await caught_up(app, bus, pilot)

        await pilot.press("b")
        assert isinstance(app.screen, PlanScreen)
        says_the_plan(shown_text(app))
        await pilot.press("escape")

        bus.emit(twin_question())
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)
        shown = shown_text(app)
        assert "The owner never decided how errors are reported." in shown
        assert "the plan in question" in shown
        says_the_plan(shown)


async def test_a_question_about_a_task_does_not_show_the_plan() -> None:
    bus = EventBus(RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore)
    async with app.run_test(size=SIZE) as pilot:
        for event in plan_events():
            bus.emit(event)
        bus.emit(StageChanged(stage=Stage.BUILD))
        sample_run.attempt(bus, "ledger", 1, ["boom"], passes=False)
        bus.emit(BREAKER)
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)
        assert "AssertionError: 3 != 4" in shown_text(app)
        assert "the plan in question" not in shown_text(app)


async def test_a_task_detail_says_what_the_plan_asked_of_that_task() -> None:
    bus = EventBus(RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore)
    async with app.run_test(size=SIZE) as pilot:
        for event in plan_events():
            bus.emit(event)
        bus.emit(StageChanged(stage=Stage.BUILD))
        await caught_up(app, bus, pilot)
        await pilot.press("enter")
        assert isinstance(app.screen, TaskDetailScreen)
        flat = " ".join(shown_text(app).split())
        assert "Keep items in a dict keyed by SKU. Not red." in flat
        assert "stock/ledger.py, tests/test_ledger.py" in flat
        assert "add, remove, and refuse a negative count" in flat


async def test_the_plan_screen_before_any_plan_says_so() -> None:
    bus = EventBus(RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=ignore)
    async with app.run_test(size=SIZE) as pilot:
        bus.emit(started())
        await caught_up(app, bus, pilot)
        await pilot.press("b")
        assert isinstance(app.screen, PlanScreen)
        assert "no plan yet" in shown_text(app)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    monkeypatch.delenv(event_loop.LOOP_VARIABLE, raising=False)
    return tmp_path / "runs.db"


async def store(db: Path, events: list[EventBase]) -> None:
    bus = EventBus(RUN_ID)
    async with await SqlEventStore.open(str(db)) as opened:
        await opened.append([bus.emit(event) for event in events])


def test_status_plan_prints_the_plan_for_a_human_in_another_shell(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [*plan_events(), twin_question()]))
    assert main(["status", RUN_ID, "--plan", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    says_the_plan(out)
    assert "\x1b[31m" not in out

    assert main(["status", RUN_ID, "--json", "--plan", "--db", str(db)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert Blueprint.model_validate(report["plan"]) == PLAN

    assert main(["status", RUN_ID, "--db", str(db)]) == 0  # without --plan: as before
    assert "acceptance criteria" not in capsys.readouterr().out


def test_status_plan_of_a_run_without_a_plan_says_so(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event_loop.run(store(db, [started()]))
    assert main(["status", RUN_ID, "--plan", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "no plan yet" in out
    assert "attempts" not in out  # an audit's status printed the header of an empty table
    assert main(["status", RUN_ID, "--json", "--plan", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["plan"] is None
