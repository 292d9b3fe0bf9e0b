"""The build of one task: attempts in fresh worktrees, task gates, review, retries with context.

Each attempt starts from the integration tip in a new worktree, so it sees every task merged
before it. The engineer works (its RED run is recorded); whatever it changed is committed; the
task gates run on that tree; the task reviewer, on another model family, reads the diff.
Green and approved goes to the merge queue; red, rejected or a refused merge becomes the
failure context of the next attempt, up to ``max_attempts``. The same failure signature twice
trips the circuit breaker: the task stops retrying and a human decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

from engine.attempt_commit import MaskWritten
from engine.blueprint import Blueprint, Task
from engine.breaker import CircuitBreaker
from engine.budget import BudgetStop, BudgetTracker
from engine.carried_tests import KeptTests
from engine.config import EngineConfig
from engine.escalations import EscalationBroker
from engine.events import (
    AgentOutput,
    CircuitBreakerTripped,
    TaskReviewed,
    TaskState,
    TaskStateChanged,
)
from engine.gate_runner import failure_context, run_gates
from engine.merge_queue import MergeQueue
from engine.protocols import (
    EmitFn,
    EmitNewFn,
    Engineer,
    EngineerJob,
    Gate,
    GateResult,
    emit_new_via,
)
from engine.roles import TaskReviewer
from engine.secret_files import mask_diff
from engine.staged_links import LinkLeadsOut
from engine.workspace import GitWorkspaces

TASK_TRAILER = "Shopfloor-Task"
"""Commit trailer naming the task a squashed commit belongs to (resume reads it back)."""
REMOVES_TRAILER = "Shopfloor-Removes"
"""Commit trailer naming a file or folder the task removes on purpose (``Task.removes``): the
shrinkage gate reads it back from the revision it judges."""
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")


class RunAborted(Exception):
    """A human (or policy) chose to abort the run. The message is one line."""


def first_line(text: str, limit: int = 160) -> str:
    """The first non-empty line of ``text``, shortened to ``limit`` characters."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def commit_message(task: Task, summary: str) -> str:
    """A task's commit message: title, the engineer's summary, and the trailers — what the
    task removes on purpose (:data:`REMOVES_TRAILER`) and its id. The trailers are always the
    last paragraph, so nothing in the summary reads as one of them."""
    body = f"{task.title}\n\n{summary}".strip()
    trailers = [f"{REMOVES_TRAILER}: {path}" for path in task.removes]
    return "\n".join([f"{body}\n", *trailers, f"{TASK_TRAILER}: {task.id}"])


def removals_in_message(message: str) -> list[str]:
    """The paths a commit message made by :func:`commit_message` declares removed on purpose.

    Only its trailer block counts: the last paragraph, after at least one other, holding the
    task trailer. The engineer's summary comes before it, so an agent cannot declare a
    deletion of its own by writing a trailer there.
    """
    paragraphs = _PARAGRAPH_BREAK.split(message.strip())
    block = paragraphs[-1].splitlines() if len(paragraphs) > 1 else []
    if not any(line.startswith(f"{TASK_TRAILER}:") for line in block):
        return []
    prefix = f"{REMOVES_TRAILER}:"
    return [line[len(prefix) :].strip() for line in block if line.startswith(prefix)]


class Slot:
    """One provider slot of a family, held in ``async with``; :meth:`lent` gives it back for
    a while (to wait on a question) and takes it again after."""

    def __init__(self, sem: asyncio.Semaphore | None) -> None:
        self._sem = sem
        self._held = False

    async def __aenter__(self) -> Slot:
        if self._sem is not None:
            await self._sem.acquire()
            self._held = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sem is not None and self._held:
            self._held = False
            self._sem.release()

    @contextlib.asynccontextmanager
    async def lent(self) -> AsyncIterator[None]:
        """Without the slot inside (if it was held), with it again after: a cancellation
        while it is taken again leaves it not held, and not given back twice."""
        if self._sem is None or not self._held:
            yield
            return
        self._held = False
        self._sem.release()
        try:
            yield
        finally:
            await self._sem.acquire()
            self._held = True


_NO_SLOT = Slot(None)
"""The slot of a family without a limit: nothing to hold, shared."""


class ProviderSlots:
    """Per-model-family concurrency limits (``EngineConfig.provider_limits``)."""

    def __init__(self, config: EngineConfig) -> None:
        self._config = config
        self._sems: dict[str, asyncio.Semaphore] = {}

    def hold(self, family: str) -> Slot:
        """One of ``family``'s slots, to hold in ``async with``; families without a limit
        share none, and holding nothing costs nothing (one shared null slot)."""
        if not family or family not in self._config.provider_limits:
            return _NO_SLOT
        sem = self._sems.get(family)
        if sem is None:
            sem = self._sems[family] = asyncio.Semaphore(self._config.provider_limit(family))
        return Slot(sem)


