"""Pilot tests of the approval flow: a key in the modal reaches ``on_decision``."""

from __future__ import annotations

import getpass

import sample_run
from pilot_helpers import caught_up, recording_app, until

from engine.bus import EventBus
from engine.events import EscalationRaised, EscalationResolved
from tui.app import ShopfloorApp
from tui.decision_delivery import broker_decider, decided_by_human
from tui.messages import Decision
from tui.screens.escalation import EscalationScreen
from tui.widgets.pipeline_strip import EscalationBanner

SIZE = (120, 40)


class Recorder:
    """Stands in for the broker: records decide() calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, str]] = []

    def decide(self, escalation_id: str, decision: str, decided_by: str, note: str = "") -> bool:
        self.calls.append((escalation_id, decision, decided_by, note))
        return True


async def test_banner_counts_waiting_escalations_and_e_opens_the_queue() -> None:
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        banner = app.screen.query_one(EscalationBanner)
        assert banner.waiting == 1 and banner.has_class("-waiting")
        assert "1 escalation waits" in str(banner.content)
        await pilot.press("e")
        assert isinstance(app.screen, EscalationScreen)
        assert app.screen.current is not None
        assert app.screen.current.escalation_id == sample_run.ESCALATION_ID
        sample_run.resolve(bus, "human:someone")
        await caught_up(app, bus, pilot)
        assert not banner.has_class("-waiting")


async def test_a_approves_through_the_broker_as_this_human() -> None:
    bus = EventBus(sample_run.RUN_ID)
    broker = Recorder()
    app = ShopfloorApp(bus.subscribe("tui"), on_decision=broker_decider(broker))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e", "a")
        await until(lambda: bool(broker.calls), pilot)
        assert not isinstance(app.screen, EscalationScreen)
    user = getpass.getuser()
    assert broker.calls == [(sample_run.ESCALATION_ID, "approve", f"human:{user}", "")]
    assert decided_by_human() == f"human:{user}"


async def test_r_rejects_and_c_sends_a_typed_note() -> None:
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        sample_run.escalate(bus, "esc-2", task_id="t3")
        await caught_up(app, bus, pilot)
        await pilot.press("e", "r")  # esc-1 rejected; the queue reopens on esc-2
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)
        assert app.screen.current is not None and app.screen.current.escalation_id == "esc-2"
        await pilot.press("c", *"use argparse", "enter")
        await until(lambda: len(decisions) == 2, pilot)
    assert decisions == [
        Decision(sample_run.ESCALATION_ID, "reject"),
        Decision("esc-2", "change", "use argparse"),
    ]


async def test_n_and_p_move_through_the_queue_and_escape_decides_nothing() -> None:
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        sample_run.escalate(bus, "esc-2", task_id="t3")
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        modal = app.screen
        assert isinstance(modal, EscalationScreen)
        seen = []
        for key in ("n", "n", "p"):
            await pilot.press(key)
            assert modal.current is not None
            seen.append(modal.current.escalation_id)
        assert seen == ["esc-2", sample_run.ESCALATION_ID, "esc-2"]
        await pilot.press("c", "escape")  # leaves the note box
        assert isinstance(app.screen, EscalationScreen)
        await pilot.press("escape")  # closes the queue
        assert not isinstance(app.screen, EscalationScreen)
    assert decisions == []


async def test_a_failed_delivery_is_shown_and_the_escalation_stays_open() -> None:
    bus = EventBus(sample_run.RUN_ID)

    tried: list[Decision] = []

    async def refuse(decision: Decision) -> None:
        tried.append(decision)
        raise ValueError("escalation esc-1 is no longer waiting")

    app = ShopfloorApp(bus.subscribe("tui"), on_decision=refuse)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e", "a")
        await until(lambda: bool(tried and app.main.waiting_escalations()), pilot)
        assert app.main.waiting_escalations() == [sample_run.ESCALATION_ID]


async def test_without_on_decision_the_queue_is_read_only() -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e", "a")
        assert isinstance(app.screen, EscalationScreen)
        assert app.screen.read_only


def footer_keys(app: ShopfloorApp) -> dict[str, str]:
    """The keys the footer shows: key -> what it says it does."""
    active = app.screen.active_bindings.items()
    return {key: bound.binding.description for key, bound in active if bound.binding.show}


async def test_the_footer_says_enter_sends_the_change_note_while_it_is_typed() -> None:
    """Before, typing a note showed only "esc Close": the letters the dialog binds type
    into the box, and Input's enter is hidden, so nothing said that enter sends it."""
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        await pilot.pause()
        assert footer_keys(app)["a"] == "Approve" and footer_keys(app)["escape"] == "Close"
        await pilot.press("c", *"use argparse")
        await pilot.pause()
        shown = footer_keys(app)
        assert (shown["enter"], shown["escape"]) == ("Send note", "Cancel note")
        assert "a" not in shown  # a letter types into the note
        await pilot.press("escape")  # leaves the box, the question stays
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)
        assert footer_keys(app)["escape"] == "Close"
        await pilot.press("c", *"use argparse", "enter")
        await until(lambda: bool(decisions), pilot)
    assert decisions == [Decision(sample_run.ESCALATION_ID, "change", "use argparse")]


