"""A Python project with a Node front end: a task's gates are its language's, and a verdict
is kept on the files its gate reads.

On pypa/sampleproject with lukeed/clsx in ``web/``, a task that changed only Python ran the
front end's tests, and one that changed only ``web/`` ran pytest, ruff and vulture; every
verdict was keyed on the whole tree, so none was reused from one task to the next."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_node_packages import git, write

from engine.audit import tree_gates
from engine.protocols import GateResult
from gates.cache import GateCache
from gates.config import GatesConfig
from gates.parts import ScopedGate
from gates.profiles import GateSet, build_gates
from gates.sandbox import ProcessSandbox

pytestmark = pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")

FILES = {
    ".gitignore": "node_modules/\n",
    "pyproject.toml": '[project]\nname = "app"\nversion = "0"\n',
    "app/__init__.py": "",
    "app/core.py": "def double(n: int) -> int:\n    return n * 2\n",
    "tests/test_core.py": "from app.core import double\n\n\ndef test_double():\n"
    "    assert double(2) == 4\n",
    "web/package.json": '{"name": "web", "scripts": {"test": "node test.js"}}\n',
    "web/test.js": 'console.log("ok");\n',
}


def commit(repo: Path, files: dict[str, str], message: str) -> None:
    write(repo, files)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    commit(root, FILES, "base")
    return root


@pytest.fixture
def gates(repo: Path, tmp_path: Path) -> Iterator[GateSet]:
    sandbox = ProcessSandbox(use_bwrap=False)
    config = GatesConfig(disable=("security", "secrets", "shrinkage"))
    try:
        yield build_gates(repo, config, sandbox, cache=GateCache(tmp_path / "cache"))
    finally:
        sandbox.close()


async def task_results(gate_set: GateSet, repo: Path) -> dict[str, GateResult]:
    return {gate.name: await gate.check(repo) for gate in gate_set.task}


def skipped(results: dict[str, GateResult]) -> set[str]:
    return {name for name, r in results.items() if r.summary.startswith("not run:")}


async def test_a_task_runs_only_the_gates_of_what_it_changed(repo: Path, gates: GateSet) -> None:
    assert {g.name for g in gates.task} == {"lint", "tests", "dead-code", "node-test"}
    commit(repo, {"app/core.py": FILES["app/core.py"] + "\n\nTWO = 2\n"}, "python only")
    python_task = await task_results(gates, repo)
    assert skipped(python_task) == {"node-test"}, python_task
    assert "changed only Python files" in python_task["node-test"].summary
    commit(repo, {"web/test.js": 'console.log("still ok");\n'}, "web only")
    web_task = await task_results(gates, repo)
    assert skipped(web_task) == {"lint", "tests", "dead-code"}, web_task
    assert "only the Node package(s) web/" in web_task["tests"].summary
    assert web_task["node-test"].passed and not web_task["node-test"].cached
    commit(repo, {"web/app.py": "X = 1\n"}, "a Python file in web/")
    assert skipped(await task_results(gates, repo)) == set()
    commit(repo, {"README.md": "# app\n"}, "a top-level file")  # a front end may read it
    assert skipped(await task_results(gates, repo)) == set()


async def test_a_verdict_is_kept_on_the_files_its_gate_reads(repo: Path, gates: GateSet) -> None:
    node = next(g for g in gates.merge if g.name == "node-test")
    tests = next(g for g in gates.merge if g.name == "tests")
    assert not (await node.check(repo)).cached and not (await tests.check(repo)).cached
    commit(repo, {"app/core.py": FILES["app/core.py"] + "\n\nTWO = 2\n"}, "python only")
    assert (await node.check(repo)).cached  # the front end's files are those of the base
    assert not (await tests.check(repo)).cached
    commit(repo, {"web/test.js": 'console.log("still ok");\n'}, "web only")
    assert not (await node.check(repo)).cached
    assert (await tests.check(repo)).cached


def test_the_baseline_and_audits_run_every_gate_on_the_whole_tree(gates: GateSet) -> None:
    chosen = tree_gates(gates.merge, gates.task, gates.verify)
    assert sorted(g.name for g in chosen) == ["dead-code", "lint", "node-test", "tests"]
    assert not any(isinstance(g, ScopedGate) for g in chosen)
