"""The headless console reporter: concise lines, verbose agent output, JSON lines."""

from __future__ import annotations

import asyncio
import io

import pytest
import sample_run
from rich.console import Console

from engine.bus import EventBus
from engine.event_codec import event_from_json
from engine.events import (
    AgentOutput,
    BlueprintProposed,
    EscalationRaised,
    EscalationResolved,
    GateFinished,
    KillGateTripped,
    Outcome,
    QCScored,
    ReviewRoundFinished,
    ReviewScored,
    RunFinished,
    RunResumed,
    RunStarted,
    Stage,
    StageChanged,
    VerificationFinished,
)
from tui.headless import ConsoleReporter


async def report(
    *, simulated: bool = True, verbose: bool = False, json_lines: bool = False
) -> tuple[str, ConsoleReporter, EventBus]:
    bus = EventBus(sample_run.RUN_ID)
    console = Console(file=io.StringIO(), width=120)
    reporter = ConsoleReporter(
        bus.subscribe("console"), console, verbose=verbose, json_lines=json_lines
    )
    task = asyncio.create_task(reporter.run())
    sample_run.whole_run(bus, simulated=simulated)
    await bus.close()
    state = await asyncio.wait_for(task, timeout=5)
    assert state is reporter.state
    output = console.file.getvalue()  # type: ignore[attr-defined]
    return output, reporter, bus


async def test_one_concise_line_per_meaningful_event() -> None:
    output, reporter, _ = await report()
    lines = output.splitlines()
    # Times are prefixed; compare what follows them.
    body = [line[9:] for line in lines]
    assert body[0].startswith(" SIM  run r-20260101-demo started (create):")
    assert sample_run.REQUEST in body[0]
    assert "stage blueprint" in body
    assert "blueprint: 3 tasks (t1, t2, t3)" in body
    assert "t1 running (attempt 1)" in body
    assert "t1 gates (attempt 1)" in body
    assert "✓ gate tests t1#1: 4 passed" in body
    assert (
        "✗ gate tests t2#1: 1 failed, 3 passed — FAILED tests/test_cli.py::test_greet - exit 2"
        in body
    )
    assert "t2 running (attempt 2)" in body
    assert any(line.startswith("✓ t2 merged @t22fffffff (attempt 2)") for line in body)
    assert body[-1].startswith("run finished: shipped  branch shopfloor/r-20260101-demo")
    assert "merged 3/3" in body[-1] and body[-1].rstrip().endswith("SIM")
    # Agent chatter and pending/merged task states stay out of the concise log.
    assert "writing hello/greet.py" not in output
    assert "pending" not in output
    assert reporter.state.outcome is Outcome.SHIPPED


async def test_real_runs_carry_no_sim_marker() -> None:
    output, _, _ = await report(simulated=False)
    assert "SIM" not in output
    assert "run finished: shipped" in output


async def test_verbose_prints_agent_output_prefixed_by_agent_id() -> None:
    output, _, _ = await report(verbose=True)
    assert "engineer:t1:a1 │ writing hello/greet.py" in output
    assert "engineer:t2:a2 │ tests pass now" in output
    assert "agent engineer:t1:a1 engineer on sim: for t1#1  SIM" in output


async def test_json_lines_writes_every_event_as_one_json_line() -> None:
    output, _, bus = await report(json_lines=True)
    events = [event_from_json(line) for line in output.splitlines()]
    assert [event.seq for event in events] == list(range(1, bus.state.last_seq + 1))
    assert isinstance(events[-1], RunFinished)
    assert all(event.run_id == sample_run.RUN_ID for event in events)


def escalation_events(policy: str) -> tuple[RunStarted, EscalationRaised]:
    started = RunStarted(
        run_id="run-5",
        seq=1,
        request="x",
        repo="/tmp/repo",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/wip/run-5",
        settings={"escalation_policy": policy},
    )
    raised = EscalationRaised(
        run_id="run-5",
        seq=2,
        escalation_id="esc-1",
        kind="twin",
        question="Accept the plan?",
        options=["accept", "change", "reject"],
    )
    return started, raised


