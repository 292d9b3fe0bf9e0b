"""The seams the engine needs filled: roles, gates, the sandbox and the event store.

The engine imports none of agents/, gates/ or storage/. It states here what it needs, and the
composition root (tui/compose.py) hands it implementations. Tests hand it fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from engine.blueprint import Blueprint, Task
from engine.events import E, EventBase
from engine.secret_values import Cleaned

EmitFn = Callable[[EventBase], object]


class EmitNewFn(Protocol):
    """Builds an event of ``cls`` from ``fields`` and emits it: ``EventBus.emit_new``.

    The engine's own frequent events (a task's states, the merge queue's) go this way: the
    bus builds them with their stamp, where ``emit(cls(**fields))`` builds one and copies it.
    """

    def __call__(self, cls: type[E], /, **fields: Any) -> E: ...


def emit_new_via(emit: EmitFn) -> EmitNewFn:
    """An :class:`EmitNewFn` for code handed only an ``emit`` (tests, a bare callback)."""

    def emit_new(cls: type[E], /, **fields: Any) -> E:
        event = cls(**fields)
        emit(event)
        return event

    return emit_new


class Finding(BaseModel):
    """One thing a gate found, located where possible."""

    # Built on first use: every command loads this module, few validate a gate's result.
    model_config = ConfigDict(frozen=True, defer_build=True)

    message: str
    file: str | None = None
    line: int | None = None
    detail: str = ""
    key: str | None = None
    """What names this finding on another tree (a test's node id); None: its file and message.
    The baseline guard compares findings by it (engine.recon)."""


class GateResult(BaseModel):
    """What a gate says about a workspace."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    gate: str
    passed: bool
    summary: str
    score: float | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    findings: list[Finding] = Field(default_factory=list)
    duration_s: float = 0.0
    output_tail: str = ""
    cached: bool = False
    """True when the result was replayed from the gate cache (same gate, config and tree)."""

    def failure_context(self, limit: int = 6000) -> str:
        """Text for an engineer's retry: what failed and its output, bounded."""
        parts = [f"Gate {self.gate!r} failed: {self.summary}"]
        for finding in self.findings:
            where = f"{finding.file}:{finding.line}: " if finding.file else ""
            parts.append(f"- {where}{finding.message}")
            if finding.detail:
                parts.append(finding.detail.rstrip())
        if not self.findings and self.output_tail:
            parts.append(self.output_tail.rstrip())
        text = "\n".join(parts)
        return text if len(text) <= limit else text[: limit - 40] + "\n... [truncated]"


@runtime_checkable
class Gate(Protocol):
    """Checks a workspace (a directory holding a checkout) and reports.

    A gate that sets ``reads_only = True`` (it reads the tree and writes nothing another gate
    reads) may run beside the other such gates of its list (:mod:`engine.gate_runner`).
    """

    name: str

    async def check(self, workspace: Path) -> GateResult: ...


Rerun = Callable[[Path, Sequence[str]], Awaitable[GateResult]]
"""A gate's optional ``rerun(workspace, keys)``: the findings ``keys`` names (a tests gate:
node ids) checked once more, to tell a flaky failure from one that comes back."""


@dataclass(frozen=True)
class CommandResult:
    """The outcome of one sandboxed command."""

    argv: tuple[str, ...]
    returncode: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    cleaned: Cleaned | None = field(default=None, compare=False, repr=False)
    """The receipt (:meth:`WorktreeSecrets.clean <engine.secret_values.WorktreeSecrets.clean>`)
    of the index of the worktree's secret files that cleaned ``output`` of their values once
    the command ended. None: not cleaned of them."""


class Sandbox(Protocol):
    """Runs a command inside a workspace with limits and a scrubbed environment.

    A sandbox is any implementation, so whoever shows its output to a model
    (``agents.toolbelt``) trusts no claim that it was cleaned of the values of the worktree's
    secret files: it checks :attr:`CommandResult.cleaned` (:meth:`Cleaned.covers
    <engine.secret_values.Cleaned.covers>`: given by an index of that worktree, from a look
    after the call began, for exactly this output), and cleans what fails the check with an
    index of its own. A sandbox that cleans with its index of the worktree (one per worktree,
    for the gates too) therefore hands the caller that index with the receipt: the worktree is
    walked once, and the output cleaned once."""

    async def run(
        self,
        argv: Sequence[str],
        cwd: Path,
        *,
        timeout_s: float = 300.0,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult: ...


@dataclass(frozen=True)
class PlanRequest:
    """What the planner is asked."""

    request: str
    repo_files: list[str]
    notes: str = ""
    context: str = ""
    """What recon found in the repository (its map): cut first to the model's window."""


class Planner(Protocol):
    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint: ...


@dataclass(frozen=True)
class EngineerJob:
    """One attempt at one task, in one worktree."""

    run_id: str
    task: Task
    blueprint: Blueprint
    workspace: Path
    attempt: int
    max_attempts: int
    failure_context: str = ""
    kept_tests: tuple[str, ...] = ()
    """The test files the task's previous attempt wrote, put in this attempt's worktree
    (:mod:`engine.carried_tests`): the task cannot land without them."""
    context: Mapping[str, Any] = field(default_factory=dict)
    build_dir: Path | None = None
    """The attempt's cargo target folder (:mod:`engine.build_dirs`), given to a ``cli:``
    agent as ``CARGO_TARGET_DIR``; the sandbox finds it for the toolbelt's commands itself."""
    admit: Callable[[], Awaitable[None]] | None = None
    """Awaited before each model call after the attempt's first: returns when the budgets let
    work go on, and raises (:class:`~engine.budget.BudgetStop`) when a person said stop. An
    attempt of many turns thus pauses at its next call once a budget is crossed, instead of
    spending on to its last turn. None: no budgets."""


@dataclass(frozen=True)
class EngineerReport:
    finished: bool
    summary: str
    files_written: tuple[str, ...] = ()
    red_run: str | None = None
    """The first test run's result, before any code (tests first: it should be red)."""


class Engineer(Protocol):
    async def work(self, job: EngineerJob, emit: EmitFn) -> EngineerReport: ...


@dataclass(frozen=True)
class ExternalDecision:
    """A decision on an escalation made outside the engine (TUI, another shell, another host)."""

    escalation_id: str
    decision: str
    decided_by: str  # "human:<user>"
    note: str = ""


class DecisionSource(Protocol):
    """Where decisions from outside the run's process arrive (storage's decisions inbox).

    The engine emits EscalationResolved itself when it takes one, so the run's event log keeps
    a single writer.
    """

    def decisions(
        self, run_id: str, *, until_asked: Callable[[], Awaitable[object]] | None = None
    ) -> AsyncIterator[ExternalDecision]:
        """Decisions posted for ``run_id``, as they arrive; never ends on its own.

        ``until_asked``, when given, returns once an escalation of the run is open: a source
        reads nothing before it does (no decision can be posted while none is), so a run that
        asks nobody costs its inbox nothing.
        """
        ...


class EventStore(Protocol):
    """Durable, append-only storage of events, and the runs projection."""

    async def append(self, events: Sequence[EventBase]) -> None: ...

    async def read(self, run_id: str, after_seq: int = 0) -> list[EventBase]: ...

    async def close(self) -> None: ...
