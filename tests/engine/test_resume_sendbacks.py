"""Resuming a run stopped while the planner redrew a plan that was sent back to it.

The twin's CHANGE, or a person's "change"/"revise" with a typed note, sends the plan back
with notes; the planner is redrawing when the process dies. The notes are in the log (the
twin's verdict, the escalation's context and answer): the resumed planner gets the very
notes the stopped one had, the critic is not run again, and the send-back is counted once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from test_full_pipeline import PLAN, FakeReviewer, run
from test_pipeline import FakePlanner
from test_resume_planning import (
    ACCEPT,
    PANEL_SPLIT,
    CountingCritic,
    Inbox,
    ScriptedTwin,
    crash_when,
    resume,
    split_panel,
)

from engine.blueprint import Blueprint
from engine.config import EngineConfig
from engine.events import BlueprintProposed, EscalationRaised, Outcome, Stage
from engine.protocols import EmitFn, ExternalDecision, PlanRequest
from engine.roles import TwinVerdict
from engine.state import RunState


@dataclass
class StallingPlanner(FakePlanner):
    """Draws ``blueprint`` once; its second plan never comes, as a model call a crash cuts
    short."""

    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        self.requests.append(request)
        if len(self.requests) > 1:
            await asyncio.Event().wait()
        assert self.blueprint is not None
        return self.blueprint


def redrawing(planner: StallingPlanner):
    return lambda state: len(planner.requests) == 2 and state.stage is Stage.BLUEPRINT


async def test_a_run_stopped_while_redrawing_for_the_twin_keeps_its_notes_and_count(
    user_repo, worktree_root
):
    config = EngineConfig(workers=2, twin_change_rounds=1, escalation_policy="reject")
    change = TwinVerdict(decision="CHANGE", confidence=0.9, notes="split the CLI")
    stopped = StallingPlanner(PLAN)
    log = await crash_when(
        user_repo,
        worktree_root,
        redrawing(stopped),
        critic=CountingCritic(),
        planner=stopped,
        twin=ScriptedTwin([change]),
        config=config,
    )
    critic, planner = CountingCritic(), FakePlanner(PLAN)

    resumed = await resume(
        user_repo,
        worktree_root,
        log,
        critic=critic,
        planner=planner,
        twin=ScriptedTwin([change]),
        config=config,
    )

    # The plan is redrawn once, with the notes the stopped planner was given.
    (request,) = planner.requests
    assert request.notes == stopped.requests[1].notes == "split the CLI"
    assert critic.calls == 0
    assert [(e.revision, e.source) for e in resumed.of(BlueprintProposed)] == [(2, "twin")]
    # That send-back was the one twin_change_rounds allows: the next CHANGE goes to a person.
    assert resumed.state.twin_sendbacks == 1
    (asked,) = resumed.of(EscalationRaised)
    assert asked.kind == "twin" and "it asked for changes 2 times" in asked.question
    assert resumed.state.outcome is Outcome.KILLED


async def test_a_persons_change_note_reaches_the_plan_drawn_after_the_resume(
    user_repo, worktree_root
):
    unsure = TwinVerdict(decision="CHANGE", confidence=0.3, notes="keep the greetings")
    note = "use SQLite, not JSON files"
    stopped = StallingPlanner(PLAN)
    log = await crash_when(
        user_repo,
        worktree_root,
        redrawing(stopped),
        planner=stopped,
        twin=ScriptedTwin([unsure]),
        decisions=Inbox(ExternalDecision("esc-1", "change", "human:ann", note)),
        config=EngineConfig(workers=2, escalation_policy="wait"),
    )
    assert RunState.fold(log).escalations["esc-1"].note == note
    planner, twin = FakePlanner(PLAN), ScriptedTwin([ACCEPT])

    resumed = await resume(
        user_repo,
        worktree_root,
        log,
        planner=planner,
        twin=twin,
        decisions=Inbox(),
        config=EngineConfig(workers=2, escalation_policy="wait"),
    )

    assert resumed.state.outcome is Outcome.SHIPPED, resumed.state.reason
    (request,) = planner.requests
    assert request.notes == stopped.requests[1].notes == f"keep the greetings\n{note}"
    assert [(e.revision, e.source) for e in resumed.of(BlueprintProposed)] == [(2, "human")]
    assert resumed.of(EscalationRaised) == []
    assert resumed.state.twin_sendbacks == 0  # a person's send-back is not the twin's
    assert len(twin.seen) == 1


async def test_a_panels_revise_answer_reaches_the_plan_drawn_after_the_resume(
    user_repo, worktree_root
):
    stopped = StallingPlanner(PLAN)
    log = await crash_when(
        user_repo,
        worktree_root,
        redrawing(stopped),
        planner=stopped,
        reviewers=split_panel(),
        decisions=Inbox(ExternalDecision("esc-1", "revise", "human:ann", "name the CLI module")),
        config=PANEL_SPLIT,
    )
    planner = FakePlanner(PLAN)
    panel = [FakeReviewer("r1", [95]), FakeReviewer("r2", [95])]

    resumed = await resume(
        user_repo,
        worktree_root,
        log,
        planner=planner,
        reviewers=panel,
        decisions=Inbox(),
        config=PANEL_SPLIT,
    )

    assert resumed.state.outcome is Outcome.SHIPPED, resumed.state.reason
    (request,) = planner.requests
    assert request.notes == stopped.requests[1].notes
    assert request.notes == "- r1 r1\n- r2 r1\nname the CLI module"
    assert [(e.revision, e.source) for e in resumed.of(BlueprintProposed)] == [(2, "human")]


async def test_a_persons_reject_reason_is_in_the_runs_reason(user_repo, worktree_root):
    """Before, the reason said only who rejected ("... at the twin gate (human:ann)"): the
    why a person gave with ``reject --reason`` was kept in the escalation's note alone, and
    ``status`` and ``runs`` show the run's reason."""
    unsure = TwinVerdict(decision="ACCEPT", confidence=0.3)
    why = "we buy this, we do not build it\n(the second line stays in the note)"
    result = await run(
        user_repo,
        worktree_root,
        twin=ScriptedTwin([unsure]),
        decisions=Inbox(ExternalDecision("esc-1", "reject", "human:ann", why)),
        config=EngineConfig(workers=2, escalation_policy="wait"),
    )
    assert result.state.outcome is Outcome.KILLED
    assert result.state.reason == (
        "the plan was rejected at the twin gate (human:ann): we buy this, we do not build it"
    )
