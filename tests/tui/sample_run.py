"""A deterministic three-task run, emitted straight onto an EventBus, for the TUI tests.

t1 merges first time; t2 (depends on t1) fails its tests gate on attempt 1 and merges on
attempt 2; t3 (depends on t1 and t2) merges. The phases can be emitted one by one so a test
can look at the screen in between.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetUpdated,
    CircuitBreakerTripped,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    LLMCallFinished,
    Merged,
    MergeQueued,
    Outcome,
    ReviewRoundFinished,
    ReviewScored,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskReviewed,
    TaskState,
    TaskStateChanged,
    TwinDecided,
)

RUN_ID = "r-20260101-demo"
REQUEST = "Add a greeting command to the hello CLI"
BRANCH = "shopfloor/r-20260101-demo"

BLUEPRINT = Blueprint(
    spec="A `hello greet NAME` command that prints a greeting.",
    acceptance_criteria=["`hello greet Ada` prints `Hello, Ada!`"],
    tasks=[
        Task(id="t1", title="Greeting module with tests", files=["hello/greet.py"]),
        Task(id="t2", title="CLI entry point", depends_on=["t1"], files=["hello/cli.py"]),
        Task(id="t3", title="Document usage in README", depends_on=["t1", "t2"]),
    ],
)


def engineer_id(task_id: str, attempt: int) -> str:
    return f"engineer:{task_id}:a{attempt}"


def start(bus: EventBus, *, simulated: bool = True) -> None:
    """Run started, blueprint proposed, build stage entered."""
    bus.emit(
        RunStarted(
            request=REQUEST,
            repo="/srv/repos/hello",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch=BRANCH,
            models={"planner": "sim:", "engineer": "sim:"} if simulated else {},
            simulated=simulated,
        )
    )
    bus.emit(StageChanged(stage=Stage.BLUEPRINT))
    bus.emit(BlueprintProposed(blueprint=BLUEPRINT))
    bus.emit(StageChanged(stage=Stage.BUILD))


def attempt(
    bus: EventBus,
    task_id: str,
    n: int,
    lines: list[str],
    *,
    passes: bool,
    simulated: bool = True,
) -> None:
    """One engineer attempt at ``task_id``: running, agent output, gates; merged if it passes."""
    agent = engineer_id(task_id, n)
    bus.emit(TaskStateChanged(task_id=task_id, state=TaskState.RUNNING, attempt=n))
    bus.emit(
        AgentStarted(
            agent_id=agent,
            role="engineer",
            model="sim:" if simulated else "anthropic:claude-sonnet-4-5",
            simulated=simulated,
            task_id=task_id,
            attempt=n,
        )
    )
    for line in lines:
        bus.emit(AgentOutput(agent_id=agent, text=line))
    bus.emit(
        LLMCallFinished(
            agent_id=agent,
            role="engineer",
            provider="sim",
            model="sim:",
            simulated=simulated,
            input_tokens=1200,
            output_tokens=300,
            cost_usd=0.0,
        )
    )
    bus.emit(AgentFinished(agent_id=agent, ok=True, summary="done"))
    bus.emit(TaskStateChanged(task_id=task_id, state=TaskState.GATES, attempt=n))
    bus.emit(
        GateFinished(
            gate="tests",
            scope="task",
            task_id=task_id,
            attempt=n,
            passed=passes,
            summary="4 passed" if passes else "1 failed, 3 passed",
            output_tail="" if passes else "FAILED tests/test_cli.py::test_greet - exit 2\n",
        )
    )
    if passes:
        bus.emit(TaskStateChanged(task_id=task_id, state=TaskState.MERGING, attempt=n))
        bus.emit(MergeQueued(task_id=task_id, attempt=n))
        bus.emit(Merged(task_id=task_id, attempt=n, commit=f"{task_id}{n}".ljust(40, "f")))
        bus.emit(TaskStateChanged(task_id=task_id, state=TaskState.MERGED, attempt=n))


T1_LINES = ["writing tests/test_greet.py", "writing hello/greet.py", "all tests pass"]
T2_FIRST_LINES = ["writing hello/cli.py", "forgot to register the command"]
T2_SECOND_LINES = ["registering the greet command", "tests pass now"]
T3_LINES = ["updating README.md"]


def build(bus: EventBus, *, simulated: bool = True) -> None:
    """All three tasks, t2 needing a second attempt."""
    attempt(bus, "t1", 1, T1_LINES, passes=True, simulated=simulated)
    attempt(bus, "t2", 1, T2_FIRST_LINES, passes=False, simulated=simulated)
    attempt(bus, "t2", 2, T2_SECOND_LINES, passes=True, simulated=simulated)
    attempt(bus, "t3", 1, T3_LINES, passes=True, simulated=simulated)


def finish(bus: EventBus) -> None:
    """Verify, ship, run finished."""
    bus.emit(StageChanged(stage=Stage.VERIFY))
    bus.emit(StageChanged(stage=Stage.SHIP))
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch=BRANCH, commit="c" * 40))


def whole_run(bus: EventBus, *, simulated: bool = True) -> None:
    """Every phase, in order."""
    start(bus, simulated=simulated)
    build(bus, simulated=simulated)
    finish(bus)


def recorded(*phases: Callable[[EventBus], None]) -> list[EventBase]:
    """What ``phases`` (the whole run when none are named) emit in turn, as a replay or a
    stored log reads it."""
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    for phase in phases or (whole_run,):
        phase(bus)
    return events


ESCALATION_ID = "esc-1"
DIFF = """diff --git a/hello/cli.py b/hello/cli.py
--- a/hello/cli.py
+++ b/hello/cli.py
@@ -1,3 +1,6 @@
 import sys
