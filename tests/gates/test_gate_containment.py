"""A hostile gate command is contained, and the gate's finding says what happened.

Writing outside the worktree, reading the real home, opening a socket need the bwrap jail
(skipped only where bwrap is unusable); an API key in the environment and a command that runs
forever are contained by both sandbox kinds.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gates.command_gate import CommandGate
from gates.sandbox import ProcessSandbox


def gate(sandbox: ProcessSandbox, script: str, *args: str, timeout_s: float = 30) -> CommandGate:
    return CommandGate(
        sandbox, name="hostile", argv=["python", "-c", script, *args], timeout_s=timeout_s
    )


@pytest.fixture
def worktree(tmp_path: Path) -> Path:
    path = tmp_path / "worktree"
    path.mkdir()
    return path


async def test_a_write_outside_the_worktree_is_refused(
    bwrap_sandbox: ProcessSandbox, worktree: Path, tmp_path: Path
) -> None:
    target = Path(__file__).with_name(f"escaped-{uuid.uuid4().hex}.txt")  # the real checkout
    script = "import sys; open(sys.argv[1], 'w').write('escaped')"
    result = await gate(bwrap_sandbox, script, str(target)).check(worktree)
    assert not target.exists()
    assert not result.passed
    assert "exited 1" in result.findings[0].message
    # Read-only where the checkout is visible in the jail; absent where it lives under /tmp,
    # which the jail replaces with its own empty tmpfs (a fresh CI clone may be there).
    message = result.findings[0].message
    assert "Read-only file system" in message or "No such file or directory" in message
    beside = tmp_path / "beside.txt"  # under /tmp the jail has a throwaway tmpfs
    await gate(bwrap_sandbox, script, str(beside)).check(worktree)
    assert not beside.exists()


async def test_a_read_under_the_real_home_finds_nothing(
    bwrap_sandbox: ProcessSandbox, worktree: Path
) -> None:
    home = Path.home()
    if not home.is_dir() or home == Path("/"):
        pytest.skip("no real home directory")
    canary = home / f".shopfloor-gate-canary-{uuid.uuid4().hex}"
    canary.write_text("hunter2-canary")
    try:
        script = "import sys; print(open(sys.argv[1]).read())"
        result = await gate(bwrap_sandbox, script, str(canary)).check(worktree)
    finally:
        canary.unlink()
    assert not result.passed
    assert "hunter2-canary" not in result.output_tail
    assert "FileNotFoundError" in result.findings[0].message


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    yield server.getsockname()[1]
    server.close()


async def test_a_socket_cannot_reach_the_network(
    bwrap_sandbox: ProcessSandbox, worktree: Path, listener: int
) -> None:
    script = "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 2)"
    result = await gate(bwrap_sandbox, script, str(listener)).check(worktree)
    assert not result.passed
    assert "ConnectionRefusedError" in result.findings[0].message or (
        "OSError" in result.findings[0].message
    )


async def test_an_api_key_in_the_environment_never_reaches_the_gate(
    any_sandbox: ProcessSandbox, worktree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"sk-ant-{uuid.uuid4().hex}"
    monkeypatch.setenv("ANTHROPIC_API_KEY", canary)
    monkeypatch.setenv("GITHUB_TOKEN", canary)
    script = (
        "import os, sys\n"
        "leaked = [k for k, v in os.environ.items() if v.startswith('sk-ant-')]\n"
        "print('leaked:', leaked or 'nothing')\n"
        "sys.exit(1 if leaked else 0)\n"
    )
    result = await gate(any_sandbox, script).check(worktree)
    assert result.passed, result.failure_context()
    assert "leaked: nothing" in result.output_tail
    assert canary not in result.output_tail


async def test_a_command_that_runs_forever_is_killed_with_a_finding(
    any_sandbox: ProcessSandbox, worktree: Path
) -> None:
    any_sandbox.kill_grace_s = 0.2
    script = "import time\nwhile True:\n    time.sleep(0.05)\n"
    result = await gate(any_sandbox, script, timeout_s=1.0).check(worktree)
    assert not result.passed
    assert result.findings[0].message == "python did not finish within 1s and was killed"
    assert result.duration_s < 10