@dataclass
class TaskRunner:
    """Runs one task to merged or failed. ``run`` is what the scheduler calls."""

    run_id: str
    blueprint: Blueprint
    config: EngineConfig
    workspaces: GitWorkspaces
    engineer: Engineer
    gates: Sequence[Gate]
    merge_queue: MergeQueue
    emit: EmitFn
    task_reviewer: TaskReviewer | None = None
    broker: EscalationBroker | None = None
    budget: BudgetTracker | None = None
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    slots: ProviderSlots | None = None
    engineer_family: str = ""
    resume: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    """Tasks restarting after a crash: the attempt to restart and its failure context."""
    breaker_asks: Mapping[str, str] = field(default_factory=dict)
    """Of those, the ones stopped on their circuit breaker's question: its signature, to ask
    it again before the restarted attempt (:attr:`engine.resume.ResumePlan.breaker_asks`)."""
    kept_tests: Mapping[str, str] = field(default_factory=dict)
    """Of those, the ones whose tests an attempt before the crash wrote: the commit holding
    them (:attr:`engine.resume.ResumePlan.kept_tests`)."""
    emit_new: EmitNewFn | None = None
    """The bus's ``emit_new``, for the task's own states (built stamped); else via ``emit``."""
    redact: Callable[[str], str] = str
    """Cleans of secrets the engineer's summary before it goes into the commit's message and
    a failure before it goes into the next attempt's prompt (the bus's redactor; events are
    cleaned on the bus, but git keeps a message for good and a prompt goes to a model)."""

    def __post_init__(self) -> None:
        self._tasks = {task.id: task for task in self.blueprint.tasks}
        self._emit_new = self.emit_new or emit_new_via(self.emit)
        self._tests = KeptTests(dict(self.kept_tests))
        self.budget_stopped: set[str] = set()
        """Tasks failed because a person (or the timeout) said stop at their own budget."""

    def _hold(self, family: str) -> Slot:
        """One of ``family``'s provider slots (nothing to hold without ``slots``)."""
        return self.slots.hold(family) if self.slots is not None else _NO_SLOT

    async def _admit(self, task_id: str, slot: Slot) -> None:
        """An attempt's engineer, before each model call after its first: as
        :meth:`BudgetTracker.admit`, but a wait on a budget question gives the engineer's
        provider slot back meanwhile, so that under a provider limit the other tasks go on
        rather than stall behind a question about one of them."""
        assert self.budget is not None
        if not self.budget.crossed([task_id]):
            return
        async with slot.lent():
            await self.budget.admit(task_id)

    async def run(self, task_id: str) -> bool:
        task = self._tasks[task_id]
        attempt, failure = self.resume.get(task_id, (1, ""))
        limit = max(self.config.max_attempts, attempt)
        if task_id in self.breaker_asks:  # stopped while it asked: its answer, then go on
            extra = await self._ask(task_id, attempt - 1, self.breaker_asks[task_id], failure)
            if extra is None:
                return False
            limit = max(limit, attempt - 1 + extra)
        while attempt <= limit:
            try:
                if self.budget is not None:
                    await self.budget.admit(task_id)
                outcome = await self._attempt(task, attempt, failure)
            except BudgetStop as exc:  # before the attempt, or paused inside it
                if exc.scope == "run":
                    raise
                self.budget_stopped.add(task_id)
                return self._fail(task_id, attempt, str(exc))
            if outcome is None:
                return True
            # The next attempt's prompt, cleaned as the log keeps it: a gate's output, a
            # reviewer's notes or a merge's failure may quote a key, and the prompt goes to
            # the engineer's model (the breaker's signature and a resume see the same text).
            failure = self.redact(outcome)
            if attempt < limit:
                signature = self.breaker.record(task_id, failure)
                if signature is not None:
                    extra = await self._tripped(task_id, attempt, signature, failure)
                    if extra is None:
                        return False
                    limit = max(limit, attempt + extra)
            attempt += 1
        return self._fail(task_id, limit, f"out of attempts: {first_line(failure)}")

    def _fail(self, task_id: str, attempt: int, reason: str) -> bool:
        self._emit_new(
            TaskStateChanged,
            task_id=task_id,
            state=TaskState.FAILED,
            attempt=attempt,
            reason=reason,
        )
        return False

    async def _tripped(
        self, task_id: str, attempt: int, signature: str, failure: str
    ) -> int | None:
        """The breaker tripped: ask what to do. Returns extra attempts, or None to give up."""
        self.emit(CircuitBreakerTripped(task_id=task_id, attempt=attempt, signature=signature))
        return await self._ask(task_id, attempt, signature, failure)

    async def _ask(self, task_id: str, attempt: int, signature: str, failure: str) -> int | None:
        """The tripped breaker's question (a resumed run's re-attaches to the one its log
        holds open, an answer posted meanwhile taken): extra attempts, or None to give up."""
        if self.broker is None:
            self._fail(task_id, attempt, f"circuit breaker: same failure twice: {signature}")
            return None
        decision = await self.broker.ask(
            "circuit_breaker",
            f"Task {task_id} failed the same way twice ({signature}). Retry, skip it, or abort?",
            ["retry", "skip", "abort"],
            default="skip",
            task_id=task_id,
            context=failure,
        )
        if decision.decision == "retry":
            self.breaker.reset(task_id)
            return 1
        if decision.decision == "abort":
            raise RunAborted(f"aborted after the circuit breaker tripped on task {task_id}")
        self._fail(task_id, attempt, f"circuit breaker: skipped by {decision.decided_by}")
        return None

    async def _attempt(self, task: Task, attempt: int, failure: str) -> str | None:
        """One attempt; returns None once merged, else the failure context for the next."""
        task_id = task.id
        reason = f"retry: {first_line(failure)}" if failure else ""
        self._emit_new(
            TaskStateChanged,
            task_id=task_id,
            state=TaskState.RUNNING,
            attempt=attempt,
            reason=reason,
            context=failure,
        )
        worktree = await self.workspaces.add_worktree(
            f"{task_id}-a{attempt}", self.workspaces.integration_tip()
        )
        agent_id = f"engineer:{task_id}:a{attempt}"  # what the agent did outside its files

        def note(text: str) -> None:  # shown without -v: the user's repo or the task's tests
            self.emit(AgentOutput(agent_id=agent_id, kind="notice", text=text))

        try:
            kept = await self._tests.carry(task_id, worktree, note)
            slot = self._hold(self.engineer_family)
            job = EngineerJob(
                run_id=self.run_id,
                task=task,
                blueprint=self.blueprint,
                workspace=worktree,
                attempt=attempt,
                max_attempts=self.config.max_attempts,
                failure_context=failure,
                kept_tests=kept,
                build_dir=self.workspaces.build_dirs.target_dir(worktree),
                admit=None if self.budget is None else partial(self._admit, task_id, slot),
            )
            async with slot:
                report = await self.engineer.work(job, self.emit)
            message = commit_message(task, self.redact(report.summary))
            try:
                commit = await self.workspaces.commit_all(
                    worktree,
                    message,
                    keep=task.files,  # committed even where the repository's .gitignore says not
                    note=note,
                )
            except (MaskWritten, LinkLeadsOut) as exc:  # a masked file copied, a link out: told
                return str(exc)
            if commit is None:
                return "The previous attempt changed no files. " + (
                    "It ended early: " + report.summary if not report.finished else ""
                )
            dropped = await self._tests.check(task_id, worktree, commit, kept)
            if dropped is not None:  # the task's tests never go by failing once
                return dropped
            red = f"RED run: {first_line(report.red_run)}" if report.red_run else ""
            self._emit_new(
                TaskStateChanged,
                task_id=task_id,
                state=TaskState.GATES,
                attempt=attempt,
                reason=red,
                commit=commit,
            )
            results = await run_gates(
                self.gates, worktree, scope="task", emit=self.emit, task_id=task_id, attempt=attempt
            )
            if not all(r.passed for r in results):
                return failure_context(results, self.workspaces.root)
            if self.task_reviewer is not None:
                rejection = await self._review(task, attempt, commit, results)
                if rejection is not None:
                    return rejection
            self._emit_new(
                TaskStateChanged, task_id=task_id, state=TaskState.MERGING, attempt=attempt
            )
            outcome = await self.merge_queue.submit(task_id, attempt, commit, message)
            if outcome.merged:
                self._emit_new(
                    TaskStateChanged, task_id=task_id, state=TaskState.MERGED, attempt=attempt
                )
                return None
            return outcome.failure
        finally:
            if not self.config.keep_worktrees:
                await self.workspaces.remove_worktree(worktree)
            else:  # kept to look at: its cargo target folder goes on to the next worktree
                self.workspaces.build_dirs.release(worktree)

    async def _review(
        self, task: Task, attempt: int, commit: str, results: Sequence[GateResult]
    ) -> str | None:
        assert self.task_reviewer is not None
        reviewer = self.task_reviewer
        # The reviewer is a third-party model: a secret file's values and key-shaped values
        # the task added are masked (the secrets gate blocks such a key all the same).
        diff = self.redact(mask_diff(self.workspaces.diff(commit)))
        family = str(getattr(reviewer, "family", ""))
        async with self._hold(family):
            review = await reviewer.review_task(task, diff, results, self.emit, attempt=attempt)
        self.emit(
            TaskReviewed(
                task_id=task.id,
                attempt=attempt,
                model=str(getattr(reviewer, "model", family)),
                approved=review.approved,
                score=review.score,
                notes=review.notes,
            )
        )
        if review.approved:
            return None
        return f"The task reviewer requested changes (score {review.score}/100):\n{review.notes}"