def escalation_output(policy: str) -> str:
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(EventBus("r").subscribe("console"), console, show_time=False)
    for event in escalation_events(policy):
        reporter.report(event)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_a_waiting_escalation_says_how_to_answer_it_from_another_shell() -> None:
    output = escalation_output("wait")
    assert "escalation esc-1: Accept the plan? [accept / change / reject]" in output
    assert "shopfloor answer esc-1 accept|change|reject --run run-5" in output
    assert "shopfloor attach run-5" in output
    assert "the plan: shopfloor status run-5 --plan" in output  # a question about the plan
    # The twin or a reject policy answers at once: no hint to answer it by hand.
    for policy in ("twin", "reject"):
        assert "shopfloor answer" not in escalation_output(policy)


def test_an_answer_is_said_with_its_reason() -> None:
    """``reject esc-1 --reason "…"`` from another shell: the console said "esc-1 → reject
    (by human:ana)" and the run then ended killed; why was only in ``status --json``."""
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(EventBus("r").subscribe("console"), console, show_time=False)
    for event in escalation_events("wait"):
        reporter.report(event)
    reporter.report(
        EscalationResolved(
            escalation_id="esc-1",
            decision="reject",
            decided_by="human:ana",
            note="the CLI must not print tracebacks\nsecond line",
        )
    )
    reporter.report(EscalationResolved(escalation_id="esc-2", decision="retry", decided_by="twin"))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert "escalation esc-1 → reject (by human:ana): the CLI must not print tracebacks" in lines
    assert "escalation esc-2 → retry (by twin)" in lines  # no note: nothing after it


def test_a_resumed_run_says_so_and_which_escalations_still_wait() -> None:
    """Resumed while its plan waited on a human: the run asks the open escalation again
    without raising it anew, so the console said nothing at all and sat silent."""
    console = Console(file=io.StringIO(), width=200)
    bus = EventBus("run-5")
    for event in escalation_events("wait"):
        bus.emit(event.model_copy(update={"run_id": "", "seq": 0}))
    reporter = ConsoleReporter(
        bus.subscribe("console"), console, show_time=False, resumed=bus.state
    )
    reporter.report(bus.emit(RunResumed(settings={"escalation_policy": "wait"})))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0] == "run run-5 resumed at stage intake (0/0 merged)"
    assert lines[1] == "escalation esc-1: Accept the plan? [accept / change / reject]"
    assert "shopfloor answer esc-1 accept|change|reject --run run-5" in lines[2]


def test_a_resumed_run_does_not_ask_again_what_was_answered_while_it_was_stopped() -> None:
    """``approve esc-1`` while the run was stopped, then ``resume``: the console asked
    "waiting for a human: shopfloor approve|reject|change esc-1 ..." and, the same second,
    logged the answer it took from the inbox."""
    console = Console(file=io.StringIO(), width=200)
    bus = EventBus("run-5")
    for event in escalation_events("wait"):
        bus.emit(event.model_copy(update={"run_id": "", "seq": 0}))
    reporter = ConsoleReporter(
        bus.subscribe("console"),
        console,
        show_time=False,
        resumed=bus.state,
        answered={"esc-1": "accept"},
    )
    reporter.report(bus.emit(RunResumed(settings={"escalation_policy": "wait"})))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[1:] == [
        "escalation esc-1: Accept the plan? [accept / change / reject]",
        "  answered while the run was stopped: accept",
    ]


def test_an_agents_escape_sequences_never_reach_the_terminal() -> None:
    """Headless runs under tmux or a journal: an agent printing ``ESC[2J`` or an OSC title
    cleared or renamed the pane. The lines keep their words, not the sequences."""
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(
        EventBus("r").subscribe("console"), console, verbose=True, show_time=False
    )
    reporter.report(
        AgentOutput(
            run_id="r", seq=1, agent_id="engineer:t1:a1", text="\x1b[2Jcleared\x1b]0;PWNED\x07 ok"
        )
    )
    reporter.report(
        EscalationRaised(
            run_id="r",
            seq=2,
            escalation_id="esc-1",
            kind="twin",
            question="Merge \x1b[31mthis\x1b[0m?",
            options=["accept", "reject"],
        )
    )
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b" not in output and "\x07" not in output
    assert "engineer:t1:a1 │ cleared ok" in output
    assert "Merge this?" in output


