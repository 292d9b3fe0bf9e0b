"""The closing lines of a run: the hint to see what shipped works when pasted into a shell."""

from __future__ import annotations

import io
import shlex
import subprocess
from pathlib import Path

from repo_helpers import git
from rich.console import Console

from engine.events import Outcome, RunFinished, RunStarted
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
