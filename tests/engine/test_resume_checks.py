"""Resuming a run stopped after its checks: code QC and verification are not paid twice.

QC and verification judge the integration tip; their events name it. A run stopped while it
shipped (its pull request being opened, say) or verified resumes with the results its log
holds for the tip the branch still has, and judges again only what is not: a result on
another commit, or from a log written before the events named their commit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from repo_helpers import git
from test_full_pipeline import FakeJudge, FakeQC, FakeVerifier
from test_pipeline import RUN_ID
from test_resume_planning import crash_when, resume

from engine.blueprint import Blueprint
from engine.event_codec import event_from_dict
from engine.events import (
    AgentOutput,
    EventBase,
    QCScored,
    Stage,
    StageChanged,
    VerificationFinished,
)
from engine.protocols import EmitFn
from engine.roles import QCReport, VerifierReport
from engine.state import RunState

WIP = f"shopfloor/wip/{RUN_ID}"


class CountingQC(FakeQC):
    def __init__(self, score: int = 91) -> None:
        super().__init__(score)
        self.diffs: list[str] = []

    async def assess(self, bp: Blueprint, diff: str, emit: EmitFn) -> QCReport:
        self.diffs.append(diff)
        return await super().assess(bp, diff, emit)


@dataclass
class HeldVerifier(FakeVerifier):
    """Attacks the result; with ``hold`` it never finishes, as a call a crash cuts short."""

    hold: bool = False
    attacked: list[Path] = field(default_factory=list)

    async def attack(self, bp: Blueprint, workspace: Path, emit: EmitFn) -> VerifierReport:
        self.attacked.append(workspace)
        if self.hold:
            await asyncio.Event().wait()
        return await super().attack(bp, workspace, emit)


@dataclass
class HeldPublisher:
    """Opens a pull request; with ``hold`` it never answers (the crash hits while it ships)."""

    hold: bool = False
    published: list[str] = field(default_factory=list)

    async def publish(self, branch: str, base: str, title: str, body: str) -> str:
        self.published.append(branch)
        if self.hold:
            await asyncio.Event().wait()
        return "https://example.invalid/pull/1"


def checks(**kw: object) -> dict[str, object]:
    return {"qc": CountingQC(), "verifier": HeldVerifier(), "judge": FakeJudge(), **kw}


async def crash_while_verifying(repo: Path, root: Path) -> list[EventBase]:
    """The log of a run stopped while its verifier attacked the result, QC passed."""
    held = HeldVerifier(hold=True)
    return await crash_when(repo, root, lambda _: bool(held.attacked), **checks(verifier=held))


def checks_run(events: list[EventBase]) -> list[str]:
    """What the checks did: their stages and their results."""
    return [
        e.stage.value if isinstance(e, StageChanged) else type(e).__name__
        for e in events
        if isinstance(e, QCScored | VerificationFinished)
        or (isinstance(e, StageChanged) and e.stage in (Stage.QC, Stage.VERIFY))
    ]


async def test_a_run_stopped_while_it_shipped_ships_without_judging_the_same_tip_again(
    user_repo: Path, worktree_root: Path
):
    held = HeldPublisher(hold=True)
    log = await crash_when(
        user_repo,
        worktree_root,
        lambda state: state.stage is Stage.SHIP and bool(held.published),
        publisher=held,
        **checks(),
    )
    stopped = RunState.fold(log)
    tip = stopped.tasks["cli"].merged_commit
    assert (stopped.scores.qc_commit, stopped.scores.judge_commit) == (tip, tip)
    qc, verifier, publisher = CountingQC(), HeldVerifier(), HeldPublisher()

    resumed = await resume(
        user_repo, worktree_root, log, **checks(qc=qc, verifier=verifier, publisher=publisher)
    )

    assert resumed.state.outcome.value == "shipped", resumed.state.reason
    assert qc.diffs == [] and verifier.attacked == []
    assert checks_run(resumed.events) == []
    said = [e.text for e in resumed.of(AgentOutput) if e.agent_id == "resume"]
    assert said == [
        f"code QC (91/100) passed on {tip[:10]} before the restart: not run again",
        f"verification (93/100) passed on {tip[:10]} before the restart: not run again",
    ]
    assert resumed.state.branch == held.published[0] == publisher.published[0]
    assert git(user_repo, "rev-parse", resumed.state.branch) == tip


async def test_a_run_stopped_while_verifying_keeps_its_qc_and_verifies_again(
    user_repo: Path, worktree_root: Path
):
    log = await crash_while_verifying(user_repo, worktree_root)
    assert checks_run(log) == ["qc", "QCScored", "verify"]
    qc, verifier = CountingQC(), HeldVerifier()

    resumed = await resume(user_repo, worktree_root, log, **checks(qc=qc, verifier=verifier))

    assert resumed.state.outcome.value == "shipped", resumed.state.reason
    assert qc.diffs == [] and len(verifier.attacked) == 1
    assert checks_run(resumed.events) == ["verify", "VerificationFinished"]


async def test_checks_logged_on_another_tip_are_run_again_on_the_new_one(
    user_repo: Path, worktree_root: Path
):
    """The integration branch moved while the run was stopped (a commit of the user's on
    it): QC and verification judge the new tip."""
    log = await crash_while_verifying(user_repo, worktree_root)
    before = git(user_repo, "rev-parse", WIP)
    tree = git(user_repo, "rev-parse", f"{WIP}^{{tree}}")
    moved = git(user_repo, "commit-tree", tree, "-p", before, "-m", "a note of the user's")
    git(user_repo, "update-ref", f"refs/heads/{WIP}", moved, before)
    qc = CountingQC()

    resumed = await resume(user_repo, worktree_root, log, **checks(qc=qc))

    assert resumed.state.outcome.value == "shipped", resumed.state.reason
    assert len(qc.diffs) == 1
    assert checks_run(resumed.events) == ["qc", "QCScored", "verify", "VerificationFinished"]
    assert [e.commit for e in resumed.of(QCScored)] == [moved]


async def test_a_log_from_before_the_checks_named_their_commit_resumes_and_checks_again(
    user_repo: Path, worktree_root: Path
):
    log = await crash_while_verifying(user_repo, worktree_root)
    old = [  # as an older version wrote it: QCScored without a commit
        event_from_dict(e.model_dump(mode="json", exclude={"commit"}))
        if isinstance(e, QCScored)
        else e
        for e in log
    ]
    assert RunState.fold(old).scores.qc == 91 and RunState.fold(old).scores.qc_commit == ""
    qc = CountingQC()

    resumed = await resume(user_repo, worktree_root, old, **checks(qc=qc))

    assert resumed.state.outcome.value == "shipped", resumed.state.reason
    assert len(qc.diffs) == 1
    assert checks_run(resumed.events) == ["qc", "QCScored", "verify", "VerificationFinished"]