async def test_the_stages_decisions_are_said_with_their_scores() -> None:
    """Before, the console printed "stage critic", "stage review" and "stage qc" and nothing
    of what they decided: a log read in the morning could not say why the run went on, or
    that the second "blueprint:" line was the reviewers' revision."""
    bus = EventBus(sample_run.RUN_ID)
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(bus.subscribe("console"), console)
    task = asyncio.create_task(reporter.run())
    sample_run.start(bus)
    sample_run.front_stages(bus)
    bus.emit(BlueprintProposed(blueprint=sample_run.BLUEPRINT, revision=2, source="review"))
    bus.emit(QCScored(model="sim:", score=91, threshold=85))
    bus.emit(
        VerificationFinished(
            verifier_model="sim:",
            judge_model="sim:",
            broken=["greet('') prints 'Hello, !'\nwith a traceback", "a second break"],
            checklist={"tests": True, "docs": True, "edge cases": False},
            score=88,
            threshold=90,
            passed=False,
        )
    )
    bus.emit(QCScored(model="sim:", score=70, threshold=85))
    bus.emit(KillGateTripped(gate="min_critic_score", reason="critic 3.1/10 is below 5.0"))
    await bus.close()
    await asyncio.wait_for(task, timeout=5)
    body = [line[9:] for line in console.file.getvalue().splitlines()]  # type: ignore[attr-defined]
    assert (
        "critic 7.6/10 (value 8, clarity 7, feasibility 8, risk 7, fit 8); compliance risk low"
        in body
    )
    assert "✓ review round 1: 86, 72 — 1 of 2 at ≥ 80 (1 needed): quorum" in body
    assert "twin ACCEPT (confidence 0.62, below its threshold: asked)" in body
    assert "blueprint revision 2 (the reviewers' patches): 3 tasks (t1, t2, t3)" in body
    assert "✓ qc 91/100 (≥ 85 to go on)" in body and "✗ qc 70/100 (≥ 85 to go on)" in body
    assert (
        "✗ verification: judge 88/100 (≥ 90 to ship), 2/3 checks;"
        " the verifier broke 2: greet('') prints 'Hello, !' …"
    ) in body
    assert "✗ kill gate min_critic_score: critic 3.1/10 is below 5.0" in body


def review_round(bus: EventBus, round_no: int, scores: dict[str, int], *, patched: bool) -> None:
    """One review round in the order engine/planning.py emits it: the reviewers' scores, the
    blueprint their patches made (when they patched), then the round's result."""
    for reviewer, score in scores.items():
        bus.emit(ReviewScored(reviewer=reviewer, model="sim:", round=round_no, score=score))
    if patched:
        revision = bus.state.blueprint_revision + 1
        bus.emit(
            BlueprintProposed(blueprint=sample_run.BLUEPRINT, revision=revision, source="review")
        )
    passed = sum(score >= 95 for score in scores.values()) == len(scores)
    bus.emit(
        ReviewRoundFinished(round=round_no, scores=scores, threshold=95, quorum=3, passed=passed)
    )


@pytest.mark.parametrize("live", [False, True])
async def test_a_review_round_is_said_before_the_revision_it_led_to(live: bool) -> None:
    """Before, "blueprint revision 2 (the reviewers' patches)" came before "review round 1",
    the round whose patches made it (the engine announces the patched plan first)."""
    bus = EventBus(sample_run.RUN_ID)
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(bus.subscribe("console"), console, show_time=False, live=live)
    task = asyncio.create_task(reporter.run())
    sample_run.start(bus)
    bus.emit(StageChanged(stage=Stage.REVIEW))
    review_round(bus, 1, {"reviewer-1": 96, "reviewer-2": 88, "reviewer-3": 95}, patched=True)
    review_round(bus, 2, {"reviewer-1": 97, "reviewer-2": 90, "reviewer-3": 96}, patched=True)
    review_round(bus, 3, {"reviewer-1": 97, "reviewer-2": 96, "reviewer-3": 96}, patched=False)
    bus.emit(StageChanged(stage=Stage.TWIN))
    await bus.close()
    await asyncio.wait_for(task, timeout=5)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    said = [line.split(":")[0] for line in lines if "review round" in line or "revision" in line]
    assert said == [
        "✗ review round 1",
        "blueprint revision 2 (the reviewers' patches)",
        "✗ review round 2",
        "blueprint revision 3 (the reviewers' patches)",
        "✓ review round 3",
    ]
    assert lines[-1] == "stage twin"


