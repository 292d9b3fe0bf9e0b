"""A run stopped on its budget stays resumable, and goes on with the budget raised by hand.

An overnight run crosses its cost budget; the budget's question ("raise / stop") is answered
stop (here by the ``reject`` policy, as the escalation timeout or ``shopfloor reject`` from
another shell would). The run stops as Ctrl-C stops it — no RunFinished, its merged tasks
kept — and its owner resumes it in the morning with a higher limit
(``shopfloor resume RUN --max-cost 5``: :class:`BudgetLimits`). A resume that raises nothing
is refused before anything is logged. And a task paused on a question about its own budget
gives its provider slot back, so under a provider limit the other tasks go on meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from demo_process import ROOT, cli
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, FakeEngineer, FakePlanner, blueprint

from engine.blueprint import Task
from engine.budget import BudgetStop, BudgetTracker
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import (
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetLimitsSet,
    BudgetUpdated,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    LLMCallFinished,
    Merged,
    Outcome,
    RunFinished,
    TaskState,
    TaskStateChanged,
)
from engine.protocols import EmitFn, EngineerJob, EngineerReport
from engine.resume import plan_resume
from engine.spend import BudgetLimits, still_crossed
from engine.state import RunState


@dataclass
class SpendingEngineer(FakeEngineer):
    """A FakeEngineer whose attempts make ``calls`` model calls of ``cost`` dollars each,
    asking ``job.admit`` before each call after the first, as the real engineer does."""

    cost: dict[str, float] = field(default_factory=dict)
    calls: int = 2
    family: str = "fake"

    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport:
        agent = f"engineer:{job.task.id}:a{job.attempt}"
        emit(AgentStarted(agent_id=agent, role="engineer", model="fake", task_id=job.task.id))
        for turn in range(self.calls):
            if turn and job.admit is not None:
                await job.admit()
            emit(
                LLMCallFinished(
                    agent_id=agent,
                    role="engineer",
                    provider="fake",
                    model="fake",
                    input_tokens=100,
                    output_tokens=10,
                    cost_usd=self.cost.get(job.task.id, 0.4),
                )
            )
            await asyncio.sleep(0.01)  # the BudgetUpdated it causes comes on the next turn
        return await super().work(job, emit)


def spending() -> SpendingEngineer:
    return SpendingEngineer(dict(SCRIPTS))


STOP_ON_BUDGET = EngineConfig(workers=2, max_cost_usd=1.0, escalation_policy="reject")
"""core spends $0.80 and merges; cli's first call crosses $1.00 and its second is refused."""


async def stopped_on_budget(repo, root) -> list[EventBase]:
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(repo, root, bus, engineer=spending(), config=STOP_ON_BUDGET)
    state = await asyncio.wait_for(factory.run(), 30)
    assert state.outcome is Outcome.RUNNING, state.reason
    return events


async def resume(repo, root, log: list[EventBase], **kw: object):
    bus = EventBus(RUN_ID, state=RunState.fold(log))
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(repo, root, bus, config=STOP_ON_BUDGET, **kw)
    return await asyncio.wait_for(factory.run(), 30), events


async def test_a_budget_stop_keeps_the_run_resumable_and_a_raised_budget_finishes_it(
    user_repo, worktree_root
):
    """Before, the stop ended the run failed ("budget exceeded"): it could not be resumed,
    and the merged work was stranded on the integration branch."""
    log = await stopped_on_budget(user_repo, worktree_root)
    state = RunState.fold(log)
    assert not any(isinstance(e, RunFinished) for e in log)
    assert state.merged == ["core"]
    [esc] = state.escalations.values()
    assert (esc.kind, esc.decision) == ("budget", "stop")
    assert "stays resumable" in esc.question
    [notice] = [e for e in log if isinstance(e, AgentOutput) and e.agent_id == "budget"]
    assert notice.kind == "notice"
    assert notice.text.startswith("the run stops: budget exceeded: the run spent")
    assert "stays resumable, with a higher budget" in notice.text

    # Resumed as it is, it would only ask again (or stop again): refused, nothing logged.
    with pytest.raises(BudgetStop, match=r"is over its cost budget \(.*\$1\.20 of \$1\.00"):
        await resume(user_repo, worktree_root, log, engineer=spending())
    crossed = still_crossed(state, STOP_ON_BUDGET)
    assert crossed is not None and crossed.raised == BudgetLimits(max_cost_usd=2.0)
    # Nor is a limit set lower than the spend.
    with pytest.raises(BudgetStop):
        await resume(user_repo, worktree_root, log, budget_limits=BudgetLimits(max_cost_usd=1.1))

    engineer = spending()
    final, later = await resume(
        user_repo,
        worktree_root,
        log,
        engineer=engineer,
        budget_limits=BudgetLimits(max_cost_usd=5.0),
    )
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert [j.task.id for j in engineer.jobs] == ["cli"]  # core was not built again
    assert [e.task_id for e in [*log, *later] if isinstance(e, Merged)] == ["core", "cli"]
    [limits] = [e for e in later if isinstance(e, BudgetLimitsSet)]
    assert (limits.max_cost_usd, limits.max_tokens, limits.task_max_cost_usd) == (5.0, None, None)
    budget = final.to_status()["budget"]
    assert budget.pop("duration_s") > 0  # the time its processes drove it
    assert budget == {
        "max_tokens": None,
        "max_cost_usd": 5.0,
        "max_duration_s": None,
        "exceeded": None,
        "task_max_tokens": None,
        "task_max_cost_usd": None,
    }


