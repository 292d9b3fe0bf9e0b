"""The merge queue on real repositories: order, conflicts, red merges, speculation.

The gates here are real checks of the merged worktree's files (no mocks of git): a merge is
red when the tree holds a file the test marks as poison, or when two files that are fine alone
meet. Every value the integration branch ever took is read back from its reflog.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest
from repo_helpers import agent_git, git, snapshot

from engine.events import AgentOutput, EventBase, MergeConflict, Merged
from engine.merge_queue import MergeOutcome, MergeQueue, StopRequested
from engine.protocols import GateResult
from engine.workspace import GitWorkspaces


class TreeGate:
    """Fails a tree holding any of ``poison`` (or all of ``clash``); records what it saw."""

    def __init__(
        self,
        *,
        poison: tuple[str, ...] = (),
        clash: tuple[str, ...] = (),
        delay: float = 0.0,
    ) -> None:
        self.name = "tree"
        self.poison = poison
        self.clash = clash
        self.delay = delay
        self.running = 0
        self.peak = 0
        self.passed_heads: set[str] = set()
        self.failed_heads: set[str] = set()
        self.checked = 0

    async def check(self, workspace: Path) -> GateResult:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        self.checked += 1
        present = {p.name for p in workspace.iterdir()}  # noqa: ASYNC240
        bad = sorted(present & set(self.poison))
        if self.clash and set(self.clash) <= present:
            bad.append("+".join(self.clash))
        head = git(workspace, "rev-parse", "HEAD")
        (self.failed_heads if bad else self.passed_heads).add(head)
        summary = f"poisoned by {', '.join(bad)}" if bad else "ok"
        return GateResult(gate=self.name, passed=not bad, summary=summary)


async def task_commit(ws: GitWorkspaces, name: str, files: dict[str, str]) -> str:
    """One task's work, done in its own worktree from the integration tip."""
    wt = await ws.add_worktree(name, ws.integration_tip())
    for rel, content in files.items():
        (wt / rel).write_text(content)
    commit = await ws.commit_all(wt, f"work on {name}")
    assert commit is not None
    await ws.remove_worktree(wt)
    return commit


def reflog(repo: Path, branch: str) -> list[str]:
    return git(repo, "reflog", "show", "--format=%H", f"refs/heads/{branch}").splitlines()


def subjects(repo: Path, ws: GitWorkspaces, base: str) -> list[str]:
    return git(repo, "log", "--reverse", "--format=%s", f"{base}..{ws.integration_tip()}").split(
        "\n"
    )


@pytest.fixture
async def setup(user_repo: Path, worktree_root: Path):
    ws = GitWorkspaces(user_repo, "mq", worktree_root)
    base = await ws.start()
    events: list[EventBase] = []
    return ws, base, events


async def submit_all(queue: MergeQueue, commits: list[tuple[str, str]]) -> list[MergeOutcome]:
    async def one(i: int, task: str, commit: str) -> MergeOutcome:
        await asyncio.sleep(0.001 * i)  # queue in the listed order
        return await queue.submit(task, 1, commit, f"Task {task}")

    return list(await asyncio.gather(*(one(i, t, c) for i, (t, c) in enumerate(commits))))


@pytest.mark.parametrize("window", [1, 3])
async def test_tasks_land_in_queue_order_and_the_users_tree_is_untouched(
    setup, user_repo: Path, window: int
) -> None:
    ws, base, events = setup
    before = snapshot(user_repo)
    commits = [(t, await task_commit(ws, t, {f"{t}.txt": t})) for t in ("a", "b", "c", "d")]
    gate = TreeGate(delay=0.05)
    queue = MergeQueue(ws, [gate], events.append, window=window)
    outcomes = await submit_all(queue, commits)
    assert all(o.merged for o in outcomes)
    assert subjects(user_repo, ws, base) == ["Task a", "Task b", "Task c", "Task d"]
    assert [e.task_id for e in events if isinstance(e, Merged)] == ["a", "b", "c", "d"]
    assert outcomes[-1].commit == ws.integration_tip()
    assert gate.peak <= window
    assert snapshot(user_repo) == before
    assert not any((ws.root).glob("merge-*"))


async def test_a_conflict_goes_back_to_the_task(setup, user_repo: Path) -> None:
    ws, _, events = setup
    first = await task_commit(ws, "x", {"README.md": "# Greeter X\n"})
    second = await task_commit(ws, "y", {"README.md": "# Greeter Y\n"})
    queue = MergeQueue(ws, [TreeGate()], events.append)
    ok, clash = await submit_all(queue, [("x", first), ("y", second)])
    assert ok.merged and not clash.merged
    assert clash.failure.startswith("Merge conflict:\ncherry-pick onto")
    assert "README.md" in clash.failure
    conflicts = [e for e in events if isinstance(e, MergeConflict)]
    assert [c.task_id for c in conflicts] == ["y"]
    assert ws.integration_tip() == ok.commit


