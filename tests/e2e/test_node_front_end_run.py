"""A repository whose Node front end has nothing installed says so at the run's start, and
its gate's finding says why, instead of an unexplained "exit 127" taken for a red suite."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.e2e.test_modes_and_learning import EXAMPLES, audit_example, cli, git

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed"),
]


async def test_a_front_end_without_node_modules_is_said_at_the_start(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "audit" / "seed", repo)
    package = {"name": "web", "scripts": {"test": "vitest run"}, "devDependencies": {"vitest": "4"}}
    (repo / "web").mkdir()
    (repo / "web" / "package.json").write_text(json.dumps(package), encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "billing with a front end")

    code, out = await audit_example(repo, tmp_path / "report")
    assert code == 0, out
    said = (
        "warning: the Node package in web/ has no node_modules: its test and lint scripts "
        f"cannot run their tools, at the baseline or after any task; run npm install in "
        f"{repo / 'web'}"
    )
    assert said in " ".join(out.split()), out
    report = (tmp_path / "report" / "audit.md").read_text(encoding="utf-8")
    assert "### FAIL node-test: web: exit 127: the package's dependencies are not installed" in (
        report
    ), report
    _, doctor = await cli("doctor", "--repo", str(repo), "--model", "sim:")
    assert "node: the Node package in web/ has no node_modules" in doctor, doctor
