"""``shopfloor abandon``: a stopped run is ended for good, as the engine ends a run."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
from plans import TWO_TASKS
from repo_helpers import git, make_repo

from engine.bus import EventBus
from engine.events import (
    BlueprintProposed,
    EscalationRaised,
    EventBase,
    Merged,
    RunStarted,
    Stage,
    StageChanged,
    TaskState,
    TaskStateChanged,
)
from engine.state import RunState
from storage.lease import RunLease
from storage.paths import db_option
from storage.store import SqlEventStore
from tui.cli import main

RUN = "r-stopped"


def _git(repo: Path, *argv: str) -> str:
    return git(repo, *argv)


def _started(repo: Path, base: str) -> RunStarted:
    return RunStarted(
        request="Build a greeting CLI",
        repo=str(repo),
        base_branch="main",
        base_commit=base,
        integration_branch=f"shopfloor/wip/{RUN}",
        simulated=True,
    )


@pytest.fixture
def stopped_run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run killed mid-build: one task merged, an attempt under way in the worktree it
    left, an escalation open; the repository holds its integration branch."""
    home = tmp_path / "home"
    monkeypatch.setenv("SHOPFLOOR_HOME", str(home))
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    base = _git(repo, "rev-parse", "HEAD")
    _git(repo, "branch", f"shopfloor/wip/{RUN}", base)
    _git(repo, "worktree", "add", "-q", "--detach", str(home / "worktrees" / RUN / "cli-a2"))

    bus = EventBus(RUN)
    stamped: list[EventBase] = []
    bus.listen(stamped.append)
    bus.emit(_started(repo, base))
    bus.emit(StageChanged(stage=Stage.BLUEPRINT))
    bus.emit(BlueprintProposed(blueprint=TWO_TASKS))
    bus.emit(StageChanged(stage=Stage.BUILD))
    first, second = (task.id for task in TWO_TASKS.tasks)
    bus.emit(Merged(task_id=first, attempt=1, commit=base))
    bus.emit(TaskStateChanged(task_id=first, state=TaskState.MERGED, attempt=1))
    bus.emit(TaskStateChanged(task_id=second, state=TaskState.RUNNING, attempt=2))
    bus.emit(EscalationRaised(escalation_id="e-1", question="go on?", options=["approve"]))

    async def store_it() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append(stamped)

    asyncio.run(store_it())
    return repo


def _status(db_url: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["status", RUN, "--json", "--db", db_url]) == 0
    status: dict[str, object] = json.loads(capsys.readouterr().out)
    return status


