"""Running a gate list: read-only gates overlap, any other gate runs alone, order is kept.

A task's gates used to run one after another: the linters and scanners, which only read the
tree, waited for each other (about a second a task with the Python profile's six gates).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine import gate_runner
from engine.events import EventBase, GateFinished
from engine.gate_runner import run_gates
from engine.protocols import GateResult
from gates.cache import GateCache
from gates.command_gate import CommandGate
from gates.config import GatesConfig
from gates.profiles import TreeDetectedGate
from gates.pytest_gate import PytestGate
from gates.python_tools import RuffGate
from gates.sandbox import ProcessSandbox
from gates.shrinkage import ShrinkageGate


class Meter:
    """How many gates run at once, and the most seen."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self.beside: dict[str, int] = {}
        """Per gate, the most other gates seen running while it ran."""


class FakeGate:
    """Takes ``seconds`` and records how many other gates ran beside it."""

    def __init__(
        self,
        name: str,
        meter: Meter,
        *,
        reads_only: bool,
        seconds: float = 0.05,
        crash: bool = False,
    ) -> None:
        self.name = name
        self.meter = meter
        self.reads_only = reads_only
        self.seconds = seconds
        self.crash = crash

    async def check(self, workspace: Path) -> GateResult:
        m = self.meter
        m.now += 1
        m.peak = max(m.peak, m.now)
        most = m.now - 1
        try:
            for _ in range(5):
                await asyncio.sleep(self.seconds / 5)
                most = max(most, m.now - 1)
            if self.crash:
                raise RuntimeError("tool vanished")
        finally:
            m.now -= 1
            m.beside[self.name] = most
        return GateResult(gate=self.name, passed=True, summary="ok", duration_s=self.seconds)


async def _run(gates: list[FakeGate], tmp_path: Path) -> tuple[list[GateResult], list[str]]:
    seen: list[EventBase] = []
    results = await run_gates(gates, tmp_path, scope="task", emit=seen.append, task_id="t")
    names = [e.gate for e in seen if isinstance(e, GateFinished)]
    return results, names


async def test_read_only_gates_run_beside_each_other(tmp_path: Path) -> None:
    meter = Meter()
    gates = [FakeGate(n, meter, reads_only=True) for n in ("lint", "security", "secrets")]
    results, _ = await _run(gates, tmp_path)
    assert meter.peak == 3
    assert all(r.passed for r in results)


async def test_a_gate_that_may_write_runs_alone_and_in_its_place(tmp_path: Path) -> None:
    meter = Meter()
    gates = [
        FakeGate("lint", meter, reads_only=True),
        FakeGate("generate", meter, reads_only=False),
        FakeGate("tests", meter, reads_only=False),
        FakeGate("security", meter, reads_only=True),
        FakeGate("secrets", meter, reads_only=True),
    ]
    _, names = await _run(gates, tmp_path)
    assert meter.beside["generate"] == 0
    assert meter.beside["tests"] == 0
    assert meter.beside["lint"] == 0  # the writer after it waited for it
    assert meter.beside["security"] == 1
    assert names == ["lint", "generate", "tests", "security", "secrets"]


async def test_results_and_events_keep_the_list_order(tmp_path: Path) -> None:
    meter = Meter()
    gates = [
        FakeGate("slow", meter, reads_only=True, seconds=0.2),
        FakeGate("fast", meter, reads_only=True, seconds=0.01),
    ]
    results, names = await _run(gates, tmp_path)
    assert [r.gate for r in results] == ["slow", "fast"]
    assert names == ["slow", "fast"]


async def test_a_crashing_gate_fails_and_the_others_still_report(tmp_path: Path) -> None:
    meter = Meter()
    gates = [
        FakeGate("lint", meter, reads_only=True, crash=True),
        FakeGate("secrets", meter, reads_only=True),
    ]
    results, names = await _run(gates, tmp_path)
    assert names == ["lint", "secrets"]
    assert not results[0].passed and "gate crashed: RuntimeError" in results[0].summary
    assert results[1].passed


async def test_a_cancelled_run_cancels_the_gates_it_started(tmp_path: Path) -> None:
    meter = Meter()
    gates = [FakeGate(n, meter, reads_only=True, seconds=5.0) for n in ("lint", "secrets")]
    running = asyncio.create_task(_run(gates, tmp_path))
    await asyncio.sleep(0.05)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert meter.now == 0


def test_which_real_gates_may_overlap(tmp_path: Path) -> None:
    """Linters, scanners and the shrinkage diff only read; tests and custom commands may write
    (a build step the tests need), and a wrapper says what the gate it wraps says."""
    sandbox = ProcessSandbox(use_bwrap=False)
    try:
        custom = CommandGate(sandbox, name="codegen", argv=["make", "gen"])
        cache = GateCache()
        gates = [
            cache.wrap(RuffGate(sandbox)),
            PytestGate(sandbox),
            custom,
            cache.wrap(custom),
            ShrinkageGate(sandbox),
            TreeDetectedGate("secrets", GatesConfig(), sandbox),
            TreeDetectedGate("node-test", GatesConfig(), sandbox),
        ]
        assert [[g.name for g in group] for group in gate_runner.batches(gates)] == [
            ["lint"],
            ["tests"],
            ["codegen"],
            ["codegen"],
            ["shrinkage", "secrets"],
            ["node-test"],
        ]
    finally:
        sandbox.close()
