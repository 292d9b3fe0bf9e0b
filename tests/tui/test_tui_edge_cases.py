"""The control room as a demanding user over SSH meets it: small terminals, words with
escape sequences and line breaks, escalations that change while they are on screen, keys
pressed twice or at the wrong moment, and runs followed from the history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sample_run
from pilot_helpers import caught_up, recording_app, until
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import DataTable

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
)
from storage.store import RunRecord
from tui.app import ShopfloorApp
from tui.messages import Decision
from tui.screens import escalation
from tui.screens.escalation import EscalationScreen
from tui.screens.run import RunScreen
from tui.screens.runs import RunsScreen
from tui.screens.task_detail import TaskDetailScreen
from tui.widgets.dag_view import DagView
from tui.widgets.pipeline_strip import EscalationBanner

SIZE = (120, 40)
ESC, BEL = "\x1b", "\x07"
CONTROLS = {chr(c) for c in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
"""What must never be drawn: C0 (newline and tab included: a cell holds neither), DEL, C1."""
HOSTILE = f"{ESC}[2J{ESC}[H{ESC}[41mRED{ESC}[0m{BEL} {ESC}]2;TITLE{BEL}after\r{ESC}(B\x9b1mend"
"""A screen clear, a cursor jump, colours, a bell, a title change, a charset switch, C1 CSI."""


def screen_lines(app: ShopfloorApp) -> list[str]:
    """What the current screen draws, line by line, exactly as it goes to the terminal."""
    update = app.screen._compositor.render_update(full=True)  # type: ignore[attr-defined]
    return ["".join(segment.text for segment in strip) for strip in update.strips]


def shown(app: ShopfloorApp) -> str:
    return "\n".join(screen_lines(app))


async def shows(app: ShopfloorApp, pilot: Pilot[None], text: str) -> bool:
    """Whether ``text`` comes on screen within 5 s (a toast is mounted after its call)."""
    for _ in range(250):
        if text in shown(app).replace("\n", ""):
            return True
        await pilot.pause(0.02)
    return False


def started(bus: EventBus, tasks: list[Task], request: str = "Add a greeting") -> None:
    bus.emit(
        RunStarted(
            request=request,
            repo="/srv/repos/hello",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/wip",
            simulated=True,
        )
    )
    bus.emit(BlueprintProposed(blueprint=Blueprint(spec="spec", tasks=tasks)))
    bus.emit(StageChanged(stage=Stage.BUILD))


def two_questions(bus: EventBus) -> None:
    """A run of one task that waits on two escalations, e1 then e2."""
    started(bus, [Task(id="t1", title="one")])
    ask(bus, "e1", "First question?")
    ask(bus, "e2", "Second question?")


def ask(bus: EventBus, escalation_id: str, question: str, **fields: object) -> None:
    values: dict[str, object] = {
        "options": ["approve", "reject", "change"],
        "default": "approve",
    }
    values.update(fields)
    bus.emit(EscalationRaised(escalation_id=escalation_id, question=question, **values))  # type: ignore[arg-type]


# -- words that are not plain text -------------------------------------------------------


async def test_escape_sequences_and_control_characters_never_reach_the_terminal() -> None:
    """An agent's raw output, or a title, question or gate output holding escapes, would
    clear the screen, leave colours on, ring the bell or rename the terminal's window."""
    bus = EventBus("r-escapes")
    app = recording_app(bus, [])
    async with app.run_test(size=SIZE) as pilot:
        started(bus, [Task(id="t1", title=f"Title {HOSTILE}")], request=f"Request {HOSTILE}")
        sample_run.attempt(bus, "t1", 1, [f"Line {HOSTILE}", "x" * 3000], passes=False)
        bus.emit(
            GateFinished(
                gate="tests",
                scope="task",
                task_id="t1",
                attempt=1,
                passed=False,
                summary=f"Summary {HOSTILE}",
                output_tail=f"Tail {HOSTILE}\n",
            )
        )
        bus.emit(
            AgentOutput(
                agent_id=sample_run.engineer_id("t1", 1),
                text=f"diff --git a/x b/x\n+added {HOSTILE}",
                kind="result",
            )
        )
        ask(bus, "e1", f"Question {HOSTILE}", task_id="t1", context=f"Context {HOSTILE}")
        await caught_up(app, bus, pilot)

        for where in ("run screen", "escalation", "task detail"):
            if where == "escalation":
                await pilot.press("e")
            elif where == "task detail":
                await pilot.press("escape", "enter")
            await pilot.pause()
            lines = screen_lines(app)
            drawn = {c for line in lines for c in line}
            assert not drawn & CONTROLS, (where, [line for line in lines if set(line) & CONTROLS])
            assert "RED" in shown(app), where  # the words themselves are still there
        assert isinstance(app.screen, TaskDetailScreen)
        assert "Tail RED" in shown(app)
        assert "+added RED" in shown(app)  # the diff, read back from the log