def test_abandon_ends_the_run_clears_its_worktrees_and_keeps_its_branch(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = stopped_run
    said = _run(capsys, "status", RUN, "--db", db_url)
    assert f"`shopfloor abandon r-stopped{db_option(db_url)}` ends it" in said
    out = _run(capsys, "abandon", RUN, "--reason", "wrong idea\nafter all", "--db", db_url)
    assert "run r-stopped abandoned: it will not be resumed" in out
    assert f"stays on shopfloor/wip/{RUN}" in out
    assert f"branch -D shopfloor/wip/{RUN}" in out

    status = _status(db_url, capsys)
    assert status["outcome"] == "failed"
    assert status["reason"] == "abandoned: wrong idea after all"
    tasks = {t["id"]: t for t in status["tasks"]}  # type: ignore[attr-defined]
    assert [t["state"] for t in tasks.values()] == ["merged", "failed"]  # none left under way
    assert status["merged"] == [TWO_TASKS.tasks[0].id]

    assert _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert _git(repo, "branch", "--list", f"shopfloor/wip/{RUN}")  # the work stays

    async def open_escalations() -> int:
        async with await SqlEventStore.open(db_url) as store:
            return len(await store.open_escalations(RUN))

    assert asyncio.run(open_escalations()) == 0  # nobody is asked any more

    # Abandoned is finished: neither abandoned again nor resumed.
    assert main(["abandon", RUN, "--db", db_url]) == 2
    assert "run r-stopped already finished: failed" in capsys.readouterr().err
    assert main(["resume", RUN, "--db", db_url]) == 1
    assert "already finished: failed" in capsys.readouterr().out


def test_a_run_a_process_drives_is_not_abandoned(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def take() -> RunLease:
        async with await SqlEventStore.open(db_url) as store:
            return await RunLease.take(store, RUN)

    held = asyncio.run(take())
    try:
        assert main(["abandon", RUN, "--db", db_url]) == 2
        assert "run r-stopped is still running (" in capsys.readouterr().err
    finally:
        asyncio.run(held.release())
    assert _status(db_url, capsys)["outcome"] == "running"
    assert _git(stopped_run, "worktree", "list", "--porcelain").count("worktree ") == 2


def test_a_repository_gone_is_said_and_the_run_still_ends(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = stopped_run.with_name("elsewhere")
    stopped_run.rename(moved)
    out = _run(capsys, "abandon", RUN, "--db", db_url)
    assert "run r-stopped abandoned" in out
    assert f"its worktrees were not removed: not a git repository: {stopped_run}" in out
    left = stopped_run.parent / "home" / "worktrees" / RUN
    assert f"(in {left}: delete that folder, then `git worktree prune` in the repository" in out
    # Done as said, the moved repository has no worktree of the run left.
    shutil.rmtree(left)
    _git(moved, "worktree", "prune")
    assert _git(moved, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert _status(db_url, capsys)["outcome"] == "failed"


def test_a_merge_the_killed_process_made_but_did_not_log_counts_as_merged(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed between moving the integration branch and logging Merged: the branch holds
    the task, so the abandoned run's log says it was merged, as a resume would find it."""
    repo = stopped_run
    second = TWO_TASKS.tasks[1].id
    wip = f"shopfloor/wip/{RUN}"
    commit = _commit_task(repo, wip, second)

    _run(capsys, "abandon", RUN, "--db", db_url)
    status = _status(db_url, capsys)
    assert status["merged"] == [task.id for task in TWO_TASKS.tasks]
    tasks = {t["id"]: t["state"] for t in status["tasks"]}  # type: ignore[attr-defined]
    assert tasks == {task.id: "merged" for task in TWO_TASKS.tasks}
    assert _git(repo, "rev-parse", wip) == commit  # the branch itself is left as it was


def test_an_answer_left_for_the_run_before_it_was_abandoned_is_not_said_to_wait(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Approved while stopped, then abandoned: the answer will never be taken, so a second
    answer is refused because the run has ended, not because the first one waits for it."""
    out = _run(capsys, "approve", "e-1", "--run", RUN, "--db", db_url)
    assert f"`shopfloor resume r-stopped{db_option(db_url)}` takes it" in out
    _run(capsys, "abandon", RUN, "--db", db_url)
    assert main(["reject", "e-1", "--run", RUN, "--reason", "no", "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "run r-stopped has ended (failed)" in err
    assert "not taken it yet" not in err


def test_escape_sequences_in_a_reason_or_a_plan_never_reach_the_terminal(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A planner's task title and an abandon reason (another person's, on a shared database)
    are printed by ``status``: an escape in them retitled or cleared the reader's terminal."""
    first, second = TWO_TASKS.tasks
    titled = second.model_copy(update={"title": "Command line\x1b]0;owned\x07\x1b[2J"})
    plan = TWO_TASKS.model_copy(update={"tasks": [first, titled]})
    _log_more(db_url, BlueprintProposed(blueprint=plan, revision=2, source="review"))
    _run(capsys, "abandon", RUN, "--reason", "\x1b[2Jwrong\x1b]0;owned\x07 idea", "--db", db_url)
    assert _status(db_url, capsys)["reason"] == "abandoned: wrong idea"
    out = _run(capsys, "status", RUN, "--db", db_url)
    assert "\x1b" not in out and "\x07" not in out
    assert "Command line" in out and "reason: abandoned: wrong idea" in out


def test_a_run_that_merged_nothing_does_not_say_its_merges_stay(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stopped before its first merge (before its plan, say): its branch holds nothing of it."""
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    repo = make_repo(tmp_path / "repo", {"README.md": "hello\n"})
    base = _git(repo, "rev-parse", "HEAD")
    _git(repo, "branch", f"shopfloor/wip/{RUN}", base)
    bus = EventBus(RUN)
    events = [bus.emit(_started(repo, base)), bus.emit(StageChanged(stage=Stage.CRITIC))]

    async def store_it() -> None:
        async with await SqlEventStore.open(db_url) as store:
            await store.append(events)

    asyncio.run(store_it())
    out = _run(capsys, "abandon", RUN, "--db", db_url)
    assert "what it merged" not in out
    assert f"it merged nothing: shopfloor/wip/{RUN} is at the commit it started from" in out


def _commit_task(repo: Path, branch: str, task_id: str) -> str:
    """A squashed task commit on ``branch``, as the merge queue makes one; its sha."""
    tree = _git(repo, "rev-parse", f"{branch}^{{tree}}")
    message = f"{task_id}\n\nShopfloor-Task: {task_id}\n"
    identity = ("-c", "user.name=t", "-c", "user.email=t@t")
    commit = _git(repo, *identity, "commit-tree", tree, "-p", branch, "-m", message)
    _git(repo, "update-ref", f"refs/heads/{branch}", commit)
    return commit


def _log_more(db_url: str, *events: EventBase) -> None:
    async def append() -> None:
        async with await SqlEventStore.open(db_url) as store:
            bus = EventBus(RUN, state=RunState.fold(await store.read(RUN)))
            stamped: list[EventBase] = []
            bus.listen(stamped.append)
            for event in events:
                bus.emit(event)
            await store.append(stamped)

    asyncio.run(append())


def test_a_run_killed_after_it_shipped_says_where_its_work_is(
    stopped_run: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Killed between making the shipped branch (the integration branch deleted) and logging
    its RunFinished: abandoning it names the shipped branch, and its log keeps it."""
    repo = stopped_run
    second = TWO_TASKS.tasks[1].id
    wip = f"shopfloor/wip/{RUN}"
    tip = _commit_task(repo, wip, second)
    _log_more(
        db_url,
        Merged(task_id=second, attempt=2, commit=tip),
        TaskStateChanged(task_id=second, state=TaskState.MERGED, attempt=2),
        StageChanged(stage=Stage.QC),
        StageChanged(stage=Stage.VERIFY),
        StageChanged(stage=Stage.SHIP),
    )
    shipped = f"shopfloor/build-a-greeting-cli-{RUN[:8]}"
    _git(repo, "branch", shipped, tip)
    _git(repo, "branch", "-D", wip)
    _git(repo, "branch", "elsewhere", tip)  # the user's: not the run's shipped branch

    out = _run(capsys, "abandon", RUN, "--db", db_url)
    assert f"it had shipped {shipped} ({tip[:10]}) before it stopped" in out
    status = _status(db_url, capsys)
    assert status["outcome"] == "failed"
    assert status["branch"] == shipped
    assert _git(repo, "rev-parse", shipped) == tip  # the work stays where it is


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr()
    return capsys.readouterr().out
