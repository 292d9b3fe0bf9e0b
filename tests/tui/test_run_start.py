"""A run's start probes its jail while git reads the repository (tui.run_start): bubblewrap's
self-test does not wait for the git commands, nor they for it; the read's refusal is raised
once the probes are done."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import make_repo

from engine.build_dirs import BuildDirs
from engine.state import RunState
from engine.workspace_errors import WorkspaceError
from gates.bwrap import probe_bwrap
from gates.interpreter import candidates
from tui.config import Settings
from tui.run_plan import RunPlan
from tui.run_start import RepositoryReading, jail_and_python

WAIT_S = 10


@pytest.fixture
def fresh_probe() -> Iterator[None]:
    """bubblewrap's self-test is cached per process: each test probes the bwrap it put on
    PATH, and the tests after it the real one."""
    probe_bwrap.cache_clear()
    yield
    probe_bwrap.cache_clear()


def bwrap_waiting_for_git(bin_dir: Path, trace: Path) -> None:
    """A ``bwrap`` whose self-test passes only once git has run in this process's children
    (``trace``: git's GIT_TRACE log), within WAIT_S; it fails when it ran before git did.
    (The self-test runs with PATH alone in its environment: the log's path is written in.)"""
    bin_dir.mkdir()
    script = bin_dir / "bwrap"
    script.write_text(
        "#!/bin/sh\n"
        f"for _ in $(seq {WAIT_S * 20}); do\n"
        f"  [ -s '{trace}' ] && exit 0\n"
        "  sleep 0.05\n"
        "done\n"
        "echo 'git never ran' >&2\n"
        "exit 1\n"
    )
    script.chmod(0o755)


def plan_for(repo: Path, resume: RunState | None = None) -> RunPlan:
    return RunPlan(request="Add x", repo=repo, db_url="", settings=Settings(), resume=resume)


async def test_the_jail_is_probed_while_git_reads_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_probe: None
) -> None:
    code = {f"shop/m{i}.py": f"def f{i}() -> int:\n    return {i}\n" * 20 for i in range(6)}
    repo = make_repo(tmp_path / "repo", code)
    trace = tmp_path / "git.log"
    bwrap_waiting_for_git(tmp_path / "bin", trace)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("GIT_TRACE", str(trace))
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    found = candidates(repo, None)
    build_dirs = BuildDirs.for_run(tmp_path / "home" / "worktrees", "r1")

    plan = plan_for(repo)
    reading = RepositoryReading(plan, "r1", build_dirs)
    sandbox, python = await jail_and_python(plan, found, [], build_dirs)
    read = await reading.read()
    try:
        # One after the other, the self-test ran before any git command and failed.
        assert sandbox.kind == "bwrap", sandbox.fallback_reason
        assert read.workspaces.path == repo.resolve()
        assert read.mode == "update"  # a repository with code: detected from what git tracks
        assert python.origin == "shopfloor's own"
    finally:
        sandbox.close()


async def test_a_repository_refused_is_refused_once_the_jail_is_probed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_probe: None
) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    # A resume whose base commit the repository does not hold: another repository there.
    state = RunState(run_id="r2", repo=str(repo), base_commit="0" * 40, mode="update")
    build_dirs = BuildDirs.for_run(tmp_path / "home" / "worktrees", "r2")

    reading = RepositoryReading(plan_for(repo, state), "r2", build_dirs)
    sandbox, _ = await jail_and_python(
        plan_for(repo, state), candidates(repo, None), [], build_dirs
    )
    sandbox.close()
    with pytest.raises(WorkspaceError, match="the run cannot go on there"):
        await reading.read()
    await reading.settled()  # said once: a set-up failing elsewhere waits on it quietly
