"""A project folder the gates run a command in (the tests gate's and the types gate's
monorepo projects, ``run_tests``'s) that an agent swapped for a link to a folder of the
host: the command ran there, and the jail bound that folder, writable, as the command's own
(pytest collected the host's files, mypy quoted them). Such a folder is walked part by part
(``engine.beneath.folder_beneath``): the gates fail it in one line, ``run_tests`` leaves
it out; a folder linked inside still runs."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from recording_sandbox import RecordingSandbox

from agents.project_tests import ProjectTests
from agents.provider import ToolCall
from agents.toolbelt import Toolbelt
from engine.protocols import GateResult
from gates.mypy_gate import MypyGate
from gates.pytest_gate import PytestGate


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "wt"
    (root / "web").mkdir(parents=True)
    (root / "web" / "test_web.py").write_text("def test_web():\n    pass\n")
    outside = tmp_path / "home" / "me" / "project"
    outside.mkdir(parents=True)
    (outside / "test_private.py").write_text("def test_private():\n    pass\n")
    (root / "api").symlink_to(outside, target_is_directory=True)
    (root / "inner").symlink_to("web", target_is_directory=True)
    return root


def real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def ran_outside(sandbox: RecordingSandbox, workspace: Path) -> list[Path]:
    return [cwd for cwd in map(real, sandbox.cwds) if not cwd.is_relative_to(real(workspace))]


async def check_pytest(sandbox: RecordingSandbox, workspace: Path) -> GateResult:
    return await PytestGate(sandbox, timeout_s=30, projects=("api", "inner")).check(workspace)


async def check_mypy(sandbox: RecordingSandbox, workspace: Path) -> GateResult:
    gate = MypyGate(sandbox, timeout_s=30, projects={"api": ["."], "inner": ["."]})
    return await gate.check(workspace)


@pytest.mark.parametrize("check", [check_pytest, check_mypy])
async def test_a_gate_runs_nothing_in_a_project_linked_out(
    workspace: Path, check: Callable[[RecordingSandbox, Path], Awaitable[GateResult]]
) -> None:
    sandbox = RecordingSandbox(output="1 passed in 0.01s\n")
    result = await check(sandbox, workspace)
    assert ran_outside(sandbox, workspace) == []
    assert real(workspace / "web") in map(real, sandbox.cwds)  # the folder linked inside ran
    assert not result.passed
    assert "api: not run, it leads outside the repository (a symlink)" in result.summary


async def test_a_gate_runs_nothing_again_in_a_project_linked_out(workspace: Path) -> None:
    sandbox = RecordingSandbox(output="1 passed in 0.01s\n")
    gate = PytestGate(sandbox, timeout_s=30, projects=("api", "inner"))
    result = await gate.rerun(workspace, ["api/test_private.py::test_private"])
    assert sandbox.cwds == [] and not result.passed, result.summary


async def test_run_tests_runs_nothing_in_a_project_linked_out(workspace: Path) -> None:
    sandbox = RecordingSandbox(output="1 passed in 0.01s\n")
    belt = Toolbelt(workspace, sandbox, test_timeout_s=30, tests=ProjectTests(("api",)))
    await belt.execute(ToolCall("c1", "run_tests", {}))
    assert ran_outside(sandbox, workspace) == []
    assert [real(cwd) for cwd in sandbox.cwds] == [real(workspace)]