async def test_line_breaks_in_a_title_or_a_reason_do_not_hide_the_rest_of_the_line() -> None:
    """The graph's line and the header are one line: a title's newline used to cut off the
    task's state, a reason's newline the request after it."""
    bus = EventBus("r-lines")
    app = recording_app(bus, [])
    async with app.run_test(size=SIZE) as pilot:
        started(bus, [Task(id="t1", title="first\nsecond")], request="Add\ta greeting")
        bus.emit(RunFinished(outcome=Outcome.FAILED, reason="line one\nline two"))
        await caught_up(app, bus, pilot)
        label = app.screen.query_one(DagView).label_of("t1")
        assert label is not None and "first second" in label.plain
        assert label.plain.endswith("pending")
        assert "failed: line one line two  │ Add a greeting" in shown(app)


async def test_an_escalation_without_a_question_does_not_end_the_app() -> None:
    bus = EventBus("r-empty")
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        started(bus, [Task(id="t1", title="one")])
        ask(bus, "e1", "", options=[])
        await caught_up(app, bus, pilot)
        assert app.screen.query_one(EscalationBanner).waiting == 1
        await pilot.press("e", "a")
        await until(lambda: bool(decisions), pilot)
    assert decisions == [Decision("e1", "approve")]


# -- escalations that change while they are shown ---------------------------------------