def twin_asks(bus: EventBus, escalation_id: str) -> None:
    """The twin's question on the plan, as the engine raises it (again after a change)."""
    bus.emit(
        EscalationRaised(
            escalation_id=escalation_id,
            kind="twin",
            question="The twin says ACCEPT on the plan, but its confidence 0.62 is below 0.70.",
            options=["accept", "change", "reject"],
            default="reject",
        )
    )


def answered(bus: EventBus, decision: Decision) -> None:
    bus.emit(
        EscalationResolved(
            escalation_id=decision.escalation_id,
            decision=decision.decision,
            decided_by="human:someone",
            note=decision.note,
        )
    )


async def test_after_a_change_note_the_question_on_the_revised_plan_opens_by_itself() -> None:
    """Before, the queue reopened only on a question that already waited when the answer
    was sent: a change note sends the plan back to the planner and the twin asks again a
    moment later, and that question sat behind the banner until ``e``."""
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        twin_asks(bus, "esc-1")
        await caught_up(app, bus, pilot)
        await pilot.press("e", "c", *"use argparse", "enter")
        await until(lambda: bool(decisions), pilot)
        assert not isinstance(app.screen, EscalationScreen)  # nothing waits yet
        answered(bus, decisions[0])
        twin_asks(bus, "esc-2")  # on the revised plan
        await caught_up(app, bus, pilot)
        assert isinstance(app.screen, EscalationScreen)
        assert app.screen.current is not None and app.screen.current.escalation_id == "esc-2"
    assert decisions == [Decision("esc-1", "change", "use argparse")]


async def test_a_question_raised_later_waits_for_a_box_being_typed_in_or_a_closed_queue() -> None:
    """The queue opening by itself must not take keys typed for the task filter, and a
    queue closed with escape stays closed until ``e``."""
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE) as pilot:
        sample_run.start(bus)
        twin_asks(bus, "esc-1")
        await caught_up(app, bus, pilot)
        await pilot.press("e", "a")
        await until(lambda: bool(decisions), pilot)
        await pilot.press("f", "t")  # the task filter takes the keys
        answered(bus, decisions[0])
        twin_asks(bus, "esc-2")
        await caught_up(app, bus, pilot)
        assert not isinstance(app.screen, EscalationScreen)
        await pilot.press("escape")  # the filter closes: the question opens now
        await pilot.pause()
        assert isinstance(app.screen, EscalationScreen)
        await pilot.press("escape")  # closed without an answer
        twin_asks(bus, "esc-3")
        await caught_up(app, bus, pilot)
        assert not isinstance(app.screen, EscalationScreen)


async def test_next_with_one_escalation_and_an_unlisted_number_say_so() -> None:
    """In tmux, n and p on the only escalation, and 9 on one of three options, did nothing
    and said nothing: the footer lists n Next, p Previous, and the help 1-9."""
    bus = EventBus(sample_run.RUN_ID)
    decisions: list[Decision] = []
    app = recording_app(bus, decisions)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        assert isinstance(app.screen, EscalationScreen)
        await pilot.press("n", "p", "9")
        await pilot.pause()
        said = [str(n.message) for n in app._notifications]  # type: ignore[attr-defined]
        assert said.count("this is the only escalation that waits") == 2
        assert "no option 9: 1 approve, 2 reject, 3 change" in said
        assert isinstance(app.screen, EscalationScreen) and decisions == []
