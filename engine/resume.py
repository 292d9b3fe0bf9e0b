"""Resume: what a run killed at any moment still has to do.

Two sources of truth, one per kind of fact. The event log says what was decided and what was
under way. The repository says what was merged: the integration branch holds one squashed
commit per merged task, each carrying a ``Shopfloor-Task`` trailer, so a merge whose Merged
event died with the process is still found — and never merged again. Attempts that were under
way restart at the same attempt number, with the failure context of the attempt before
rebuilt from the log.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from engine.build import TASK_TRAILER
from engine.bus import EventBus
from engine.escalations import ESCALATION_CONTEXT_CHARS
from engine.events import Merged, Outcome, RunFinished, Stage, TaskState, TaskStateChanged
from engine.run_views import EscalationView, TaskView
from engine.stages import passes
from engine.state import RunState
from engine.workspace import GitWorkspaces
from engine.workspace_errors import WorkspaceError, release_hint

UNDER_WAY = frozenset({TaskState.RUNNING, TaskState.GATES, TaskState.MERGING})


def emit_ending(
    bus: EventBus,
    outcome: Outcome,
    reason: str = "",
    branch: str | None = None,
    commit: str | None = None,
) -> None:
    """End the run on ``bus``: a run that did not ship first shows the attempts the ending
    cut short as failed (none may look still under way), then its RunFinished. The engine
    ends its runs so, and ``shopfloor abandon`` ends a stopped run the same way."""
    if outcome not in (Outcome.SHIPPED, Outcome.REPORTED):
        for task in bus.state.tasks.values():
            if task.state in UNDER_WAY:
                bus.emit(
                    TaskStateChanged(
                        task_id=task.id,
                        state=TaskState.FAILED,
                        attempt=task.attempts,
                        reason=f"interrupted: {reason}",
                    )
                )
    bus.emit(RunFinished(outcome=outcome, reason=reason, branch=branch, commit=commit))


def emit_found_merged(bus: EventBus, found: Mapping[str, str]) -> None:
    """Log the merges ``found`` on the integration branch that the log lacks (task ->
    commit, :attr:`ResumePlan.merged_from_repo`): a process killed between moving the branch
    and logging its Merged. A resume logs them before it goes on, ``shopfloor abandon``
    before the run's ending, so the log says what the branch holds.

    A process killed between logging a Merged and its task's MERGED state (two events, the
    second written after the merge queue hands the result back) left a task in the merged
    list whose state still says merging: it would stay so for ever in the DAG and in
    ``status``, and an ending would mark it failed as cut short. Its state is logged too."""
    for task_id, commit in found.items():
        attempt = bus.state.tasks[task_id].attempts
        bus.emit(Merged(task_id=task_id, attempt=attempt, commit=commit))
        bus.emit(
            TaskStateChanged(
                task_id=task_id, state=TaskState.MERGED, attempt=attempt, reason="found merged"
            )
        )
    for task_id in dict.fromkeys(bus.state.merged):
        task = bus.state.tasks.get(task_id)
        if task is not None and task.state is not TaskState.MERGED:
            bus.emit(
                TaskStateChanged(
                    task_id=task_id,
                    state=TaskState.MERGED,
                    attempt=task.attempts,
                    reason="merged before the restart",
                )
            )


@dataclass(frozen=True)
class ResumePlan:
    """What a resumed run does before it goes on."""

    merged_from_repo: dict[str, str] = field(default_factory=dict)  # task -> commit
    restarts: dict[str, tuple[int, str]] = field(default_factory=dict)  # task -> (attempt, ctx)
    breaker_asks: dict[str, str] = field(default_factory=dict)
    """Task -> the signature its circuit breaker tripped on, for a task stopped while the
    breaker's question waited: asked again (a posted answer taken) before its next attempt."""
    kept_tests: dict[str, str] = field(default_factory=dict)
    """Restarted task -> the attempt commit whose tests its restarted attempt keeps."""


