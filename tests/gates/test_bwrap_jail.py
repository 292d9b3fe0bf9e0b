"""The bubblewrap jail: read-only system, writable worktree only, no network, no real home."""

from __future__ import annotations

import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from gates.bwrap import bwrap_argv, git_common_dir, interpreter_paths
from gates.command_gate import CommandGate
from gates.sandbox import ProcessSandbox

CONNECT = """
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    print("connected")
except OSError as exc:
    print(f"refused errno={exc.errno} {exc}")
"""

WRITE = """
import sys
try:
    with open(sys.argv[1], "w") as fh:
        fh.write("written")
    print("write ok")
except OSError as exc:
    print(f"write failed errno={exc.errno}")
"""


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


async def test_network_is_unreachable_in_the_jail(
    bwrap_sandbox: ProcessSandbox, process_sandbox: ProcessSandbox, tmp_path: Path, listener: int
) -> None:
    argv = ["python", "-c", CONNECT, str(listener)]
    outside = await process_sandbox.run(argv, tmp_path)
    assert outside.output.strip() == "connected", "the listener itself must be reachable"
    jailed = await bwrap_sandbox.run(argv, tmp_path)
    assert jailed.returncode == 0, jailed.output
    assert jailed.output.startswith("refused"), jailed.output


async def test_only_the_worktree_is_writable(bwrap_sandbox: ProcessSandbox, tmp_path: Path) -> None:
    worktree = tmp_path / "worktree"
    worktree.mkdir()
    inside = await bwrap_sandbox.run(["python", "-c", WRITE, "made.txt"], worktree)
    assert inside.output.strip() == "write ok"
    assert (worktree / "made.txt").read_text() == "written"

    system = await bwrap_sandbox.run(["python", "-c", WRITE, "/usr/shopfloor-probe"], worktree)
    assert system.output.strip().startswith("write failed"), system.output
    assert not Path("/usr/shopfloor-probe").exists()  # noqa: ASYNC240

    repo_file = Path(__file__).with_name(f"probe-{uuid.uuid4().hex}.txt")
    beside = await bwrap_sandbox.run(["python", "-c", WRITE, str(repo_file)], worktree)
    assert beside.output.strip().startswith("write failed"), beside.output
    assert not repo_file.exists()

    sibling = tmp_path / "sibling.txt"
    await bwrap_sandbox.run(["python", "-c", WRITE, str(sibling)], worktree)
    assert not sibling.exists(), "a write outside the worktree reached the host"


async def test_real_home_is_hidden(bwrap_sandbox: ProcessSandbox, tmp_path: Path) -> None:
    real_home = Path.home()
    if not real_home.is_dir() or real_home == Path("/"):
        pytest.skip("no real home directory to hide")
    canary = real_home / f".shopfloor-canary-{uuid.uuid4().hex}"
    canary.write_text("secret-token-value")
    try:
        script = (
            "import os, sys\n"
            "print('home', os.path.expanduser('~'))\n"
            "try:\n"
            "    print(open(sys.argv[1]).read())\n"
            "except OSError as exc:\n"
            "    print('unreadable', exc.errno)\n"
        )
        result = await bwrap_sandbox.run(["python", "-c", script, str(canary)], tmp_path)
    finally:
        canary.unlink()
    assert "secret-token-value" not in result.output
    assert f"home {bwrap_sandbox.home}" in result.output
    assert "unreadable" in result.output


async def test_private_home_in_process_mode(
    process_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    script = "import os; print(os.path.expanduser('~'))"
    result = await process_sandbox.run(["python", "-c", script], tmp_path)
    assert result.output.strip() == str(process_sandbox.home)
    assert process_sandbox.home != Path.home()


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
async def test_git_works_in_a_linked_worktree(
    bwrap_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    main = make_repo(tmp_path / "main", {"a.txt": "a"})
    worktree = tmp_path / "attempt"
    git(main, "worktree", "add", "-q", "--detach", str(worktree))
    assert git_common_dir(worktree) == (main / ".git").resolve()
    result = await bwrap_sandbox.run(["git", "rev-parse", "HEAD"], worktree)
    assert result.returncode == 0, result.output
    assert result.output.strip() == git(main, "rev-parse", "HEAD")


def test_mount_order_puts_the_worktree_after_the_hidden_areas(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    argv = bwrap_argv(
        "/usr/bin/bwrap",
        ["python", "-V"],
        cwd=tmp_path / "wt",
        home=tmp_path / "home",
        hidden=[tmp_path],
        readable=[venv, Path("/usr")],
    )
    text = " ".join(argv)
    assert text.index(f"--tmpfs {tmp_path}") < text.index(f"--ro-bind {venv} {venv}")
    assert text.index(f"--ro-bind {venv}") < text.index(f"--bind {tmp_path / 'wt'}")
    assert "--ro-bind /usr /usr" not in text, "paths outside hidden areas need no rebind"
    assert "--unshare-net" in argv and "--die-with-parent" in argv
    assert argv[-3:] == ["--", "python", "-V"]


def test_a_folder_of_a_path_bound_back_is_not_bound_again(tmp_path: Path) -> None:
    """The interpreter's venv and its ``bin`` (``interpreter_paths``) were two mounts a
    command, the second showing nothing the first did not."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    argv = bwrap_argv(
        "/usr/bin/bwrap",
        ["python", "-V"],
        cwd=tmp_path / "wt",
        home=tmp_path / "home",
        hidden=[tmp_path],
        readable=[venv / "bin", venv, tmp_path / "wt" / ".venv"],
    )
    binds = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--ro-bind"]
    assert binds == ["/", str(venv)]


async def test_the_interpreter_paths_are_found_once(
    bwrap_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """They were resolved again (four ``realpath`` walks) for every command."""
    (tmp_path / "wt").mkdir()
    await bwrap_sandbox.run(["true"], tmp_path / "wt")
    found = interpreter_paths.cache_info().misses
    for _ in range(3):
        assert (await bwrap_sandbox.run(["python", "-c", "pass"], tmp_path / "wt")).returncode == 0
    assert interpreter_paths.cache_info().misses == found


async def test_a_command_the_jail_hides_could_not_start(
    bwrap_sandbox: ProcessSandbox, tmp_path: Path
) -> None:
    """bwrap's ``execvp …: No such file or directory`` (exit 127) was judged a failure of
    the code: at the baseline the gate was "red at baseline, not blocking" and stayed so,
    never saying that it had never run."""
    tool = tmp_path / "tools" / "check"  # /tmp is hidden in the jail
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    tool.chmod(0o755)
    (tmp_path / "repo").mkdir()
    result = await CommandGate(bwrap_sandbox, name="c", argv=[str(tool)]).check(tmp_path / "repo")
    assert not result.passed
    assert result.summary.startswith(f"{tool} could not start in the sandbox (No such file")
    assert "a folder the sandbox hides" in result.summary
    assert "could not start" in result.findings[0].message