async def test_an_escalation_decided_elsewhere_leaves_the_open_queue() -> None:
    """``shopfloor approve`` from another shell while the modal shows the question: the
    modal used to keep it, and a key sent a decision the run no longer waited for."""
    bus = EventBus("r-elsewhere")
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        two_questions(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        modal = app.screen
        assert isinstance(modal, EscalationScreen)
        bus.emit(EscalationResolved(escalation_id="e1", decision="reject", decided_by="human:bo"))
        await caught_up(app, bus, pilot)
        assert app.screen is modal
        assert modal.current is not None and modal.current.escalation_id == "e2"
        assert "First question?" not in shown(app)
        assert await shows(app, pilot, "e1 no longer waits: reject by human:bo")
        await pilot.press("a")
        await until(lambda: bool(decisions), pilot)
    assert decisions == [Decision("e2", "approve")]


async def test_an_escalation_raised_while_the_queue_is_open_joins_it() -> None:
    bus = EventBus("r-joins")
    app = recording_app(bus, [])
    async with app.run_test(size=SIZE) as pilot:
        started(bus, [Task(id="t1", title="one")])
        ask(bus, "e1", "First question?")
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        ask(bus, "e2", "Second question?")
        await caught_up(app, bus, pilot)
        assert "escalation 1/2" in shown(app)
        await pilot.press("n")
        assert "Second question?" in shown(app)


async def test_a_timeout_while_the_question_is_shown_closes_the_queue_after_the_palette() -> None:
    """The last question times out while the command palette is open above the modal: the
    palette stays until closed (closing the queue then would have closed the palette
    instead), then the queue, which has nothing left, closes too."""
    bus = EventBus("r-timeout")
    app = recording_app(bus, [])
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        started(bus, [Task(id="t1", title="one")])
        ask(bus, "e1", "Ship it?")
        await caught_up(app, bus, pilot)
        await pilot.press("e", "ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        bus.emit(
            EscalationResolved(
                escalation_id="e1",
                decision="approve",
                decided_by="timeout",
                note="no answer in 30s",
            )
        )
        await caught_up(app, bus, pilot)
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await until(lambda: isinstance(app.screen, RunScreen), pilot)
        said = [n.message for n in app._notifications]  # type: ignore[attr-defined]
        assert "e1 no longer waits: timed out, the default was taken: approve" in said
        assert not app.screen.query_one(EscalationBanner).has_class("-waiting")


@pytest.mark.parametrize("outcome", [Outcome.SHIPPED, Outcome.FAILED, Outcome.KILLED])
async def test_the_run_ending_closes_the_queue_and_nothing_waits_any_more(
    outcome: Outcome,
) -> None:
    """A finished run takes no decision: the open modal used to stay and send one, and the
    banner kept asking for a key."""
    bus = EventBus("r-ends")
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        started(bus, [Task(id="t1", title="one")])
        ask(bus, "e1", "Ship it?")
        await caught_up(app, bus, pilot)
        await pilot.press("e", "c", *"half a note")
        bus.emit(RunFinished(outcome=outcome, reason="ended"))
        await caught_up(app, bus, pilot)
        assert isinstance(app.screen, RunScreen)
        await pilot.press("a")
        assert not app.screen.query_one(EscalationBanner).has_class("-waiting")
        assert "press e" not in shown(app)
        await pilot.press("e")
        assert isinstance(app.screen, RunScreen)
        assert await shows(app, pilot, "no escalation waits")
    assert decisions == []


async def test_a_double_press_does_not_answer_the_next_question_unseen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After a decision the queue reopens on the next question at once; the second ``a`` of
    a double press (or type-ahead over SSH) used to approve it before it was read."""
    monkeypatch.setattr(
        escalation, "SETTLE_S", 30.0, raising=False
    )  # a slow machine cannot outwait it
    bus = EventBus("r-double")
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        two_questions(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e", "a", "a", "2")
        await until(lambda: bool(decisions), pilot)
        await pilot.pause(0.2)
        modal = app.screen
        assert isinstance(modal, EscalationScreen)
        assert modal.current is not None and modal.current.escalation_id == "e2"
        assert await shows(app, pilot, "has just appeared")
        await pilot.press("c", *"later", "enter")  # the note box is a deliberate answer
        await until(lambda: len(decisions) == 2, pilot)
    assert decisions == [Decision("e1", "approve"), Decision("e2", "change", "later")]


async def test_the_log_keeps_following_its_newest_line_when_the_banner_takes_a_row() -> None:
    """The banner appearing (or the terminal shrinking) made the log shorter without moving
    it: its newest line went out of view and new lines stopped being followed."""
    bus = EventBus("r-follow")
    app = recording_app(bus, [])
    async with app.run_test(size=(120, 40)) as pilot:
        started(bus, [Task(id="t1", title="one")])
        sample_run.attempt(bus, "t1", 1, [f"log line {i}" for i in range(100)], passes=True)
        await caught_up(app, bus, pilot)
        assert "log line 99" in shown(app)
        ask(bus, "e1", "Ship it?")
        await caught_up(app, bus, pilot)
        assert "log line 99" in shown(app)
        agent = sample_run.engineer_id("t1", 1)
        bus.emit(AgentOutput(agent_id=agent, text="a newer line"))
        await caught_up(app, bus, pilot)
        assert "a newer line" in shown(app)
        await pilot.resize_terminal(80, 24)
        bus.emit(AgentOutput(agent_id=agent, text="the newest line"))
        await caught_up(app, bus, pilot)
        assert "the newest line" in shown(app)


# -- keys --------------------------------------------------------------------------------


async def test_escape_closes_the_task_filter_box_and_keeps_the_applied_filter() -> None:
    """Escape used to leave the box open and focused, so ``e``, ``q`` and every other key
    went into it as text."""
    bus = EventBus("r-filter")
    app = recording_app(bus, [])
    async with app.run_test(size=SIZE) as pilot:
        started(bus, [Task(id=f"t{i}", title=f"title {i}") for i in range(5)])
        ask(bus, "e1", "Ship it?")
        await caught_up(app, bus, pilot)
        dag = app.screen.query_one(DagView)
        await pilot.press("f", "3", "enter")
        assert dag.shown_task_ids == ["t3"]
        await pilot.press("f", "backspace", "1", "escape")
        assert not app.screen.has_class("-filtering")
        assert app.focused is dag
        assert dag.shown_task_ids == ["t3"]  # what was typed and not applied is dropped
        await pilot.press("e")
        assert isinstance(app.screen, EscalationScreen)
        await pilot.press("escape", "f")
        assert app.screen.query_one("#dag-filter").value == "3"  # type: ignore[attr-defined]


class LiveHistory:
    """One stored run, still running, whose log grows only by what a test appends."""

    def __init__(self) -> None:
        self.events: list[EventBase] = []
        self.record = RunRecord(
            run_id="r-live",
            request="Add a greeting",
            repo="/srv/repos/hello",
            mode="create",
            branch=None,
            integration_branch="shopfloor/wip/r-live",
            outcome=Outcome.RUNNING,
            reason="",  # as stored: the column is NOT NULL
            simulated=True,
            tasks_total=0,
            tasks_merged=0,
            created_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
            finished_at=None,
            last_seq=0,
        )

    async def list_runs(self, limit: int = 100) -> list[RunRecord]:
        return [self.record]

    async def read(self, run_id: str, after_seq: int = 0) -> list[EventBase]:
        return []


async def test_escape_goes_back_from_a_followed_run_and_r_does_not_stack_histories() -> None:
    """A live run opened from the history had no way back: escape did nothing, and ``R``
    stacked another history (and another run) on top of it."""
    bus = EventBus("r-main")
    app = recording_app(bus, [], store=LiveHistory())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("R")
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(DataTable)
        await until(lambda: table.row_count == 1, pilot)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunScreen), pilot)
        assert "esc Runs" in shown(app)
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)
        await pilot.press("enter")
        await until(lambda: isinstance(app.screen, RunScreen), pilot)
        await pilot.press("R")
        assert isinstance(app.screen, RunsScreen)
        assert [type(s) for s in app.screen_stack] == [RunScreen, RunsScreen]


# -- small terminals ---------------------------------------------------------------------

LONG_QUESTION = "Should the 数据库 layer 🚀 ship with [bold] in it? " + "More words. " * 40


def many_tasks(count: int) -> list[Task]:
    titles = ["Build the 数据库 layer 🚀 [bold]", "タスク 日本語のタイトル", "[/] plain"]
    return [
        Task(
            id=f"t{i}",
            title=f"{titles[i % 3]} {'long ' * (i % 7)}",
            depends_on=[f"t{j}" for j in range(max(0, i - 2), i)] if i % 4 else [],
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(
    "size", [(80, 24), (60, 20), (40, 12)], ids=lambda s: "x".join(map(str, s))
)
async def test_small_terminals_keep_the_graph_the_log_and_the_escalation_keys(
    size: tuple[int, int],
) -> None:
    """At 40x12 the graph had no line left (the agent table took them) and the log was four
    columns wide; a long question pushed the options and their keys off the modal."""
    bus = EventBus("r-small")
    app = recording_app(bus, [])
    async with app.run_test(size=size) as pilot:
        started(bus, many_tasks(120))
        sample_run.attempt(bus, "t0", 1, [f"log line {i}" for i in range(50)], passes=True)
        ask(bus, "e1", LONG_QUESTION, task_id="t0", context=sample_run.ESCALATION_CONTEXT)
        await caught_up(app, bus, pilot)
        text = shown(app)
        assert "t0 Build the" in text  # a task line of the graph
        assert "log line 49" in text  # the selected agent's newest line, whole
        assert "press e" in text
        await pilot.press("e")
        # the footer takes the dialog's keys on a later refresh than the dialog's own
        await until(lambda: "a Approve" in shown(app), pilot)
        text = shown(app)
        assert "Should the 数据库" in text
        assert "[a] approve" in text and "[r] reject" in text


async def test_a_tiny_terminal_and_resizes_mid_run_lose_nothing() -> None:
    bus = EventBus("r-resize")
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=(200, 60)) as pilot:
        started(bus, many_tasks(200))
        ask(bus, "e1", LONG_QUESTION, context=sample_run.ESCALATION_CONTEXT)
        await caught_up(app, bus, pilot)
        for size in ((30, 10), (20, 8), (200, 60), (30, 10)):
            await pilot.resize_terminal(*size)
            sample_run.attempt(bus, f"t{size[0]}", 1, ["x" * 500], passes=True)
            await caught_up(app, bus, pilot)
            await pilot.press("j", "right_square_bracket", "e")
            assert isinstance(app.screen, EscalationScreen)
            await pilot.press("escape")
        await pilot.resize_terminal(200, 60)
        await pilot.press("e", "a")
        await until(lambda: bool(decisions), pilot)
        assert isinstance(app.screen, RunScreen)
        assert app.screen.query_one(DagView).highlighted_task_id is not None
    assert decisions == [Decision("e1", "approve")]
