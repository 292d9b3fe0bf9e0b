"""``shopfloor resume`` of a run whose repository is no longer where, or what, it was.

The run's log holds its RunStarted only (stopped at once); between the stop and the resume the
user moved the repository away, or put another repository at its path. The resume refuses in
one line on stderr that says what to do, exit code 2, before anything starts, and the run
stays resumable.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from engine import loop as event_loop
from engine.bus import EventBus
from engine.events import RunStarted
from storage.store import SqlEventStore
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "examples" / "inventory" / "playbook.yaml"
RUN_ID = "r-refused-resume"


async def store_stopped_run(db: Path, repo: Path) -> str:
    """A run started on ``repo``'s HEAD and stopped before anything else was logged."""
    base = git(repo, "rev-parse", "HEAD")
    started = EventBus(RUN_ID).emit(
        RunStarted(
            request="add stock",
            repo=str(repo),
            base_branch="main",
            base_commit=base,
            integration_branch=f"shopfloor/wip/{RUN_ID}",
            models={"planner": "sim:"},
            simulated=True,
            settings={"playbook": str(PLAYBOOK), "speed": "200.0", "workers": "1"},
        )
    )
    async with await SqlEventStore.open(str(db)) as store:
        await store.append([started])
    return base


def still_running(db: Path, capsys: pytest.CaptureFixture[str]) -> bool:
    assert main(["status", RUN_ID, "--json", "--db", str(db)]) == 0
    return bool(json.loads(capsys.readouterr().out)["outcome"] == "running")


def test_a_moved_repository_is_named_with_what_to_do(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    db = tmp_path / "runs.db"
    event_loop.run(store_stopped_run(db, repo))
    shutil.move(repo, tmp_path / "elsewhere")

    assert main(["resume", RUN_ID, "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f"shopfloor: repository not found: {repo}, where run {RUN_ID} works (moved or "
        "deleted?): put it back at that path and resume again"
    ]
    assert still_running(db, capsys)


def test_a_resume_on_a_path_that_now_holds_a_file_says_so(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "Moved or deleted?" is for a path that holds nothing; a file there is said as a new
    run says it."""
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    db = tmp_path / "runs.db"
    event_loop.run(store_stopped_run(db, repo))
    shutil.rmtree(repo)
    repo.write_text("a file now\n", encoding="utf-8")

    assert main(["resume", RUN_ID, "--db", str(db)]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"shopfloor: the repository is a file, not a folder: {repo}"
    ]
    assert still_running(db, capsys)


def test_run_resume_unfinished_names_the_run_whose_repository_moved(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``run`` refuses a missing ``--repo`` before the factory loads, but not with
    ``--resume-unfinished``: the stopped run of that request on that path is looked up first,
    and named, as ``resume`` names it."""
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    db = tmp_path / "runs.db"
    event_loop.run(store_stopped_run(db, repo))
    shutil.move(repo, tmp_path / "elsewhere")

    words = ["run", "add stock", "--repo", str(repo), "--db", str(db)]
    assert main([*words, "--resume-unfinished"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"shopfloor: repository not found: {repo}, where run {RUN_ID} works (moved or "
        "deleted?): put it back at that path and resume again"
    ]
    assert main(words) == 2  # a new run: nothing to name
    assert capsys.readouterr().err.splitlines() == [f"shopfloor: repository not found: {repo}"]
    assert still_running(db, capsys)


def test_another_repository_at_the_path_is_refused_before_anything_is_said(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a warning that the run 'goes on from' a commit the repository does not have,
    a GitCommandError traceback, and the run recorded as failed (internal error)."""
    repo = make_repo(tmp_path / "repo", {"README.md": "# shop\n"})
    db = tmp_path / "runs.db"
    base = event_loop.run(store_stopped_run(db, repo))
    shutil.rmtree(repo)
    make_repo(repo, {"other.txt": "a fresh clone of something else\n"})

    assert main(["resume", RUN_ID, "--db", str(db)]) == 2
    captured = capsys.readouterr()
    assert "warning" not in captured.out and "Traceback" not in captured.err
    assert captured.err.splitlines() == [
        f"shopfloor: commit {base[:10]} where run {RUN_ID} started is not in {repo} (another "
        "repository there, or its history rewritten and pruned?): the run cannot go on there; "
        "start a new run"
    ]
    assert still_running(db, capsys)
    assert git(repo, "branch", "--list", "shopfloor/*") == ""
