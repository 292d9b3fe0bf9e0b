"""A user checks out the run's integration branch while the run goes on.

``git checkout shopfloor/wip/RUN`` is how a user looks at the work in progress. Before, each
merge's ``update-ref`` moved that branch under their checkout (HEAD went on, the index and
files stayed: ``git status`` showed the reverse of every merge as their own edits, for their
next commit to record), and shipping deleted it under them (their checkout on a branch that no
longer exists, every file staged as new). Now merging waits until the branch is released,
shipping leaves the branch where it is, and a run stopped while it waited resumes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from repo_helpers import git, snapshot
from test_full_pipeline import SCRIPTS, make_factory
from test_pipeline import RUN_ID, WIP, ContentGate, FakeEngineer
from test_resume_repository import SHIPPED, resume, subjects

from engine.bus import EventBus
from engine.config import EngineConfig
from engine.events import AgentOutput, EventBase, Merged, Outcome, RunFinished
from engine.protocols import EngineerJob, GateResult
from engine.state import RunState


def notices(events: list[EventBase], agent_id: str) -> list[str]:
    return [
        e.text
        for e in events
        if isinstance(e, AgentOutput) and e.kind == "notice" and e.agent_id == agent_id
    ]


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(20):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def user_looks(repo: Path, script: Callable[[EngineerJob], dict[str, str]]):
    """``script``, after the user checked out the integration branch meanwhile."""

    def work(job: EngineerJob) -> dict[str, str]:
        git(repo, "checkout", "-q", WIP)
        return script(job)

    return work


def status(repo: Path) -> str:
    return git(repo, "status", "--porcelain=v1", "--untracked-files=all")


def hint(checkout: Path) -> str:
    return f"`git -C {checkout} checkout -` (or `checkout --detach` to keep looking)"


async def test_merging_waits_for_the_users_checkout_to_release_the_branch_then_ships(
    user_repo: Path, worktree_root: Path
):
    before = snapshot(user_repo)
    own_edits = status(user_repo)
    engineer = FakeEngineer({**SCRIPTS, "core": user_looks(user_repo, SCRIPTS["core"])})
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    run = asyncio.create_task(make_factory(user_repo, worktree_root, bus, engineer=engineer).run())

    await until(lambda: bool(notices(events, "merge-queue")) or run.done())
    base = git(user_repo, "rev-parse", "main")
    assert not run.done() and bus.state.merged == []
    assert git(user_repo, "rev-parse", WIP) == base  # not moved under the user's checkout
    assert git(user_repo, "rev-parse", "--abbrev-ref", "HEAD") == WIP
    assert status(user_repo) == own_edits  # nothing of the run's shows as the user's edit
    assert notices(events, "merge-queue") == [
        f"merging paused before task core: integration branch {WIP} is checked out in "
        f"{user_repo}; {hint(user_repo)} lets the run move it"
    ]

    git(user_repo, "checkout", "-q", "-")  # what the notice says
    state = await asyncio.wait_for(run, 60)
    assert state.outcome is Outcome.SHIPPED, state.reason
    assert [e.task_id for e in events if isinstance(e, Merged)] == ["core", "cli"]
    assert subjects(user_repo, SHIPPED) == ["Core", "CLI"]
    assert notices(events, "merge-queue")[1:] == [
        f"merging goes on: {WIP} is no longer checked out in {user_repo}"
    ]
    assert git(user_repo, "branch", "--list", WIP) == ""
    assert snapshot(user_repo) == before


class UserChecksOutTheBranch:
    """A verify gate that passes, and meanwhile the user checks out the integration branch:
    it is checked out when the run ships."""

    name = "look"

    def __init__(self, repo: Path) -> None:
        self.repo = repo

    async def check(self, workspace: Path) -> GateResult:
        git(self.repo, "checkout", "-q", WIP)
        return GateResult(gate=self.name, passed=True, summary="looked")


async def test_shipping_leaves_the_integration_branch_the_user_has_checked_out(
    user_repo: Path, worktree_root: Path
):
    before = snapshot(user_repo)
    own_edits = status(user_repo)
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(
        user_repo, worktree_root, bus, verify_gates=(UserChecksOutTheBranch(user_repo),)
    )
    state = await asyncio.wait_for(factory.run(), 60)

    assert state.outcome is Outcome.SHIPPED, state.reason
    assert state.branch == SHIPPED
    shipped = git(user_repo, "rev-parse", SHIPPED)
    assert state.tasks["cli"].merged_commit == shipped
    # The branch stays under the user's checkout, at the shipped commit: HEAD is a commit
    # there, and the checkout shows only the user's own edits.
    assert git(user_repo, "rev-parse", "--abbrev-ref", "HEAD") == WIP
    assert git(user_repo, "rev-parse", "HEAD") == shipped
    assert status(user_repo) == own_edits
    assert notices(events, "ship") == [
        f"{WIP} is checked out in {user_repo}, so it stays (at the shipped commit); "
        f"{hint(user_repo)}, then `git -C {user_repo} branch -D {WIP}` deletes it"
    ]
    git(user_repo, "checkout", "-q", "-")  # what the notice says
    git(user_repo, "branch", "-D", WIP)
    assert snapshot(user_repo) == before


async def test_a_run_stopped_while_its_merge_waited_resumes_and_merges_each_task_once(
    user_repo: Path, worktree_root: Path
):
    """Ctrl-C while the merge queue waits for the user's checkout: nothing landed, the run is
    resumable, and once the branch is released the resume merges every task once."""
    gate = ContentGate("tests", "core.txt", "hello")  # the merge gates run before the wait
    engineer = FakeEngineer({**SCRIPTS, "core": user_looks(user_repo, SCRIPTS["core"])})
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(user_repo, worktree_root, bus, engineer=engineer, merge_gates=(gate,))
    run = asyncio.create_task(factory.run())
    await until(lambda: bool(notices(events, "merge-queue")) or run.done())
    assert not run.done()
    run.cancel()
    await asyncio.gather(run, return_exceptions=True)
    assert not any(isinstance(e, (Merged, RunFinished)) for e in events)
    assert git(user_repo, "rev-parse", WIP) == git(user_repo, "rev-parse", "main")
    state = RunState.fold(events)
    assert state.outcome is Outcome.RUNNING and state.merged == []

    git(user_repo, "checkout", "-q", "-")
    final, later = await resume(user_repo, worktree_root, state)
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert final.merged == ["core", "cli"]
    assert [e.task_id for e in later if isinstance(e, Merged)] == ["core", "cli"]
    assert subjects(user_repo, SHIPPED) == ["Core", "CLI"]


def stop_unwatched(**kw: object) -> EngineConfig:
    """Who answers when no person does: the reject policy, which takes ``stop``."""
    return EngineConfig(workers=2, max_attempts=3, escalation_policy="reject", **kw)  # type: ignore[arg-type]


async def test_a_branch_left_checked_out_escalates_after_the_wait_and_the_stopped_run_resumes(
    user_repo: Path, worktree_root: Path
):
    """An owner gone for the night with the branch checked out: the run sat there for ever
    after one notice. Past ``checkout_wait_s`` it asks; unwatched (the reject policy) it
    stops, as Ctrl-C stops it — no RunFinished — and resumes once the branch is released."""
    engineer = FakeEngineer({**SCRIPTS, "core": user_looks(user_repo, SCRIPTS["core"])})
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(
        user_repo, worktree_root, bus, engineer=engineer, config=stop_unwatched(checkout_wait_s=0.5)
    )
    state = await asyncio.wait_for(factory.run(), 60)

    assert state.outcome is Outcome.RUNNING and state.merged == []
    assert not any(isinstance(e, (Merged, RunFinished)) for e in events)
    (esc,) = state.escalations.values()
    assert (esc.kind, esc.task_id, esc.decision, esc.decided_by) == (
        "merge",
        "core",
        "stop",
        "policy:reject",
    )
    assert notices(events, "merge-queue") == [
        f"merging paused before task core: integration branch {WIP} is checked out in "
        f"{user_repo}; {hint(user_repo)} lets the run move it",
        f"the run stops before merging task core: {WIP} is checked out in {user_repo}; "
        f"{hint(user_repo)}, then resume it",
    ]
    assert git(user_repo, "rev-parse", WIP) == git(user_repo, "rev-parse", "main")
    assert not (worktree_root / RUN_ID).exists()

    git(user_repo, "checkout", "-q", "-")
    final, later = await resume(user_repo, worktree_root, RunState.fold(events))
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert [e.task_id for e in later if isinstance(e, Merged)] == ["core", "cli"]
    assert subjects(user_repo, SHIPPED) == ["Core", "CLI"]


async def test_the_users_commit_on_the_checked_out_branch_is_kept_and_never_shipped_unasked(
    user_repo: Path, worktree_root: Path
):
    """The user commits on their checkout of the branch while merging waits, then lets go.
    Before: the merge failed with a queue error, core's second attempt started from the
    user's commit, its put-back moved the branch off that commit as "the agent's" move, and
    the commit's file shipped squashed into "Core". Now the run asks; unwatched, it stops
    with the commit named and kept; the user keeps it on a branch of theirs, puts the run's
    branch back as the notice says, and the resumed run ships without it."""
    (user_repo / "mine.txt").write_text("mine\n")  # untracked: committed on the branch below

    def look_and_commit(job: EngineerJob) -> dict[str, str]:
        if job.attempt == 1:
            git(user_repo, "checkout", "-q", WIP)
        return SCRIPTS["core"](job)

    engineer = FakeEngineer({**SCRIPTS, "core": look_and_commit})
    bus = EventBus(RUN_ID)
    events: list[EventBase] = []
    bus.listen(events.append)
    factory = make_factory(
        user_repo, worktree_root, bus, engineer=engineer, config=stop_unwatched()
    )
    run = asyncio.create_task(factory.run())
    await until(lambda: bool(notices(events, "merge-queue")) or run.done())
    assert not run.done()
    git(user_repo, "add", "mine.txt")
    git(user_repo, "commit", "-q", "-m", "my own fix")
    mine = git(user_repo, "rev-parse", "HEAD")
    git(user_repo, "checkout", "-q", "-")
    state = await asyncio.wait_for(run, 60)

    assert state.outcome is Outcome.RUNNING and state.merged == []
    assert [t.attempts for t in state.tasks.values() if t.id == "core"] == [1]  # none wasted
    (esc,) = state.escalations.values()
    assert esc.options == ["accept", "stop"] and esc.decision == "stop"
    assert "my own fix" in esc.question
    assert git(user_repo, "rev-parse", WIP) == mine  # kept where the user put it
    said = notices(events, "merge-queue")[-1]
    assert "holds 1 commit(s) it did not make" in said and "they stay there" in said

    base = git(user_repo, "rev-parse", "main")
    git(user_repo, "branch", "mine", WIP)  # what the notice says
    git(user_repo, "branch", "-f", WIP, base)
    final, _ = await resume(user_repo, worktree_root, RunState.fold(events))
    assert final.outcome is Outcome.SHIPPED, final.reason
    assert subjects(user_repo, SHIPPED) == ["Core", "CLI"]
    assert "mine.txt" not in git(user_repo, "ls-tree", "-r", "--name-only", SHIPPED)
    assert git(user_repo, "rev-parse", "mine") == mine
