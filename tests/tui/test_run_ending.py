"""The closing lines of a run: the hint to see what shipped works when pasted into a shell."""

from __future__ import annotations

import io
import shlex
import subprocess
from pathlib import Path

from repo_helpers import git
from rich.console import Console

from engine.events import Merged, Outcome, RunFinished, RunStarted
from engine.state import RunState
from tui.commands.run import print_ending


def test_the_log_hint_runs_as_printed_in_a_repository_with_a_space(tmp_path: Path) -> None:
    repo = tmp_path / "my repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "-b", "shopfloor/feature")
    git(repo, "commit", "-q", "--allow-empty", "-m", "Task one")
    git(repo, "checkout", "-q", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "the user moved on")
    state = RunState.fold(
        [
            RunStarted(
                run_id="r1",
                seq=1,
                request="x",
                repo=str(repo),
                base_branch="main",
                base_commit=base,
                integration_branch="shopfloor/wip/r1",
            ),
            RunFinished(run_id="r1", seq=2, outcome=Outcome.SHIPPED, branch="shopfloor/feature"),
        ]
    )
    out = io.StringIO()
    print_ending(state, Console(file=out, width=200, markup=False))
    (hint,) = [line.strip() for line in out.getvalue().splitlines() if "log --oneline" in line]
    shown = subprocess.run(shlex.split(hint), capture_output=True, text=True, check=True)
    # Only what the run shipped, though main moved on after the run started.
    assert [line.split(" ", 1)[1] for line in shown.stdout.splitlines()] == ["Task one"]


def test_an_interrupted_run_ends_stopped_with_the_commands_that_resume_or_abandon_it() -> None:
    state = RunState.fold(
        [
            RunStarted(
                run_id="r2",
                seq=1,
                request="x",
                repo="/repos/x",
                base_branch="main",
                base_commit="0" * 40,
                integration_branch="shopfloor/wip/r2",
            )
        ]
    )
    out = io.StringIO()
    print_ending(state, Console(file=out, width=80, markup=False))
    text = out.getvalue()
    assert text.splitlines()[0] == "run r2: stopped"  # as `runs` and `status` call it
    assert "`shopfloor resume r2` carries it on" in text
    assert "`shopfloor abandon r2` ends it" in text


def failed_run(repo: Path, base: str, merged: list[str]) -> RunState:
    events: list[RunStarted | Merged | RunFinished] = [
        RunStarted(
            run_id="r3",
            seq=1,
            request="x",
            repo=str(repo),
            base_branch="main",
            base_commit=base,
            integration_branch="shopfloor/wip/r3",
        )
    ]
    events += [
        Merged(run_id="r3", seq=2 + i, task_id=task, attempt=1, commit=base)
        for i, task in enumerate(merged)
    ]
    events.append(
        RunFinished(run_id="r3", seq=9, outcome=Outcome.FAILED, reason="task(s) failed: b")
    )
    return RunState.fold(events)


def test_a_failed_run_names_the_branch_it_leaves_and_how_to_delete_it(tmp_path: Path) -> None:
    """A failed run ended on 'run r3: failed', 'reason: ...', 'repository: ...': its
    shopfloor/wip/ branch, with the task it merged, stayed in the repository unsaid."""
    repo = tmp_path / "my repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "shopfloor/wip/r3")
    out = io.StringIO()
    print_ending(failed_run(repo, base, ["a"]), Console(file=out, width=300, markup=False))
    (line,) = [line for line in out.getvalue().splitlines() if line.startswith("left in")]
    assert line.startswith(
        "left in the repository: shopfloor/wip/r3, with the 1 task(s) the run merged (a); "
    )
    delete = line.split("`")[1]
    subprocess.run(shlex.split(delete), capture_output=True, check=True)
    assert git(repo, "branch", "--list", "shopfloor/wip/*") == ""

    out = io.StringIO()  # the branch is gone: nothing said
    print_ending(failed_run(repo, base, []), Console(file=out, width=300, markup=False))
    assert "left in" not in out.getvalue()
