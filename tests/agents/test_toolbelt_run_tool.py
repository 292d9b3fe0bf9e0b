"""The toolbelt's ``run`` tool: an argv list run through the sandbox in the worktree, with a
time limit, bounded output, and no program from outside the worktree by path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from agents.provider import ToolCall
from agents.toolbelt import MAX_OUTPUT, Toolbelt
from gates.sandbox import ProcessSandbox
from tests.gates.conftest import BWRAP_USABLE


@pytest.fixture
def sandbox() -> ProcessSandbox:
    made = ProcessSandbox(use_bwrap=False)
    yield made
    made.close()


async def run(belt: Toolbelt, **args: object):
    return await belt.execute(ToolCall("c1", "run", dict(args)))


async def test_a_command_runs_in_the_worktree_with_its_exit_code(tmp_path: Path, sandbox):
    (tmp_path / "data.txt").write_text("hello\n")
    belt = Toolbelt(tmp_path, sandbox, python=sys.executable)
    ok = await run(belt, argv=["python", "-c", "print(open('data.txt').read().strip())"])
    assert not ok.is_error
    assert ok.text.splitlines()[1] == "hello" and ok.text.endswith("[exit code 0]")
    failed = await run(belt, argv=["python", "-c", "raise SystemExit(4)"])
    assert failed.is_error and failed.text.endswith("[exit code 4]")
    assert belt.commands_run == 2


async def test_huge_output_is_cut_with_a_note(tmp_path: Path, sandbox):
    belt = Toolbelt(tmp_path, sandbox)
    result = await run(belt, argv=["python", "-c", "print('x' * 500_000)"])
    assert len(result.text) < MAX_OUTPUT + 200
    assert "characters cut" in result.text


async def test_the_time_limit_is_capped_by_the_toolbelt(tmp_path: Path, sandbox):
    belt = Toolbelt(tmp_path, sandbox, command_timeout_s=0.5)
    result = await run(belt, argv=["python", "-c", "import time; time.sleep(10)"], timeout_s=999)
    assert result.text.endswith("[timed out]")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"argv": "ls -la"}, "argv must be a non-empty list"),
        ({"argv": []}, "argv must be a non-empty list"),
        ({"argv": ["ls", 3]}, "argv must be a non-empty list"),
        ({"argv": ["x"] * 65}, "argv is limited to 64 arguments"),
        ({"argv": ["../outside.sh"]}, "paths may not leave the repository"),
        ({"argv": ["/bin/sh", "-c", "id"]}, "absolute paths are not allowed"),
        ({"argv": ["ls"], "timeout_s": -1}, "timeout_s must be a positive number"),
        # NaN parses from a model's JSON; it killed the command at once as "timed out".
        ({"argv": ["ls"], "timeout_s": float("nan")}, "timeout_s must be a positive number"),
    ],
)
async def test_bad_or_escaping_commands_are_refused(tmp_path: Path, sandbox, args, message):
    belt = Toolbelt(tmp_path, sandbox)
    result = await run(belt, **args)
    assert result.is_error and message in result.text
    assert belt.commands_run == 0


async def test_a_script_of_the_worktree_runs_by_relative_path(tmp_path: Path, sandbox):
    script = tmp_path / "tools" / "check.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho checked\n")
    script.chmod(0o755)
    result = await run(Toolbelt(tmp_path, sandbox), argv=["tools/check.sh"])
    assert not result.is_error and "checked" in result.text


async def test_run_tests_output_is_plain_where_the_project_asks_pytest_for_colour(
    tmp_path: Path, sandbox
):
    """python-slugify's ``addopts = "--color=yes"`` wrapped every dot and each diff line of
    the engineer's run_tests results in ANSI escapes: tokens for nothing."""
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--color=yes"\n')
    (tmp_path / "test_slug.py").write_text("def test_suffix():\n    assert 'a-1' == 'a-2'\n")
    belt = Toolbelt(tmp_path, sandbox, python=sys.executable)
    result = await belt.execute(ToolCall("c1", "run_tests", {}))
    assert "1 failed" in result.text and "- a-2" in result.text
    assert "\x1b" not in result.text, result.text


@pytest.fixture
def linked_worktree(tmp_path: Path) -> Path:
    main, worktree = make_repo(tmp_path / "main", {"app.py": ""}), tmp_path / "attempt"
    git(main, "worktree", "add", "-q", "--detach", str(worktree))
    return worktree


async def test_the_run_tool_cannot_rewrite_the_worktrees_git_pointer(linked_worktree: Path):
    """The jail binds a linked worktree's ``.git`` file read-only, as the coding agent's fence
    does: rewritten, it had the next command's jail bind the folder it named."""
    if not BWRAP_USABLE:
        pytest.skip("bubblewrap unusable here")
    worktree = linked_worktree
    before = (worktree / ".git").read_bytes()
    jailed = ProcessSandbox(use_bwrap=True)
    try:
        belt = Toolbelt(worktree, jailed)
        result = await run(belt, argv=["sh", "-c", "echo 'gitdir: /tmp/x' > .git"])
        status = await run(belt, argv=["git", "status", "--short"])
    finally:
        jailed.close()
    assert result.is_error and "Read-only file system" in result.text, result.text
    assert (worktree / ".git").read_bytes() == before
    assert not status.is_error, status.text
