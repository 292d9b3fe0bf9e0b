"""The gate cache's key holds the files the repository's ignore rules match.

A task's file that ``.gitignore`` matched (``lib/`` in Python's template) was in the
attempt's worktree when its gates ran, and absent from the merged tree; the key, made of
what git tracks and the untracked files it shows, was the same for both, so the merge gates
took the attempt's green verdict for a tree that did not import.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from repo_helpers import commit

from engine.protocols import GateResult
from gates.cache import GateCache, tree_key


def _repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True)
    commit(path, {".gitignore": "lib/\n*.log\n", "app.py": "from lib.util import f\n"}, "base")
    return path


def test_an_ignored_file_is_part_of_the_key_and_tool_caches_are_not(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    bare = tree_key(repo)
    assert bare is not None
    (repo / "lib").mkdir()
    (repo / "lib" / "util.py").write_text("def f():\n    return 1\n")
    with_file = tree_key(repo)
    assert with_file != bare
    (repo / "lib" / "util.py").write_text("def f():\n    return 2\n")
    assert tree_key(repo) not in (bare, with_file)
    (repo / "lib" / "util.py").unlink()
    (repo / "lib" / "__pycache__").mkdir()
    (repo / "lib" / "__pycache__" / "util.cpython-311.pyc").write_bytes(b"\0")
    (repo / ".pytest_cache").mkdir()
    (repo / ".pytest_cache" / "README.md").write_text("cache\n")
    assert tree_key(repo) == bare


class _Green:
    name = "tests"

    def __init__(self) -> None:
        self.runs = 0

    async def check(self, workspace: Path) -> GateResult:
        self.runs += 1
        return GateResult(gate=self.name, passed=True, summary="green")


def _clone(source: Path, target: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "clone", "-q", str(source), str(target)], check=True, env=env)


async def test_a_verdict_on_a_tree_with_an_ignored_file_is_not_reused_without_it(
    tmp_path: Path,
) -> None:
    attempt = _repo(tmp_path)
    (attempt / "lib").mkdir()
    (attempt / "lib" / "util.py").write_text("def f():\n    return 1\n")
    merged = tmp_path / "merged"
    _clone(attempt, merged)
    assert not (merged / "lib").exists()
    gate = _Green()
    wrapped = GateCache().wrap(gate)
    await wrapped.check(attempt)
    result = await wrapped.check(merged)
    assert gate.runs == 2 and not result.cached