def tasks_in_log(log: str) -> dict[str, str]:
    """Task id -> commit, from ``git log --format=%H%x00%B%x01`` output of the integration
    branch (the trailer names each squashed commit's task)."""
    found: dict[str, str] = {}
    prefix = f"{TASK_TRAILER}:"
    for record in log.split("\x01"):
        if "\x00" not in record:
            continue
        sha, body = record.strip().split("\x00", 1)
        for line in body.splitlines():
            if line.startswith(prefix):
                found.setdefault(line[len(prefix) :].strip(), sha.strip())
    return found


def merges_on_branch(state: RunState, ws: GitWorkspaces) -> dict[str, str]:
    """Task id -> commit of every task the run's integration branch holds (its
    ``Shopfloor-Task`` trailers since the base commit): the repository's word on what was
    merged, which ``resume`` and ``abandon`` read before they log anything."""
    tip = ws.branch_tip(ws.integration_branch)
    if tip is None or not state.base_commit:
        return {}
    return tasks_in_log(ws.task_log(state.base_commit, tip))


def failure_before(task: TaskView, attempt: int) -> str:
    """The failure context attempt ``attempt`` was started with.

    Logs record it on the attempt's RUNNING event (``TaskView.context``), word for word what
    the engineer received. Logs written before that field existed get it rebuilt from the red
    gates and the task reviewer's rejection of the attempt before it.
    """
    if attempt <= 1:
        return ""
    if task.context and task.attempts == attempt:
        return task.context
    parts: list[str] = []
    for gate in task.gates:
        if gate.attempt == attempt - 1 and not gate.passed:
            parts.append(f"Gate {gate.gate!r} failed: {gate.summary}")
            parts.extend(f"- {finding}" for finding in gate.findings)
            if gate.output_tail:
                parts.append(gate.output_tail.rstrip())
    parts.extend(
        f"The task reviewer requested changes: {review}"
        for review in task.reviews
        if review.startswith(f"attempt {attempt - 1}: changes requested")
    )
    return "\n".join(parts) or "The previous attempt was interrupted before it finished."


def plan_resume(state: RunState, merged_in_repo: dict[str, str]) -> ResumePlan:
    """Reconcile the folded log with the integration branch's merged tasks."""
    lost = {
        task_id: commit
        for task_id, commit in merged_in_repo.items()
        if task_id in state.tasks and task_id not in state.merged
    }
    restarts: dict[str, tuple[int, str]] = {}
    asks: dict[str, str] = {}
    for task in state.tasks.values():
        if task.id in lost or task.id in state.merged:
            continue
        if task.attempts < 1:
            continue
        if task.state in UNDER_WAY and task.breaker and task.breaker_attempt == task.attempts:
            # Its attempt was over and the breaker had asked: that question, then the next
            # attempt (redone, the attempt ran again and the answer was never read).
            question = breaker_question(state, task.id)
            if question is None or question.decision != "retry":
                asks[task.id] = task.breaker
            context = question.context if question is not None else ""
            if not context or len(context) >= ESCALATION_CONTEXT_CHARS:
                context = failure_before(task, task.attempts + 1)
            restarts[task.id] = (task.attempts + 1, context)
        elif task.state in UNDER_WAY or (
            task.state is TaskState.FAILED and stopped_at_budget(state, task.id)
        ):  # cut short, not failed on its work: that attempt again
            restarts[task.id] = (task.attempts, failure_before(task, task.attempts))
        elif task.state is TaskState.FAILED and not skipped_at_breaker(state, task):
            # Failed on its work before the run stopped: built again from the next attempt,
            # after that failure (from attempt 1 it redid its first attempt's work blind, and
            # its attempts' agents took the ids of the failed ones).
            restarts[task.id] = (task.attempts + 1, failure_before(task, task.attempts + 1))
    kept = {t: state.tasks[t].tests_from for t in restarts if state.tasks[t].tests_from}
    return ResumePlan(merged_from_repo=lost, restarts=restarts, breaker_asks=asks, kept_tests=kept)


def skipped_at_breaker(state: RunState, task: TaskView) -> bool:
    """``task`` failed because its circuit breaker's question was answered skip (by a
    person, the reject policy or the timeout): a resume leaves it failed, as was decided."""
    question = breaker_question(state, task.id)
    tripped_last = task.breaker is not None and task.breaker_attempt == task.attempts
    return tripped_last and question is not None and question.decision == "skip"


