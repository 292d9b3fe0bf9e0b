"""A repository with no code yet gets the gates of the project its run lays down.

The profile was detected once, on the tree the run started from: "Build X" on a new
repository (a README, a LICENSE) had the shrinkage gate alone, and its tasks' code merged
unlinted and untested — a wrong rounding in the demo's pricing task shipped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from test_repo_shapes import GIT_ENV, NO_PLUGINS, write

from gates.cache import GateCache
from gates.config import GatesConfig
from gates.profiles import build_gates
from gates.repo_shape import holds_no_code
from gates.sandbox import ProcessSandbox

PRICES_BROKEN = {
    "pyproject.toml": "[project]\nname = 'shop'\nversion = '0'\n",
    "shop/__init__.py": "",
    "shop/prices.py": "def total(cents: int, qty: int) -> int:\n    return cents * qty + 1\n",
    "tests/test_prices.py": "from shop.prices import total\n\n\n"
    "def test_total() -> None:\n    assert total(250, 2) == 500\n",
}


def test_only_a_repository_of_text_is_greenfield(tmp_path: Path) -> None:
    assert holds_no_code(write(tmp_path / "new", {"README.md": "# shop\n", "LICENSE": "MIT\n"}))
    assert holds_no_code(write(tmp_path / "dots", {".gitignore": "*.pyc\n"}))
    assert not holds_no_code(write(tmp_path / "go", {"main.go": "package main\n"}))
    assert not holds_no_code(write(tmp_path / "py", {"docs/x.md": "", "app/run.py": ""}))


async def test_a_new_repository_gets_the_gates_of_the_project_its_tasks_write(
    tmp_path: Path, process_sandbox: ProcessSandbox
) -> None:
    start = write(tmp_path / "start", {"README.md": "# shop\n"})
    gate_set = build_gates(start, GatesConfig(), process_sandbox, test_env=NO_PLUGINS)
    assert gate_set.profiles == ["detected per tree"]
    names = gate_set.names()
    assert {"lint", "tests", "security", "secrets", "shrinkage"} <= set(names["task"])
    assert {"lint", "tests"} <= set(names["merge"]) and "tests" in names["verify"]

    tests = next(g for g in gate_set.merge if g.name == "tests")
    nothing = await tests.check(start)  # a task that wrote docs only
    assert nothing.passed and "no Python project" in nothing.summary

    built = write(tmp_path / "built", {"README.md": "# shop\n", **PRICES_BROKEN})
    failed = await tests.check(built)  # the first task's project, with its bug
    assert not failed.passed, failed.summary
    assert "1 failed" in failed.summary
    lint = next(g for g in gate_set.task if g.name == "lint")
    assert (await lint.check(built)).summary != nothing.summary  # ruff ran on it
    types = next(g for g in gate_set.task if g.name == "types")
    assert (await types.check(built)).summary == "not run: nothing in this tree configures mypy"
    node = next(g for g in gate_set.task if g.name == "node-test")
    assert (await node.check(built)).summary == "not run: no Node package in this tree"


@pytest.fixture
def committed_build(tmp_path: Path) -> Path:
    """The first task's project, committed (the cache keys a verdict by a git tree)."""
    built = write(tmp_path / "built", {"README.md": "# shop\n", **PRICES_BROKEN})
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "first task"]):
        subprocess.run(["git", *argv], cwd=built, env=GIT_ENV, check=True)
    return built


async def test_a_tree_detected_gate_is_cached_by_the_tree_it_checked(
    tmp_path: Path, process_sandbox: ProcessSandbox, committed_build: Path
) -> None:
    start = write(tmp_path / "start", {"README.md": "# shop\n"})
    cache = GateCache()
    gate_set = build_gates(start, GatesConfig(), process_sandbox, test_env=NO_PLUGINS, cache=cache)
    tests = next(g for g in gate_set.task if g.name == "tests")
    built = committed_build
    first, again = await tests.check(built), await tests.check(built)
    assert not first.passed and not again.passed and again.cached
    fixed = write(
        tmp_path / "built", {"shop/prices.py": PRICES_BROKEN["shop/prices.py"].replace(" + 1", "")}
    )
    assert (await tests.check(fixed)).passed  # another tree: not the cached verdict


def test_a_repository_with_code_keeps_the_gates_detected_at_the_start(tmp_path: Path) -> None:
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        go = build_gates(
            write(tmp_path / "go", {"main.go": "package main\n"}), GatesConfig(), sandbox
        )
    finally:
        sandbox.close()
    assert go.profiles == ["generic"]
    assert go.names()["task"] == ["shrinkage"]


def test_init_says_a_new_repository_gets_its_gates_from_each_tree(tmp_path: Path) -> None:
    from tui.commands.init import detect_gates

    said = " ".join(detect_gates(write(tmp_path / "new", {"README.md": "# shop\n"})))
    assert "chosen from what it holds" in said and "[[gates.custom]]" not in said
    go = " ".join(detect_gates(write(tmp_path / "go", {"main.go": "package main\n"})))
    assert "[[gates.custom]]" in go
