"""A deterministic run for the telemetry tests, emitted onto an EventBus with known numbers.

Two tasks: ``a`` merges on attempt 1; ``b`` fails its tests gate on attempt 1 and merges on
attempt 2. Two LLM calls on anthropic (one planner, one engineer) with costs and cache tokens;
one escalation decided by a human; an agent that echoes ``secret`` in its output.
"""

from __future__ import annotations

from engine.blueprint import Blueprint, Task
from engine.bus import EventBus
from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetUpdated,
    EscalationRaised,
    EscalationResolved,
    GateFinished,
    LLMCallFinished,
    Merged,
    MergeQueued,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)

RUN_ID = "run-telemetry-1"
BLUEPRINT = Blueprint(
    spec="two tasks",
    acceptance_criteria=["works"],
    tasks=[Task(id="a", title="first"), Task(id="b", title="second", depends_on=["a"])],
)


def attempt(bus: EventBus, task: str, n: int, *, passes: bool, echo: str = "") -> None:
    agent = f"engineer:{task}:a{n}"
    bus.emit(TaskStateChanged(task_id=task, state=TaskState.RUNNING, attempt=n))
    bus.emit(
        AgentStarted(
            agent_id=agent,
            role="engineer",
            model="anthropic:claude-sonnet-4-5",
            task_id=task,
            attempt=n,
        )
    )
    bus.emit(AgentOutput(agent_id=agent, text=f"writing {task}.py {echo}".strip()))
    bus.emit(
        LLMCallFinished(
            agent_id=agent,
            role="engineer",
            provider="anthropic",
            model="claude-sonnet-4-5",
            input_tokens=1000,
            output_tokens=200,
            cache_read_tokens=50,
            cache_write_tokens=10,
            latency_s=1.5,
            cost_usd=0.01,
        )
    )
    bus.emit(AgentFinished(agent_id=agent, ok=True, summary="done"))
    bus.emit(TaskStateChanged(task_id=task, state=TaskState.GATES, attempt=n))
    bus.emit(
        GateFinished(
            gate="tests",
            scope="task",
            task_id=task,
            attempt=n,
            passed=passes,
            summary="3 passed" if passes else "1 failed",
            duration_s=0.4,
        )
    )
    if passes:
        bus.emit(TaskStateChanged(task_id=task, state=TaskState.MERGING, attempt=n))
        bus.emit(MergeQueued(task_id=task, attempt=n))
        bus.emit(
            GateFinished(
                gate="tests",
                scope="merge",
                task_id=task,
                attempt=n,
                passed=True,
                summary="3 passed",
                duration_s=0.3,
                cached=task == "b",
            )
        )
        bus.emit(Merged(task_id=task, attempt=n, commit=task * 40))
        bus.emit(TaskStateChanged(task_id=task, state=TaskState.MERGED, attempt=n))


def start(bus: EventBus, *, request: str = "build two things") -> None:
    bus.emit(
        RunStarted(
            request=request,
            repo="/srv/repo",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/int",
        )
    )
    bus.emit(StageChanged(stage=Stage.BLUEPRINT))
    bus.emit(AgentStarted(agent_id="planner", role="planner", model="anthropic:claude-opus"))
    bus.emit(
        LLMCallFinished(
            agent_id="planner",
            role="planner",
            provider="anthropic",
            model="claude-opus",
            input_tokens=500,
            output_tokens=700,
            latency_s=3.0,
            cost_usd=0.05,
        )
    )
    bus.emit(AgentFinished(agent_id="planner", ok=True))
    bus.emit(BlueprintProposed(blueprint=BLUEPRINT))
    bus.emit(StageChanged(stage=Stage.BUILD))


def whole_run(bus: EventBus, *, echo: str = "", request: str = "build two things") -> None:
    """Every phase in order; ``echo`` is appended to an engineer's output line."""
    start(bus, request=request)
    attempt(bus, "a", 1, passes=True, echo=echo)
    bus.emit(
        EscalationRaised(
            escalation_id="esc-1",
            kind="circuit_breaker",
            question="retry b?",
            options=["retry", "skip", "abort"],
            task_id="b",
        )
    )
    bus.emit(EscalationResolved(escalation_id="esc-1", decision="retry", decided_by="human:ana"))
    attempt(bus, "b", 1, passes=False)
    attempt(bus, "b", 2, passes=True)
    bus.emit(
        BudgetUpdated(
            tokens=4250,
            cost_usd=0.08,
            max_tokens=10000,
            max_cost_usd=0.16,
            duration_s=1800,
            max_duration_s=7200,
        )
    )
    bus.emit(StageChanged(stage=Stage.VERIFY))
    bus.emit(
        GateFinished(gate="tests", scope="verify", passed=True, summary="6 passed", duration_s=1)
    )
    bus.emit(StageChanged(stage=Stage.SHIP))
    bus.emit(RunFinished(outcome=Outcome.SHIPPED, branch="shopfloor/done", commit="c" * 40))
