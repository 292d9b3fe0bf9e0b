"""The event loop a shopfloor process runs on: uvloop's, unless SHOPFLOOR_LOOP says asyncio."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import loop


async def _running_loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_run_uses_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("uvloop")
    monkeypatch.delenv(loop.LOOP_VARIABLE, raising=False)
    assert loop.loop_name() == "uvloop"
    assert loop.run(_running_loop_module()) == "uvloop"


def test_shopfloor_loop_asyncio_picks_asyncios_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loop.LOOP_VARIABLE, " AsyncIO ")
    assert loop.loop_factory() is None and loop.loop_name() == "asyncio"
    assert loop.run(_running_loop_module()) == "asyncio"


def test_an_unknown_shopfloor_loop_is_refused_and_the_program_never_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(loop.LOOP_VARIABLE, "asycnio")  # a typo must not quietly mean uvloop
    program = _running_loop_module()
    with pytest.raises(loop.LoopChoiceError, match="SHOPFLOOR_LOOP='asycnio' is not an event"):
        loop.run(program)
    assert program.cr_frame is None  # closed: no "coroutine was never awaited" warning


CTRL_C_WHILE_CLOSING = """
import asyncio, os, signal, threading, time
from engine.loop import run

async def main():
    # A thread of the default executor still busy when the run's coroutine returns (a git
    # call, a file write): closing the loop waits for it, and a second Ctrl-C comes meanwhile.
    asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.5)
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    return 0

try:
    run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("chosen", loop.LOOP_CHOICES)
def test_a_ctrl_c_while_the_loop_closes_is_an_interrupt_and_no_traceback(
    chosen: str, tmp_path: Path
) -> None:
    # After a run stopped on Ctrl-C, a second Ctrl-C that came while the loop shut its
    # executor down closed uvloop's loop under the thread that joins the executor: that
    # thread's "RuntimeError: Event loop is closed" printed two tracebacks on the terminal.
    if chosen == "uvloop":
        pytest.importorskip("uvloop")
    script = tmp_path / "ctrl_c.py"
    script.write_text(CTRL_C_WHILE_CLOSING)
    env = {**os.environ, loop.LOOP_VARIABLE: chosen}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stdout == "interrupted\n"  # the Ctrl-C still ends the program as one