async def test_a_red_merge_never_lands(setup, user_repo: Path) -> None:
    ws, base, events = setup
    a = await task_commit(ws, "a", {"a.txt": "a"})
    b = await task_commit(ws, "b", {"b.txt": "b"})
    gate = TreeGate(clash=("a.txt", "b.txt"))  # fine alone, red together
    queue = MergeQueue(ws, [gate], events.append, window=1)
    ok, red = await submit_all(queue, [("a", a), ("b", b)])
    assert ok.merged and not red.merged
    assert "fails merged onto the integration branch" in red.failure
    assert "poisoned by a.txt+b.txt" in red.failure
    assert ws.integration_tip() == ok.commit
    took = set(reflog(user_repo, ws.integration_branch)) - {base}
    assert took <= gate.passed_heads
    assert not took & gate.failed_heads


async def test_a_failure_ahead_discards_and_rebuilds_the_speculation_behind(
    setup, user_repo: Path
) -> None:
    ws, base, events = setup
    commits = [(t, await task_commit(ws, t, {f"{t}.txt": t})) for t in ("a", "b", "c", "d")]
    gate = TreeGate(poison=("b.txt",), delay=0.1)
    queue = MergeQueue(ws, [gate], events.append, window=4)
    a, b, c, d = await submit_all(queue, commits)
    assert (a.merged, b.merged, c.merged, d.merged) == (True, False, True, True)
    assert "poisoned by b.txt" in b.failure
    assert queue.discarded == 2, "c and d were first tested on top of b"
    assert subjects(user_repo, ws, base) == ["Task a", "Task c", "Task d"]
    assert git(user_repo, "rev-parse", f"{c.commit}~1") == a.commit
    tree = git(user_repo, "ls-tree", "--name-only", ws.integration_tip()).split()
    assert "b.txt" not in tree and {"a.txt", "c.txt", "d.txt"} <= set(tree)
    took = set(reflog(user_repo, ws.integration_branch)) - {base}
    assert took <= gate.passed_heads and not took & gate.failed_heads


async def test_speculation_is_faster_than_serial(user_repo: Path, worktree_root: Path) -> None:
    elapsed = {}
    for window in (1, 3):
        ws = GitWorkspaces(user_repo, f"speed{window}", worktree_root)
        await ws.start()
        commits = [(t, await task_commit(ws, t, {f"{t}.txt": t})) for t in ("a", "b", "c")]
        gate = TreeGate(delay=0.4)
        queue = MergeQueue(ws, [gate], lambda e: None, window=window)
        started = time.monotonic()
        outcomes = await submit_all(queue, commits)
        elapsed[window] = time.monotonic() - started
        assert all(o.merged for o in outcomes)
        assert gate.peak == 1 if window == 1 else gate.peak >= 2
    assert elapsed[3] < 0.8 * elapsed[1], elapsed


async def test_a_cancelled_submitter_stops_the_queue_cleanly(setup, user_repo: Path) -> None:
    ws, base, _ = setup
    commit = await task_commit(ws, "a", {"a.txt": "a"})
    queue = MergeQueue(ws, [TreeGate(delay=5)], lambda e: None)
    waiting = asyncio.create_task(queue.submit("a", 1, commit, "Task a"))
    await asyncio.sleep(0.3)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    for _ in range(50):
        if not any(ws.root.glob("merge-*")):
            break
        await asyncio.sleep(0.05)
    assert not any(ws.root.glob("merge-*"))
    assert ws.integration_tip() == base


def test_window_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="merge window must be at least 1"):
        MergeQueue(None, [], lambda e: None, window=0)  # type: ignore[arg-type]


