"""Resuming a run stopped among the review panel's rounds.

The log holds the plan as the panel's patches left it and the rounds finished on it: the
resumed run goes on with the next round on that plan, without the critic, the planner or
the rounds already held; an escalation after the last round quotes every round's findings.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from test_full_pipeline import PLAN, FakeReviewer
from test_pipeline import FakePlanner
from test_resume_planning import ACCEPT, CountingCritic, ScriptedTwin, crash_when, resume

from engine.blueprint import Blueprint
from engine.config import EngineConfig
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    Outcome,
    ReviewRoundFinished,
    ReviewScored,
    Stage,
)
from engine.protocols import EmitFn
from engine.roles import BlueprintPatch, ReviewReport
from engine.state import RunState


@dataclass
class RoundReviewer(FakeReviewer):
    """Says what it is told, noting each round and plan it was asked about; from round
    ``stall_from`` on it never answers, as a model call a crash cuts short."""

    stall_from: int | None = None
    asked: list[tuple[int, Blueprint]] = field(default_factory=list)

    async def review(self, request: str, bp: Blueprint, round: int, emit: EmitFn) -> ReviewReport:
        self.asked.append((round, bp))
        if self.stall_from is not None and round >= self.stall_from:
            await asyncio.Event().wait()
        return await super().review(request, bp, round, emit)


THREE_ROUNDS = EngineConfig(workers=2, review_rounds=3, escalation_policy="reject")
RENAME = BlueprintPatch(search='"title": "CLI"', replace='"title": "Command line"')
ASTRAY = BlueprintPatch(search='"title": "Nowhere"', replace='"title": "Somewhere"')


def in_round_two(state: RunState) -> bool:
    return state.stage is Stage.REVIEW and state.scores.review_round == 1


async def stopped_in_round_two(repo, root) -> list:
    """A run whose panel patched the plan in round 1 (one patch applied, one refused) and
    was stopped while it reviewed round 2."""
    panel = [
        RoundReviewer("r1", [70], patches=[RENAME], stall_from=2),
        RoundReviewer("r2", [60], patches=[ASTRAY], stall_from=2),
    ]

    def both_asked_round_two(state: RunState) -> bool:
        # Round 1's end is logged before the patched plan is, and before round 2 is asked:
        # stopped on the log alone, a loaded machine cut the run in between (seen once in a
        # clean clone: both reviewers last asked round 1).
        return in_round_two(state) and all(r.asked and r.asked[-1][0] == 2 for r in panel)

    log = await crash_when(
        repo,
        root,
        both_asked_round_two,
        critic=CountingCritic(),
        reviewers=panel,
        config=THREE_ROUNDS,
    )
    assert [r.asked[-1][0] for r in panel] == [2, 2]
    return log


async def test_a_run_stopped_in_round_two_goes_on_with_round_two_on_the_patched_plan(
    user_repo, worktree_root
):
    log = await stopped_in_round_two(user_repo, worktree_root)
    patched = RunState.fold(log).blueprint
    assert patched is not None and patched.tasks[1].title == "Command line"
    critic, planner, twin = CountingCritic(), FakePlanner(PLAN), ScriptedTwin([ACCEPT])
    panel = [RoundReviewer("r1", [95]), RoundReviewer("r2", [95])]

    resumed = await resume(
        user_repo,
        worktree_root,
        log,
        critic=critic,
        planner=planner,
        reviewers=panel,
        twin=twin,
        config=THREE_ROUNDS,
    )

    assert resumed.state.outcome is Outcome.SHIPPED, resumed.state.reason
    assert critic.calls == 0 and planner.requests == []
    assert resumed.of(BlueprintProposed) == []
    # Round 2 is held once, on the plan as round 1 patched it, and the panel passes it.
    assert [r.asked for r in panel] == [[(2, patched)], [(2, patched)]]
    assert [(e.round, e.passed) for e in resumed.of(ReviewRoundFinished)] == [(2, True)]
    assert twin.seen == [patched]


async def test_after_the_last_round_the_panels_question_quotes_the_rounds_before_the_stop(
    user_repo, worktree_root
):
    log = await stopped_in_round_two(user_repo, worktree_root)
    panel = [RoundReviewer("r1", [70]), RoundReviewer("r2", [70])]

    resumed = await resume(user_repo, worktree_root, log, reviewers=panel, config=THREE_ROUNDS)

    assert [[n for n, _ in r.asked] for r in panel] == [[2, 3], [2, 3]]
    assert [(e.reviewer, e.round) for e in resumed.of(ReviewScored)] == [
        ("r1", 2),
        ("r2", 2),
        ("r1", 3),
        ("r2", 3),
    ]
    (asked,) = resumed.of(EscalationRaised)
    assert asked.question.startswith("After 3 review rounds only 0 of 2 reviewers")
    # The findings of every round, round 1's from the log; the refused patch is no finding.
    assert asked.context == "\n".join(f"- {r} r{n}" for n in (1, 2, 3) for r in ("r1", "r2"))
    assert resumed.state.outcome is Outcome.KILLED
    assert resumed.state.reason == "the plan was rejected after review (policy:reject)"
