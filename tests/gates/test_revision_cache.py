"""The gate cache for gates that judge a revision (shrinkage): a merge of an unchanged diff
reuses the task gates' verdict; a revision on another base, or declaring other removals,
never does. Real git, real worktrees, the real merge queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_trace import trace_git
from repo_helpers import commit, git, make_repo

from engine.events import EventBase, GateFinished
from engine.gate_runner import run_gates
from engine.merge_queue import MergeQueue
from engine.workspace import GitWorkspaces
from gates.cache import GateCache
from gates.revision_tree import NO_BASE, revision_tree
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate


def lines(n: int, word: str = "line") -> str:
    return "".join(f"{word} {i}\n" for i in range(n))


def trailers(*removes: str, summary: str = "summary") -> str:
    """A task's commit message (engine.build.commit_message's shape)."""
    declared = "".join(f"Shopfloor-Removes: {r}\n" for r in removes)
    return f"work\n\n{summary}\n\n{declared}Shopfloor-Task: t1"


def clone(repo: Path, where: Path) -> Path:
    git(repo, "clone", "-q", str(repo), str(where))
    return where


async def test_the_same_diff_on_the_same_base_is_a_hit_and_nothing_else_is(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "a", {"app.py": lines(100), "util.py": lines(40)})
    other = clone(repo, tmp_path / "b")
    commit(repo, {"app.py": lines(10)}, trailers())  # deletes 90 of 100: refused
    # The same change made again on the same base: another commit, the same diff (a merge
    # candidate cherry-picked onto a tip that did not move).
    commit(other, {"app.py": lines(10)}, trailers(summary="said otherwise"))
    assert git(repo, "rev-parse", "HEAD") != git(other, "rev-parse", "HEAD")

    cache = GateCache()
    gate = cache.wrap(ShrinkageGate(process_sandbox))
    first = await gate.check(repo)
    again = await gate.check(other)
    assert not first.passed and not first.cached
    assert again.cached, "the same diff on the same base is judged once"
    assert (again.passed, again.summary) == (first.passed, first.summary)

    # The same tree on another base: the base held 12 lines, so 2 deleted of 12 pass.
    moved = clone(repo, tmp_path / "c")
    git(moved, "reset", "-q", "--hard", "HEAD~1")
    commit(moved, {"app.py": lines(12)}, "the branch moved")
    commit(moved, {"app.py": lines(10)}, trailers())
    assert git(moved, "rev-parse", "HEAD^{tree}") == git(repo, "rev-parse", "HEAD^{tree}")
    other_base = await gate.check(moved)
    assert other_base.passed and not other_base.cached

    # The same trees, but the commit declares app.py removed on purpose: not counted.
    declared = clone(repo, tmp_path / "d")
    git(declared, "commit", "--amend", "-q", "-m", trailers("app.py"))
    excused = await gate.check(declared)
    assert excused.passed and not excused.cached
    assert cache.hits == 1 and cache.misses == 3


async def test_a_merge_onto_a_branch_that_did_not_move_reuses_the_task_verdict(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": lines(30), "util.py": lines(30)})
    ws = GitWorkspaces(repo, "rc", tmp_path / "worktrees")
    await ws.start()
    events: list[EventBase] = []
    cache = GateCache()
    gates = [cache.wrap(ShrinkageGate(process_sandbox))]
    queue = MergeQueue(ws, gates, events.append)

    async def task(name: str, files: dict[str, str], tip: str) -> tuple[str, str]:
        wt = await ws.add_worktree(name, tip)
        for rel, text in files.items():
            (wt / rel).write_text(text)
        message = f"{name}\n\nsummary\n\nShopfloor-Task: {name}"
        done = await ws.commit_all(wt, message)
        assert done is not None
        await run_gates(gates, wt, scope="task", emit=events.append, task_id=name)
        await ws.remove_worktree(wt)
        return done, message

    tip = ws.integration_tip()
    first = await task("first", {"app.py": lines(31)}, tip)
    second = await task("second", {"util.py": lines(32)}, tip)  # cut before first lands
    assert (await queue.submit("first", 1, *first)).merged
    assert (await queue.submit("second", 1, *second)).merged

    merged = {e.task_id: e for e in events if isinstance(e, GateFinished) and e.scope == "merge"}
    assert merged["first"].cached, "the branch did not move: the task's verdict stands"
    assert not merged["second"].cached, "the branch moved under it: judged again"
    assert merged["first"].passed and merged["second"].passed


async def test_gates_keyed_on_the_base_side_by_side_read_its_tree_once(
    process_sandbox: ProcessSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revision gates of one batch (shrinkage, the scans of a task's changes) ask for the
    base's tree together: one ``git rev-parse``, not one each; the next batch reads it again."""
    repo = make_repo(tmp_path / "repo", {"app.py": lines(100)})
    commit(repo, {"app.py": lines(10)}, trailers())  # deletes 90 of 100
    cache = GateCache()
    strict = cache.wrap(ShrinkageGate(process_sandbox))
    lenient = cache.wrap(ShrinkageGate(process_sandbox, name="lenient", max_share=1.0))
    trace = trace_git(monkeypatch, tmp_path / "git-trace.log")
    events: list[EventBase] = []
    first = await run_gates([strict, lenient], repo, scope="task", emit=events.append)
    assert [(r.gate, r.passed, r.cached) for r in first] == [
        ("shrinkage", False, False),
        ("lenient", True, False),
    ]
    assert trace.count("rev-parse --verify --quiet HEAD~1^{tree}") == 1

    commit(repo, {"app.py": lines(10) + lines(5, "more")}, trailers())  # a new base: 0 deleted
    again = await run_gates([strict, lenient], repo, scope="task", emit=events.append)
    assert [(r.gate, r.passed, r.cached) for r in again] == [
        ("shrinkage", True, False),
        ("lenient", True, False),
    ]
    assert trace.count("rev-parse --verify --quiet HEAD~1^{tree}") == 2


async def test_a_revision_tree_is_the_tree_git_names_or_no_base(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": lines(3)})
    assert await revision_tree(repo, "HEAD~1") == NO_BASE  # a root commit
    commit(repo, {"app.py": lines(4)}, "more")
    assert await revision_tree(repo, "HEAD~1") == git(repo, "rev-parse", "HEAD~1^{tree}")
    assert await revision_tree(tmp_path, "HEAD~1") is None  # not a repository
