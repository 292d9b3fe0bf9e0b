"""Recon of an existing repository: which mode a run takes, and what was green before it.

An update run must not break what already works. Before it plans, the factory runs the merge
gates on the repository as it is (the *baseline*) and tells the planner which were green. Every
task and merge gate is then wrapped in a :class:`BaselineGate`: a gate that was green at
baseline and is red after a task fails with "you broke X that was green before"; a gate that
was already red at baseline reports but does not block (the run did not cause it, and no task
could ever merge otherwise).

Mode detection is a pure function of the tracked files: a repository holding only a README,
a licence and configuration is empty (``create``); anything else is ``update``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from engine.gate_runner import run_gates
from engine.protocols import EmitFn, Gate, GateResult

Mode = Literal["create", "update", "audit"]
MODES: tuple[Mode, ...] = ("create", "update", "audit")

RepoMapper = Callable[[Path, Sequence[str]], str]
"""Builds the repo map of a checkout from its file list (agents/context.repo_map)."""

_CONFIG_SUFFIXES = frozenset({".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".txt", ".md"})
_CONFIG_NAMES = frozenset({".gitignore", ".gitattributes", ".editorconfig", "makefile"})


def is_boilerplate(path: str) -> bool:
    """A README, licence or configuration file: what an empty project already has."""
    name = PurePosixPath(path).name.lower()
    if name.startswith(("readme", "license", "licence", "changelog", "copying")):
        return True
    if name in _CONFIG_NAMES:
        return True
    return "/" not in path and PurePosixPath(name).suffix in _CONFIG_SUFFIXES


def detect_mode(tracked: Sequence[str], sizes: Mapping[str, int] | None = None) -> Mode:
    """``create`` when every tracked file is boilerplate (or empty, given ``sizes``), else
    ``update``. Audit is never detected: it is asked for."""
    for path in tracked:
        if is_boilerplate(path):
            continue
        if sizes is not None and sizes.get(path, 1) == 0:
            continue
        return "update"
    return "create"


def detect_repo_mode(repo: Path, tracked: Sequence[str]) -> Mode:
    """:func:`detect_mode` with the sizes of the files in the checkout at ``repo``."""
    sizes: dict[str, int] = {}
    for rel in tracked:
        try:
            sizes[rel] = (repo / rel).stat().st_size
        except OSError:
            sizes[rel] = 1
    return detect_mode(tracked, sizes)


@dataclass(frozen=True)
class Baseline:
    """Which gates were green on the repository before the run changed anything."""

    results: tuple[GateResult, ...] = ()

    @property
    def green(self) -> list[str]:
        return [r.gate for r in self.results if r.passed]

    @property
    def red(self) -> list[str]:
        return [r.gate for r in self.results if not r.passed]

    def was_green(self, gate: str) -> bool | None:
        """True/False for a gate run at baseline; None for one that was not run."""
        for result in self.results:
            if result.gate == gate:
                return result.passed
        return None

    def describe(self) -> str:
        """One paragraph for the planner."""
        green = ", ".join(self.green) or "none"
        red = ", ".join(f"{r.gate} ({r.summary})" for r in self.results if not r.passed)
        text = f"Gates green at baseline (they must stay green): {green}."
        return text + (f" Already red before this run: {red}." if red else "")


async def run_baseline(gates: Sequence[Gate], checkout: Path, emit: EmitFn) -> Baseline:
    """Run ``gates`` on an untouched checkout of the base commit (reported as verify gates
    of no task, attempt 0)."""
    results = await run_gates(gates, checkout, scope="verify", emit=emit)
    return Baseline(tuple(results))


@dataclass
class BaselineGate:
    """Wraps a gate so that only regressions against the baseline block."""

    inner: Gate
    baseline: Baseline
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def check(self, workspace: Path) -> GateResult:
        result = await self.inner.check(workspace)
        before = self.baseline.was_green(self.name)
        if result.passed or before is None:
            return result
        if before:
            return result.model_copy(
                update={
                    "summary": f"you broke {self.name}, which was green before this run: "
                    f"{result.summary}"
                }
            )
        return result.model_copy(
            update={
                "passed": True,
                "summary": f"red at baseline, not blocking (not a regression): {result.summary}",
            }
        )


def guard(gates: Sequence[Gate], baseline: Baseline | None) -> list[Gate]:
    """``gates`` wrapped against ``baseline`` (unchanged when there is none)."""
    if baseline is None:
        return list(gates)
    return [BaselineGate(g, baseline) for g in gates]


def recon_notes(repo_map: str, baseline: Baseline, limit: int = 12000) -> str:
    """What the planner of an update run is told about the code it changes."""
    body = repo_map if len(repo_map) <= limit else repo_map[:limit] + "\n... [map truncated]"
    return (
        "UPDATE MODE: this repository already has code. Plan a delta: change only what the "
        "request needs, reuse the existing modules, and keep every gate that is green now "
        f"green.\n{baseline.describe()}\nRepository map (file: symbols):\n{body}"
    )