async def test_a_branch_moved_by_someone_else_stops_the_run_instead_of_hanging(
    setup, user_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process (the same run resumed from an imported copy of its log, say) moved
    the integration branch while a merge's gates ran: the merge could not land, the queue
    failed — and the task whose merge it was waited for ever, so the run hung. Then it failed
    the merge, and the task's next attempt took the other's commit in unasked. Now, with no
    one to ask (no broker), the queue takes the question's default: the run stops, the
    other's commit named and left where it is."""
    ws, _, events = setup
    ours = await task_commit(ws, "a", {"a.txt": "a"})
    theirs = await task_commit(ws, "z", {"z.txt": "z"})

    class MovesTheBranch(TreeGate):
        async def check(self, workspace: Path) -> GateResult:
            git(user_repo, "update-ref", f"refs/heads/{ws.integration_branch}", theirs)
            return await super().check(workspace)

    queue = MergeQueue(ws, [MovesTheBranch()], events.append, window=1)
    with pytest.raises(StopRequested) as stopped:
        await asyncio.wait_for(queue.submit("a", 1, ours, "Task a"), 10)
    assert f"holds 1 commit(s) it did not make ({theirs[:7]} work on z)" in str(stopped.value)
    assert notices(events) == [str(stopped.value)]
    assert ws.branch_tip(ws.integration_branch) == theirs  # the other's move stands
    assert not any(ws.root.glob("merge-*"))
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- a checkout that holds the integration branch ----------------------------------------------


def checkout_view(path: Path) -> tuple[str, str, str]:
    """What a checkout shows its user: the commit it is on, its status, what is staged."""
    return (
        git(path, "rev-parse", "HEAD"),
        git(path, "status", "--porcelain=v1", "--untracked-files=all"),
        git(path, "diff", "--cached", "--name-only"),
    )


def notices(events: list[EventBase]) -> list[str]:
    return [e.text for e in events if isinstance(e, AgentOutput) and e.kind == "notice"]


async def until(condition) -> None:
    async with asyncio.timeout(10.0):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


@pytest.mark.parametrize("where", ["the user's checkout", "a worktree of the user's"])
async def test_a_merge_waits_while_the_integration_branch_is_checked_out_then_lands_once(
    setup, user_repo: Path, tmp_path: Path, where: str
) -> None:
    """A user looks at the work in progress with ``git checkout shopfloor/wip/RUN`` while the
    run goes on. Before, each merge's ``update-ref`` moved the branch under that checkout: its
    HEAD went on, its index and files stayed, and ``git status`` showed the reverse of the
    merge (``a.txt`` deleted, staged) as the user's own edit. Now the merge waits, says where
    the branch is checked out and how to release it, and lands once it is released."""
    ws, base, events = setup
    wip = ws.integration_branch
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    if where == "the user's checkout":
        checkout, release = user_repo, ("checkout", "-q", "-")
        git(user_repo, "checkout", "-q", wip)
    else:
        checkout, release = tmp_path / "peek", ("checkout", "-q", "--detach")
        git(user_repo, "worktree", "add", "-q", str(checkout), wip)
    looking = checkout_view(checkout)
    user_before = snapshot(user_repo)
    queue = MergeQueue(ws, [TreeGate()], events.append, release_poll_s=0.02)
    submitted = asyncio.create_task(queue.submit("a", 1, commit_a, "Task a"))

    await until(lambda: queue.paused_on is not None or submitted.done())
    await asyncio.sleep(0.2)  # the queue looks again several times meanwhile
    assert not submitted.done()
    assert ws.integration_tip() == base
    assert checkout_view(checkout) == looking  # nothing there for the user to commit
    assert snapshot(user_repo) == user_before
    hint = f"`git -C {checkout} checkout -` (or `checkout --detach` to keep looking)"
    assert notices(events) == [
        f"merging paused before task a: integration branch {wip} is checked out in "
        f"{checkout}; {hint} lets the run move it"
    ]

    git(checkout, *release)
    outcome = await asyncio.wait_for(submitted, 10)
    assert outcome.merged and outcome.commit == ws.integration_tip()
    assert reflog(user_repo, wip) == [outcome.commit, base]  # one move, from where it waited
    assert [e.task_id for e in events if isinstance(e, Merged)] == ["a"]
    assert notices(events)[1:] == [f"merging goes on: {wip} is no longer checked out in {checkout}"]
    assert queue.paused_on is None
    assert subjects(user_repo, ws, base) == ["Task a"]


async def test_an_agents_checkout_of_the_integration_branch_in_its_worktree_holds_nothing(
    setup, user_repo: Path
) -> None:
    """The run's own worktrees are the factory's: a branch an agent checks out there is taken
    back after its attempt, so a merge meanwhile does not wait for it."""
    ws, base, events = setup
    commit_a = await task_commit(ws, "a", {"a.txt": "a\n"})
    wt = await ws.add_worktree("b-a1", base)
    agent_git(wt, "checkout", "-q", ws.integration_branch)
    assert ws.checked_out_at(ws.integration_branch) is None
    queue = MergeQueue(ws, [TreeGate()], events.append, release_poll_s=0.02)
    outcome = await asyncio.wait_for(queue.submit("a", 1, commit_a, "Task a"), 10)
    assert outcome.merged and notices(events) == []
    await ws.remove_worktree(wt)
    assert ws.integration_tip() == outcome.commit