+from hello.greet import greet
+
+COMMANDS = {"greet": greet}
-def main(): pass
+def main(): print(COMMANDS[sys.argv[1]](sys.argv[2]))"""
ESCALATION_CONTEXT = (
    DIFF + "\n\nFAILED tests/test_cli.py::test_greet - AssertionError: 'Hello, Ada!' != ''\n"
)


def front_stages(bus: EventBus) -> None:
    """Critic, two review rounds, the twin: the scores the gauges show."""
    bus.emit(StageChanged(stage=Stage.CRITIC))
    bus.emit(
        CriticScored(
            model="sim:",
            scores={"value": 8, "clarity": 7, "feasibility": 8, "risk": 7, "fit": 8},
            total=7.6,
        )
    )
    bus.emit(StageChanged(stage=Stage.REVIEW))
    for reviewer, score in (("reviewer-1", 86), ("reviewer-2", 72)):
        bus.emit(ReviewScored(reviewer=reviewer, model="sim:", round=1, score=score))
    bus.emit(
        ReviewRoundFinished(
            round=1,
            scores={"reviewer-1": 86, "reviewer-2": 72},
            threshold=80,
            quorum=1,
            passed=True,
        )
    )
    bus.emit(StageChanged(stage=Stage.TWIN))
    bus.emit(TwinDecided(decision="ACCEPT", confidence=0.62, escalated=True))


def escalate(bus: EventBus, escalation_id: str = ESCALATION_ID, task_id: str = "t2") -> None:
    """The circuit breaker trips on t2 and asks a human."""
    bus.emit(CircuitBreakerTripped(task_id=task_id, attempt=2, signature="AssertionError@cli.py"))
    bus.emit(
        EscalationRaised(
            escalation_id=escalation_id,
            kind="circuit_breaker",
            question=f"Task {task_id} failed twice the same way. Retry with a note, or stop?",
            options=["approve", "reject", "change"],
            default="reject",
            task_id=task_id,
            context=ESCALATION_CONTEXT,
        )
    )


def resolve(bus: EventBus, decided_by: str, escalation_id: str = ESCALATION_ID) -> None:
    bus.emit(
        EscalationResolved(escalation_id=escalation_id, decision="approve", decided_by=decided_by)
    )


def full_pipeline(bus: EventBus) -> None:
    """A run through every stage with scores, a budget, reviews and an open escalation."""
    start(bus)
    front_stages(bus)
    bus.emit(StageChanged(stage=Stage.BUILD))
    attempt(bus, "t1", 1, T1_LINES, passes=True)
    bus.emit(
        TaskReviewed(
            task_id="t1",
            attempt=1,
            model="sim:",
            approved=True,
            score=91,
            notes="tests cover the edge cases",
        )
    )
    attempt(bus, "t2", 1, [*T2_FIRST_LINES, DIFF], passes=False)
    bus.emit(BudgetUpdated(tokens=4500, cost_usd=0.42, max_tokens=20000, max_cost_usd=2.0))
    escalate(bus)