async def test_a_revision_without_its_round_is_still_said() -> None:
    """A run stopped between the patched plan and the round's result: the revision is said
    when the feed ends, not lost."""
    bus = EventBus(sample_run.RUN_ID)
    console = Console(file=io.StringIO(), width=200)
    reporter = ConsoleReporter(bus.subscribe("console"), console, show_time=False, live=False)
    task = asyncio.create_task(reporter.run())
    sample_run.start(bus)
    bus.emit(BlueprintProposed(blueprint=sample_run.BLUEPRINT, revision=3, source="review"))
    await bus.close()
    await asyncio.wait_for(task, timeout=5)
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[-1].startswith("blueprint revision 3 (the reviewers' patches): 3 tasks")


@pytest.mark.parametrize("mode", ["update", "audit"])
def test_a_gate_says_what_it_checked(mode: str) -> None:
    """An update's baseline gates printed as "verify gate …" before its critic stage, and an
    audit's under "stage review": neither is the final verification."""
    console = Console(file=io.StringIO(), width=200)
    bus = EventBus("run-6")
    reporter = ConsoleReporter(bus.subscribe("console"), console, show_time=False)
    events = [
        RunStarted(
            request="Add a flag",
            repo="/r",
            mode=mode,  # type: ignore[arg-type]
            base_branch="main",
            base_commit="c0ffee",
            integration_branch="shopfloor/wip/run-6",
        ),
        GateFinished(gate="tests", scope="verify", passed=True, summary="3 passed"),
        StageChanged(stage=Stage.CRITIC if mode == "update" else Stage.REVIEW),
        GateFinished(gate="lint", scope="verify", passed=False, summary="1 error"),
        GateFinished(gate="tests", scope="task", task_id="t1", attempt=1, passed=True, summary="4"),
        GateFinished(gate="tests", scope="merge", task_id="t1", attempt=1, passed=True, summary=""),
        StageChanged(stage=Stage.VERIFY),
        GateFinished(gate="tests", scope="verify", passed=True, summary="4 passed"),
    ]
    for event in events:
        reporter.report(bus.emit(event))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    gates = [line[2:].partition(":")[0] for line in lines if line[:2] in ("✓ ", "✗ ")]
    first = "baseline" if mode == "update" else "audit"
    assert gates == [
        f"{first} gate tests",
        f"{first} gate lint",
        "gate tests t1#1",
        "merge gate tests t1#1",
        "verify gate tests" if mode == "update" else "audit gate tests",
    ]


def test_a_gate_whose_tool_failed_outright_says_it_once() -> None:
    """The console line read 'mypy failed (exit 2): X — mypy failed (exit 2): X'."""
    console = Console(file=io.StringIO(), width=400)
    bus = EventBus("run-7")
    reporter = ConsoleReporter(bus.subscribe("console"), console, show_time=False)
    stopped = "mypy failed (exit 2): noxfile.py: error: Cannot read file"
    for event in [
        GateFinished(
            gate="types", scope="verify", passed=False, summary=stopped, findings=[stopped]
        ),
        GateFinished(
            gate="lint", scope="verify", passed=False, summary="1 error", findings=["a.py:1: E1"]
        ),
    ]:
        reporter.report(bus.emit(event))
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    assert lines[0].endswith(f"types: {stopped}") and lines[0].count(stopped) == 1
    assert lines[1].endswith("lint: 1 error — a.py:1: E1")