def breaker_question(state: RunState, task_id: str) -> EscalationView | None:
    """The latest circuit-breaker question about ``task_id``, if one was raised."""
    asked = [e for e in state.escalations.values() if e.kind == "circuit_breaker"]
    return max((e for e in asked if e.task_id == task_id), key=lambda e: e.raised_seq, default=None)


def stopped_at_budget(state: RunState, task_id: str) -> bool:
    """A person (or the escalation timeout) answered stop to ``task_id``'s own budget."""
    return any(
        e.kind == "budget" and e.task_id == task_id and e.decision == "stop"
        for e in state.escalations.values()
    )


def qc_passed_on(state: RunState, tip: str, threshold: int) -> bool:
    """The log's code QC passed on the integration tip ``tip`` (at ``threshold``, today's
    bar): a run resumed on that very tip has the same change, which need not be judged
    again. A result on another commit (the branch moved while the run was stopped), or from
    a log written before QC recorded its commit, is not this change's."""
    scores = state.scores
    return (
        bool(tip)
        and scores.qc_commit == tip
        and scores.qc is not None
        and passes(scores.qc, threshold)
    )


def verified_on(state: RunState, tip: str, threshold: int) -> bool:
    """The log's verification passed on the integration tip ``tip``, its verdict taken at a
    bar no lower than ``threshold`` (today's): as :func:`qc_passed_on`, for the verifier,
    the judge and the verify gates they ran after."""
    scores = state.scores
    return (
        bool(tip)
        and scores.judge_commit == tip
        and scores.judge_passed is True
        and scores.judge_threshold is not None
        and scores.judge_threshold >= threshold
    )


def check_repository(state: RunState, ws: GitWorkspaces) -> str | None:
    """Refuse, in one line that says what to do, a resume the repository cannot carry on.

    Between a killed run and its resume a user may have replaced the repository, checked
    the integration branch out to look at the work (the run cannot merge until they let go
    of it: the merge queue would wait, and it is better said now, while they are at the
    command), or deleted or reset that branch. Made again at the
    base commit, the branch would lack the tasks the log says were merged: their dependants
    would be built without them and the run would ship without them. So the log's merged
    tasks must be on the branch; when they are not, the line names the commit to put the
    branch back at, or says the work is gone.
    The one branch put back here is the one the run itself deleted after shipping (killed
    before its RunFinished): the commit returned is where to make it again; None otherwise.
    """
    base = state.base_commit
    if not base:
        return None
    if not ws.has_commit(base):
        raise WorkspaceError(
            f"commit {base[:10]} where run {state.run_id} started is not in {ws.path} "
            "(another repository there, or its history rewritten and pruned?): "
            "the run cannot go on there; start a new run"
        )
    branch = ws.integration_branch
    checkout = ws.checked_out_at(branch)
    if checkout is not None:
        raise WorkspaceError(
            f"integration branch {branch} is checked out in {checkout}, and the run cannot "
            f"merge while it is: {release_hint(checkout)}, then resume again"
        )
    if not state.merged:
        return None
    tip = ws.branch_tip(branch)
    found = tasks_in_log(ws.task_log(base, tip)) if tip is not None else {}
    missing = [task_id for task_id in state.merged if task_id not in found]
    if not missing:
        return None
    last = state.tasks[state.merged[-1]].merged_commit if state.merged[-1] in state.tasks else None
    whole = (
        last is not None
        and ws.has_commit(last)
        and set(state.merged) <= set(tasks_in_log(ws.task_log(base, last)))
    )
    stages = list(Stage)
    if whole and tip is None and stages.index(state.stage) >= stages.index(Stage.SHIP):
        return last
    where = "is gone" if tip is None else f"is at {tip[:10]}"
    lost = (
        f"integration branch {branch} {where}, without task(s) {', '.join(missing)} the run merged"
    )
    if whole:
        raise WorkspaceError(
            f"{lost}: put it back with `git -C {ws.path} branch -f {branch} {last}` "
            "and resume again"
        )
    raise WorkspaceError(
        f"{lost}, and their commits are gone from {ws.path} too (git gc?): "
        f"run {state.run_id} cannot go on; start a new run"
    )
