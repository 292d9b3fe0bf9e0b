"""The event loop a shopfloor process runs on: uvloop's, unless SHOPFLOOR_LOOP says asyncio."""

from __future__ import annotations

import asyncio

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
