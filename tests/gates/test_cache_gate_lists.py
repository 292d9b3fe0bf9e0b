"""The gate cache's reading of a workspace across one list of gates: the gates after a batch
of hits take the reading it was keyed on (nothing ran in the workspace since); after a gate
that ran, the tree is read again, so what that gate wrote is in the next gates' keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from git_trace import trace_git
from repo_helpers import make_repo

from engine.events import EventBase
from engine.gate_runner import run_gates
from engine.protocols import Gate, GateResult
from gates.cache import GateCache

STATUS = "status --porcelain=v1"


class Probe:
    """A gate that counts its runs; it fails when ``bad.txt`` is in the workspace."""

    def __init__(self, name: str, *, reads_only: bool) -> None:
        self.name = name
        self.reads_only = reads_only
        self.runs = 0

    async def check(self, workspace: Path) -> GateResult:
        self.runs += 1
        bad = (workspace / "bad.txt").exists()
        return GateResult(gate=self.name, passed=not bad, summary="ran", duration_s=0.1)


class Writer:
    """A gate outside the cache that leaves ``bad.txt`` behind (a custom command's output)."""

    name = "writer"
    cacheable = False

    async def check(self, workspace: Path) -> GateResult:
        (workspace / "bad.txt").write_text("left behind\n")
        return GateResult(gate=self.name, passed=True, summary="wrote", duration_s=0.1)


async def checked(gates: list[Gate], workspace: Path) -> list[GateResult]:
    events: list[EventBase] = []
    return await run_gates(gates, workspace, scope="task", emit=events.append)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo", {"app.py": "print('hi')\n"})


async def test_a_list_of_hits_reads_the_tree_once(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = GateCache()
    probes = [Probe("lint", reads_only=True), Probe("tests", reads_only=False)]
    probes.append(Probe("scan", reads_only=True))
    gates = [cache.wrap(p) for p in probes]
    trace = trace_git(monkeypatch, tmp_path / "git-trace.log")
    first = await checked(gates, repo)
    assert [r.cached for r in first] == [False, False, False]
    assert trace.count(STATUS) == 3, "each batch after one that ran reads the tree again"
    trace.clear()
    again = await checked(gates, repo)
    assert [(r.cached, r.passed) for r in again] == [(True, True)] * 3
    assert [p.runs for p in probes] == [1, 1, 1]
    assert trace.count(STATUS) == 1 and trace.count("rev-parse HEAD^{tree}") == 1
    trace.clear()
    await checked(gates, repo)  # a later list reads the tree anew: it may have changed
    assert trace.count(STATUS) == 1


async def test_after_a_gate_that_ran_the_next_keys_hold_what_it_wrote(repo: Path) -> None:
    cache = GateCache()
    lint, scan = Probe("lint", reads_only=True), Probe("scan", reads_only=True)
    gates: list[Gate] = [cache.wrap(lint), Writer(), cache.wrap(scan)]
    first = await checked(gates, repo)
    assert [r.passed for r in first] == [True, True, False]  # scan saw bad.txt
    (repo / "bad.txt").unlink()
    again = await checked(gates, repo)
    # lint is a hit on the clean tree; the writer ran, so scan is keyed on the tree with
    # bad.txt (its stored failure), not on the clean reading lint was keyed on.
    assert [(r.cached, r.passed) for r in again] == [(True, True), (False, True), (True, False)]
    assert (lint.runs, scan.runs) == (1, 1)
    (repo / "bad.txt").unlink()
    clean = await checked([gates[0], gates[2]], repo)
    assert [r.passed for r in clean] == [True, True], "no failure stored under the clean tree"
    assert (lint.runs, scan.runs) == (1, 2)
