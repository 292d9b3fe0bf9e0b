"""The engineer's ``list_files``: the repository's files as git sees them, listed off the loop.

It was an ``rglob`` of the whole worktree on the event loop that every agent, the merge
queue, the TUI and the event writer share (3.2 s for 40,000 files under load, the loop held
all that time), and it listed ``node_modules`` and ``.venv`` file by file.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loop_pauses import pauses
from repo_helpers import git, make_repo

from agents.provider import ToolCall
from agents.tool_specs import ToolResult
from agents.toolbelt import Toolbelt
from gates.sandbox import ProcessSandbox


async def call(belt: Toolbelt, name: str, **args: object) -> ToolResult:
    return await belt.execute(ToolCall("c1", name, dict(args)))


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    made = ProcessSandbox(use_bwrap=False)
    yield made
    made.close()


async def test_list_files_lists_what_git_sees_not_the_ignored_folders(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    root = make_repo(
        tmp_path / "wt",
        {
            ".gitignore": "node_modules/\n.venv/\n*.log\n",
            "src/app.py": "VALUE = 1\n",
            "src/old.py": "OLD = 1\n",
            "README.md": "# app\n",
        },
    )
    for rel in ("node_modules/left-pad/index.js", ".venv/lib/site.py", "debug.log"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")
    (root / "src" / "__pycache__").mkdir()
    (root / "src" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\0")
    (root / "src" / "old.py").unlink()  # deleted, not yet committed
    belt = Toolbelt(root, sandbox)
    wrote = await call(belt, "write_file", path="tests/test_app.py", content="x = 1\n")
    assert not wrote.is_error
    nested = make_repo(root / "vendored", {"lib.py": "y = 1\n"})  # a repository of its own
    assert nested.is_dir()

    listed = (await call(belt, "list_files")).text.splitlines()

    assert listed == [".gitignore", "README.md", "src/app.py", "tests/test_app.py"]


async def test_list_files_in_a_big_worktree_leaves_the_event_loop_running(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    """Each call's longest pause of the loop, against the call's own time: a walk on the
    loop paused it for the whole call (a ratio of 1); listed in a thread, the loop ticks on."""
    root = tmp_path / "wt"
    for d in range(200):
        folder = root / f"pkg{d}" / "src"
        folder.mkdir(parents=True)
        for n in range(100):
            (folder / f"m{n}.py").touch()
    make_repo(root, {".gitignore": "node_modules/\n"})
    git(root, "status", "--porcelain")  # the index refreshed, as a worktree's would be
    belt = Toolbelt(root, sandbox)
    took: list[float] = []

    async def list_files() -> None:
        started = time.monotonic()
        shown = await call(belt, "list_files")
        took.append(time.monotonic() - started)
        assert shown.text.endswith("pkg99/src/m99.py")

    longest = await pauses(list_files, 5)
    ratios = [pause / call_s for pause, call_s in zip(longest, took, strict=True)]
    assert statistics.median(ratios) < 0.5, [f"{r:.2f}" for r in ratios]
