"""A ``cli:`` agent builds a Rust crate in its attempt's cargo target folder (the worker
slot's, :mod:`engine.build_dirs`), as the gates after it do, not in the worktree's own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agents.providers.cli import CliProvider
from agents.providers.cli_agents import CliAgent
from agents.roles.engineer import EngineerRole
from engine.blueprint import Blueprint, Task
from engine.protocols import EngineerJob
from gates.sandbox import ProcessSandbox

SAYS_TARGET = "import os; print('target:', os.environ.get('CARGO_TARGET_DIR', 'unset'))"


@pytest.mark.parametrize("slot", [True, False])
async def test_the_agent_runs_with_its_slots_cargo_target_folder(
    tmp_path: Path, slot: bool
) -> None:
    blueprint = Blueprint(
        spec="Say hi",
        acceptance_criteria=["hello.rs says hi"],
        tasks=[Task(id="hi", title="Write hello.rs", files=["hello.rs"])],
    )
    target = tmp_path / "slots" / "0" / "target"
    job = EngineerJob(
        "run-1",
        blueprint.tasks[0],
        blueprint,
        tmp_path,
        attempt=1,
        max_attempts=2,
        build_dir=target if slot else None,
    )
    agent = CliAgent((sys.executable, "-c", SAYS_TARGET), "text", 30.0)
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        role = EngineerRole(CliProvider("probe", agent), sandbox, context_budget=0)
        report = await role.work(job, lambda _event: None)
    finally:
        sandbox.close()
    assert report.summary == f"target: {target if slot else 'unset'}"
