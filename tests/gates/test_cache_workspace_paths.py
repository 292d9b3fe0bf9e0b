"""A cached verdict quotes the workspace that asks, not the one it was reached in.

pytest quotes a test module it cannot import by its absolute path. A verdict stored from an
update run's baseline worktree, replayed by a later audit of the same tree, quoted
``…/worktrees/3b5cd280627a/baseline/tests/…``: another run's worktree, deleted long before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import commit, git

from engine.audit import run_audit
from engine.protocols import Finding, GateResult
from gates.cache import GateCache
from gates.pytest_gate import PytestGate
from gates.sandbox import ProcessSandbox


class _Quoting:
    """A gate whose finding quotes its workspace's path, as pytest's collection error does."""

    name = "tests"

    def __init__(self) -> None:
        self.runs = 0

    def fingerprint(self) -> str:
        return "quoting"

    async def check(self, workspace: Path) -> GateResult:
        self.runs += 1
        where = f"{workspace}/tests/test_a.py"
        return GateResult(
            gate=self.name,
            passed=False,
            summary="0 passed, 1 error",
            findings=[Finding(message="collection failed", detail=f"importing '{where}'.")],
            output_tail=f"ERROR {where}\n{workspace}2/other stays\n",
        )


def _repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    commit(path, files, "base")
    return path


def _clone(source: Path, target: Path) -> Path:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True, env=env)
    return target


async def test_a_hit_quotes_the_asking_workspace(tmp_path: Path) -> None:
    first = _repo(tmp_path / "worktrees" / "3b5cd280627a" / "baseline", {"a.py": "X = 1\n"})
    second = _clone(first, tmp_path / "audit" / "tree")
    inner = _Quoting()
    cached = GateCache(tmp_path / "gate-cache").wrap(inner)
    await cached.check(first)
    shutil.rmtree(first)
    again = await GateCache(tmp_path / "gate-cache").wrap(inner).check(second)  # a later run
    assert (again.cached, inner.runs) == (True, 1)
    assert again.findings[0].detail == f"importing '{second}/tests/test_a.py'."
    assert again.output_tail == f"ERROR {second}/tests/test_a.py\n{first}2/other stays\n"
    assert str(first) not in again.model_dump_json().replace(f"{first}2/", "")


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    box = ProcessSandbox(use_bwrap=False)
    yield box
    box.close()


async def test_an_audit_quotes_paths_relative_to_the_repository(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    """The tests gate ran on an update's baseline worktree; the audit of the same tree then
    took its verdict from the cache, and its report named the deleted worktree."""
    repo = _repo(
        tmp_path / "repo",
        {"tests/test_a.py": "import nothere\n\n\ndef test_a() -> None:\n    pass\n"},
    )
    baseline = _clone(repo, tmp_path / "worktrees" / "3b5cd280627a" / "baseline")
    gate = PytestGate(sandbox, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, timeout_s=60)
    first = await GateCache(tmp_path / "gate-cache").wrap(gate).check(baseline)
    assert f"{baseline}/tests/test_a.py" in first.findings[0].detail
    shutil.rmtree(baseline)
    report = await run_audit(
        run_id="r2",
        request="Audit",
        repo=repo,
        commit=git(repo, "rev-parse", "HEAD"),
        gates=[GateCache(tmp_path / "gate-cache").wrap(gate)],
        reviewers=[],
        emit=lambda event: None,
    )
    (entry,) = report.gates
    (finding,) = entry.findings
    assert "ModuleNotFoundError" in finding.message
    assert "importing test module 'tests/test_a.py'" in finding.detail
    assert "3b5cd280627a" not in report.model_dump_json()
    assert "shopfloor-audit-" not in report.model_dump_json()  # nor the audit's own copy