async def test_limits_set_on_a_resume_replace_raised_ones_and_hold_at_the_next_resume():
    """Set by hand, a limit is what the owner said, lower than a raise too; a later resume
    keeps it over the config file's, and over nothing raised since."""
    plan = blueprint(Task(id="core", title="Core"))
    state = RunState.fold(
        [
            BlueprintProposed(run_id="r", seq=1, blueprint=plan),
            BudgetUpdated(run_id="r", seq=2, scope="run", tokens=0, cost_usd=3.0, max_cost_usd=20),
        ]
    )
    bus = EventBus("r", state)
    config = EngineConfig(max_cost_usd=5.0, task_max_cost_usd=1.0)
    tracker = BudgetTracker(bus, config, EscalationBroker(bus, policy="wait"))
    assert tracker.run.max_cost_usd == 20  # raised before: kept over the config's
    tracker.set_limits(BudgetLimits(max_cost_usd=8.0, task_max_cost_usd=2.0))
    assert (tracker.run.max_cost_usd, tracker.tasks["core"].max_cost_usd) == (8.0, 2.0)
    assert bus.state.budget is not None and bus.state.budget.max_cost_usd == 8.0
    assert bus.state.tasks["core"].budget is not None
    # The next resume, its config file edited meanwhile: the limits set by hand hold.
    later = BudgetTracker(bus, EngineConfig(max_cost_usd=50.0), EscalationBroker(bus))
    assert (later.run.max_cost_usd, later._task("new").max_cost_usd) == (8.0, 2.0)


async def test_a_task_paused_on_its_own_budget_lets_the_other_tasks_use_the_provider(
    user_repo, worktree_root
):
    """Before, the paused attempt held the engineer's one provider slot, and the scheduler
    ran no more tasks than that limit: every other task stalled behind the question."""
    plan = blueprint(
        Task(id="core", title="Core", files=["core.txt"]),
        Task(id="cli", title="CLI", files=["cli.txt"]),
    )
    config = EngineConfig(workers=2, provider_limits={"fake": 1}, task_max_cost_usd=0.5)
    engineer = SpendingEngineer(dict(SCRIPTS), cost={"core": 0.6, "cli": 0.1})
    bus = EventBus(RUN_ID)
    factory = make_factory(
        user_repo,
        worktree_root,
        bus,
        planner=FakePlanner(plan),
        engineer=engineer,
        engineer_family="fake",
        config=config,
    )
    run = asyncio.create_task(factory.run())
    try:
        async with asyncio.timeout(20):
            while not bus.state.open_escalations:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            [esc] = bus.state.open_escalations
            assert (esc.kind, esc.task_id) == ("budget", "core")
            while "cli" not in bus.state.merged:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        assert bus.state.open_escalations == [esc]  # cli merged while core's question waited
        factory.broker.decide(esc.escalation_id, "stop", "human:test")
        state = await asyncio.wait_for(run, 20)
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    assert state.tasks["core"].state.value == "failed"  # a task's stop fails that task alone
    assert state.merged == ["cli"]


async def test_a_task_stopped_at_its_own_budget_leaves_the_run_resumable(user_repo, worktree_root):
    """Before, the task's stop failed the task and the run ended failed at the build ("task(s)
    failed after all attempts"): no resume with a higher task budget could build it. Now a
    run whose only failures are such stops stops resumable, and a resume with the task
    budget raised builds the stopped task alone and ships."""
    plan = blueprint(
        Task(id="core", title="Core", files=["core.txt"]),
        Task(id="cli", title="CLI", files=["cli.txt"]),
    )
    config = EngineConfig(workers=2, task_max_cost_usd=0.5, escalation_policy="reject")
    bus = EventBus(RUN_ID)
    log: list[EventBase] = []
    bus.listen(log.append)
    engineer = SpendingEngineer(dict(SCRIPTS), cost={"core": 0.6, "cli": 0.1})
    factory = make_factory(
        user_repo, worktree_root, bus, planner=FakePlanner(plan), engineer=engineer, config=config
    )
    state = await asyncio.wait_for(factory.run(), 30)
    assert state.outcome is Outcome.RUNNING, state.reason
    assert not any(isinstance(e, RunFinished) for e in log)
    assert state.merged == ["cli"] and state.tasks["core"].state.value == "failed"
    [notice] = [e for e in log if isinstance(e, AgentOutput) and e.agent_id == "budget"]
    assert "task(s) stopped at their budget: core" in notice.text
    crossed = still_crossed(state, config)
    assert crossed is not None and crossed.raised.task_max_cost_usd is not None

    resumed_bus = EventBus(RUN_ID, state=RunState.fold(log))
    later: list[EventBase] = []
    resumed_bus.listen(later.append)
    again = SpendingEngineer(dict(SCRIPTS), cost={"core": 0.6, "cli": 0.1})
    factory = make_factory(
        user_repo,
        worktree_root,
        resumed_bus,
        planner=FakePlanner(plan),
        engineer=again,
        config=config,
        budget_limits=BudgetLimits(task_max_cost_usd=5.0),
    )
    final = await asyncio.wait_for(factory.run(), 30)
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert [j.task.id for j in again.jobs] == ["core"]  # cli was not built again
    assert [j.attempt for j in again.jobs] == [1]  # its cut-short attempt again, not a failure
    assert [e.task_id for e in [*log, *later] if isinstance(e, Merged)] == ["cli", "core"]


