"""``shopfloor export RUN --out FILE`` leaves the whole export or nothing new.

Written in place, an export that failed half way — here the file size limit of the process
(``ulimit -f``, the kernel's EFBIG) standing in for a full disk — left a file that began like
an export and ended mid-line, and cut an older export of the same name short with it.
"""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bus import EventBus
from engine.events import AgentOutput, RunStarted
from storage.store import SqlEventStore

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 1024
"""The export's size limit: well above SQLite's 32 KiB shared-memory file, well below the
export's ~300 KiB."""


def _seed(url: str) -> None:
    async def go() -> None:
        bus = EventBus("r-long")
        started = RunStarted(
            request="Build a long run",
            repo="/repos/long",
            base_branch="main",
            base_commit="0" * 40,
            integration_branch="shopfloor/long",
        )
        events = [bus.emit(started)]
        events += [
            bus.emit(AgentOutput(agent_id="eng-1", text=f"line {i} " + "x" * 80))
            for i in range(2500)
        ]
        async with await SqlEventStore.open(url) as store:
            await store.append(events)

    asyncio.run(go())


def _limit_file_size() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))


@pytest.mark.parametrize("before", [None, "an older export\n"], ids=["new", "over an older"])
def test_an_export_that_fails_half_way_leaves_no_partial_file(db_url, tmp_path, before):
    _seed(db_url)
    out = tmp_path / "exports" / "long.jsonl"
    out.parent.mkdir()
    if before is not None:
        out.write_text(before)
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "export", "r-long", "--db", db_url, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        preexec_fn=_limit_file_size,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 2
    assert done.stderr == f"shopfloor: cannot write {out}: File too large\n"
    if before is None:
        assert not out.exists()  # before: a 64 KiB file ending mid-line
    else:
        assert out.read_text() == before  # before: the older export cut to the new one's start
    assert list(out.parent.iterdir()) == ([] if before is None else [out])  # no scratch left

    # Without the limit, the same command writes it whole.
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "export", "r-long", "--db", db_url, "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 2501
    assert list(out.parent.iterdir()) == [out]
