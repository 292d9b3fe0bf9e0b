"""The task reviewer: reviews one finished task (its diff and gate results) before merge.

It runs on a different model family than the engineer (agents/routing.py), so a model does
not approve its own work.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.prompt_fit import Part, diff_blocks, fit_prompt
from agents.provider import Provider
from agents.roles.common import ModelRole
from agents.structured import StructuredAsk, answer_once, out_of_100
from engine.blueprint import Task
from engine.protocols import EmitFn, GateResult
from engine.roles import TaskReview

SYSTEM = "You are a strict senior code reviewer. Reply with JSON only."
MAX_DIFF_CHARS = 60_000


def describe_gates(gates: Sequence[GateResult]) -> str:
    """Gate results as prompt lines: name, PASS/FAIL, summary."""
    if not gates:
        return "(no gates ran)"
    return "\n".join(f"- {g.gate}: {'PASS' if g.passed else 'FAIL'} - {g.summary}" for g in gates)


def check_review(review: TaskReview) -> None:
    """A request for changes names them: the engineer's next attempt starts from these notes,
    and a blank one buys the same attempt again. Else ``ValueError``."""
    if not review.approved and not review.notes.strip():
        raise ValueError("a review requesting changes must say in its notes what to change")


class TaskReviewerRole(ModelRole):
    """Implements engine.roles.TaskReviewer over any provider."""

    def __init__(
        self, provider: Provider, *, max_repairs: int = 2, prices: PriceTable = DEFAULT_PRICES
    ) -> None:
        super().__init__(provider, max_repairs=max_repairs, prices=prices)
        self._asked: dict[str, int] = {}

    async def review_task(
        self, task: Task, diff: str, gates: Sequence[GateResult], emit: EmitFn, *, attempt: int
    ) -> TaskReview:
        # The agent is the attempt's, named as the engineer's is (``engineer:T:a2``): a review
        # runs only on an attempt whose gates passed, so the task's first review may be its
        # second attempt's, and a resumed process, counting reviews afresh, must not reuse a
        # stored review's agent id. The count of reviews picks the SIM's scripted one.
        review_number = self._asked[task.id] = self._asked.get(task.id, 0) + 1
        session = self.session(
            emit,
            agent_id=f"task_reviewer:{task.id}:a{attempt}",
            role="task_reviewer",
            task_id=task.id,
            attempt=attempt,
        )
        fixed = {
            "task_id": task.id,
            "title": task.title,
            "description": task.description or "(none)",
            "files": ", ".join(task.files) or "(not specified)",
            "removes": f"\nFiles or folders it should delete: {', '.join(task.removes)}"
            if task.removes
            else "",
            "test_plan": task.test_plan or "(not specified)",
            "gates": describe_gates(gates),
        }
        query = " ".join([task.title, task.description, *task.files, task.test_plan])
        part = Part(diff, query, diff_blocks(), "(empty diff)", MAX_DIFF_CHARS)
        labels = {"role": "task_reviewer", "task": task.id, "review": str(review_number)}
        return await answer_once(
            session,
            TaskReview,
            StructuredAsk(
                SYSTEM,
                "",
                labels,
                noun="task review",
                fit=lambda budget: fit_prompt("task_reviewer", fixed, {"diff": part}, budget),
            ),
            summarize=lambda r: (
                f"{task.id}: {'approved' if r.approved else 'changes requested'} "
                f"({r.score}/100)" + (f" - {r.notes}" if r.notes else "")
            ),
            max_repairs=self.max_repairs,
            check=out_of_100(lambda r: r.score, check_review),
        )