def test_a_demo_stopped_overnight_on_its_token_budget_is_resumed_with_more_and_ships(
    tmp_path: Path, share_gate_cache: Callable[[Path], None]
):
    """The story end to end, with real ``shopfloor`` processes: the budget's question times
    out overnight and its "stop" applies; ``runs`` lists the run stopped; ``resume`` without
    a higher budget is refused in one line naming the command; with one, the run ships, each
    task merged once. Before, the run ended failed and ``resume`` said it had finished."""
    home = tmp_path / "home"
    share_gate_cache(home)
    example = ROOT / "examples" / "inventory"
    config = tmp_path / "shopfloor.toml"
    shutil.copy(example / "owner.toml", tmp_path / "owner.toml")
    text = (example / "shopfloor.toml").read_text()
    config.write_text(text.replace("[engine]\n", "[engine]\nmax_tokens = 60000\n", 1))
    demo = cli(
        home,
        *("demo", "--headless", "--speed", "50", "--out", str(tmp_path / "repo")),
        *("--config", str(config), "--escalations", "twin", "--escalation-timeout", "1"),
    )
    assert demo.returncode == 130, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "budget: the run stops: budget exceeded: the run spent" in demo.stdout
    [run_id] = [r["run_id"] for r in json.loads(cli(home, "runs", "--json").stdout)]
    assert f"{run_id}  stopped SIM" in cli(home, "runs", "--outcome", "stopped").stdout
    command = f"`shopfloor resume {run_id} --max-tokens "
    assert command in demo.stdout
    before = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert before["budget"]["exceeded"] == "tokens" and before["merged"]

    refused = cli(home, "resume", run_id)
    assert refused.returncode == 2
    [line] = refused.stderr.splitlines()
    assert line.startswith(f"shopfloor: run {run_id} is over its tokens budget (")
    assert command in line

    resumed = cli(home, "resume", run_id, "--max-tokens", "5000000")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "budget set by hand: run 5000000 tokens" in resumed.stdout
    status = json.loads(cli(home, "status", run_id, "--json").stdout)
    assert status["outcome"] == "shipped", status["reason"]
    assert status["budget"]["max_tokens"] == 5000000
    tasks = [t["id"] for t in status["tasks"]]
    assert sorted(status["merged"]) == sorted(tasks)  # each task merged exactly once
    assert status["merged"][: len(before["merged"])] == before["merged"]


def test_a_task_failed_on_its_work_before_a_stop_is_resumed_at_its_next_attempt():
    """A run stopped on its budget after a task had failed its attempts: the resume built that
    task again from attempt 1, with no word of why it failed, and its agents took the failed
    attempts' ids (engineer:t:a1 twice in the log). It goes on from the next attempt, after
    that failure; a task stopped at its own budget redoes the attempt the stop cut short."""
    plan = blueprint(Task(id="core", title="Core"), Task(id="cli", title="CLI"))
    events: list[EventBase] = [
        BlueprintProposed(blueprint=plan),
        TaskStateChanged(task_id="core", state=TaskState.RUNNING, attempt=1),
        GateFinished(
            gate="tests",
            scope="task",
            task_id="core",
            attempt=1,
            passed=False,
            summary="1 failed",
            findings=["test_core.py:3: expected 2"],
        ),
        TaskStateChanged(
            task_id="core",
            state=TaskState.FAILED,
            attempt=1,
            reason="out of attempts: Gate 'tests' failed: 1 failed",
        ),
        TaskStateChanged(task_id="cli", state=TaskState.RUNNING, attempt=1),
        EscalationRaised(
            escalation_id="esc-1",
            kind="budget",
            task_id="cli",
            question="task cli crossed its cost budget",
            options=["raise", "stop"],
        ),
        EscalationResolved(escalation_id="esc-1", decision="stop", decided_by="timeout"),
        TaskStateChanged(
            task_id="cli",
            state=TaskState.FAILED,
            attempt=1,
            reason="budget exceeded: task cli spent $0.60",
        ),
    ]
    state = RunState.fold(
        [e.model_copy(update={"run_id": RUN_ID, "seq": n}) for n, e in enumerate(events, 1)]
    )
    restarts = plan_resume(state, {}).restarts
    assert restarts["cli"] == (1, "")
    attempt, context = restarts["core"]
    assert attempt == 2
    assert "Gate 'tests' failed: 1 failed" in context and "expected 2" in context
