"""The engineer's tool calls in a big git worktree do not stall the factory.

The toolbelt cleans what commands print of the worktree's secret values. It listed the
secret files again whenever a top-level time moved (three ``git ls-files``, every name
checked), on the event loop: after each file the engineer wrote, its next ``run`` held every
agent, the TUI and the event writer for 0.3-0.6 s in a 20,000-file worktree. The files are
now found by the folder index, in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import make_repo

from agents.provider import ToolCall
from agents.tool_specs import ToolResult
from agents.toolbelt import Toolbelt
from engine import secret_index
from gates.sandbox import ProcessSandbox

SECRET = "hunter2-prod"
DEEP_SECRET = "s3cr3t-deep-value"


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    made = ProcessSandbox(use_bwrap=False)
    yield made
    made.close()


def big_worktree(root: Path, folders: int = 400, files: int = 100) -> Path:
    for d in range(folders):
        folder = root / f"pkg{d}" / "src"
        folder.mkdir(parents=True)
        for n in range(files):
            (folder / f"m{n}.py").touch()
    make_repo(root, {".gitignore": ".env\n.env.*\nout*.txt\n"})
    (root / ".env").write_text(f"DB_PASSWORD={SECRET}\n")
    return root


async def call(belt: Toolbelt, name: str, **args: object) -> ToolResult:
    return await belt.execute(ToolCall("c1", name, dict(args)))


async def test_tool_calls_after_writes_in_a_big_worktree_do_not_stall_the_loop(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    root = big_worktree(tmp_path / "wt")
    belt = Toolbelt(root, sandbox, python=sys.executable)
    gaps: list[float] = []
    done = asyncio.Event()

    async def tick() -> None:  # what every other agent, the TUI and the writer see
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    took: list[float] = []
    try:
        for n in range(8):
            written = await call(belt, "write_file", path=f"out{n}.txt", content="x\n")
            assert not written.is_error
            started = time.monotonic()
            shown = await call(belt, "run", argv=["cat", ".env"])
            took.append(time.monotonic() - started)
            assert "DB_PASSWORD=[REDACTED]" in shown.text and SECRET not in shown.text
        # A secret file written deep in a folder that existed is found too.
        deep = "pkg123/src/.env.local"
        await call(belt, "write_file", path=deep, content=f"API_TOKEN={DEEP_SECRET}\n")
        shown = await call(belt, "run", argv=["cat", deep])
        assert "API_TOKEN=[REDACTED]" in shown.text and DEEP_SECRET not in shown.text
    finally:
        done.set()
        await ticker
    assert max(gaps) < 0.2, f"the event loop stalled {max(gaps):.2f} s"
    # The first call lists the whole worktree (in a thread); the later ones cost a command.
    assert statistics.median(took[1:]) < 0.15, [f"{t:.3f}" for t in took]


async def test_a_fifo_named_like_a_secret_file_does_not_hang_the_tool_calls(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    """A ``.env`` the engineer made as a named pipe (``mkfifo .env``) was opened to read its
    values, and the open waited for a writer that never came: the tool call hung, and with
    it, for good, a thread of the factory. Only regular files are read now."""
    belt = Toolbelt(tmp_path, sandbox, python=sys.executable)

    async def calls() -> tuple[ToolResult, ToolResult]:
        made = await call(belt, "run", argv=["mkfifo", ".env"])
        return made, await call(belt, "run", argv=["echo", "done"])

    try:
        made, shown = await asyncio.wait_for(calls(), 10)
    finally:
        with contextlib.suppress(OSError):  # a reader still waiting gets its end of file
            os.close(os.open(tmp_path / ".env", os.O_WRONLY | os.O_NONBLOCK))
    assert not made.is_error and "done" in shown.text


async def test_a_secret_file_written_deep_is_masked_however_slow_the_looks_are(
    tmp_path: Path, sandbox: ProcessSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A look of the folder index stops after 5 ms, for the event loop's sake. The toolbelt
    and the sandbox look in threads, where stopping early only left a secret file written
    meanwhile unfound: on a machine too loaded to stat the folders in time (a budget of 0
    here), ``cat`` of a ``.env`` just written deep down showed its value to the model. Their
    looks take in every folder now."""
    monkeypatch.setattr(secret_index, "LOOK_BUDGET_S", 0.0)
    for d in range(50):
        (tmp_path / f"pkg{d}" / "src").mkdir(parents=True)
    belt = Toolbelt(tmp_path, sandbox, python=sys.executable)
    assert not (await call(belt, "run", argv=["true"])).is_error  # the first listing
    deep = "pkg40/src/.env"
    await call(belt, "write_file", path=deep, content=f"DB_PASSWORD={SECRET}\n")
    shown = await call(belt, "run", argv=["cat", deep])
    assert "DB_PASSWORD=[REDACTED]" in shown.text and SECRET not in shown.text
