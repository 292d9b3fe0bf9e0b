"""The planner role: a request and a repository in, a validated blueprint out.

A reply that is not a valid blueprint (bad JSON, wrong shape, a cycle, a path outside the
repo) gets a bounded repair re-ask quoting the error (agents/structured.py); after that, a
clear PlanError.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.learnings import Lesson, rank_lessons
from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.provider import Provider
from agents.roles.common import ModelRole
from agents.structured import (
    StructuredAsk,
    StructuredReplyError,
    ask_structured,
    error_line,
    extract_json,
)
from agents.templates import render_prompt
from engine.blueprint import Blueprint
from engine.dag import Dag, PlanError
from engine.protocols import EmitFn, PlanRequest

__all__ = ["PlannerRole", "extract_json"]


class PlannerRole(ModelRole):
    """Implements engine.protocols.Planner over any provider."""

    def __init__(
        self,
        provider: Provider,
        *,
        max_repairs: int = 2,
        prices: PriceTable = DEFAULT_PRICES,
        lessons: Sequence[Lesson] = (),
        lesson_limit: int = 8,
    ) -> None:
        super().__init__(provider, max_repairs=max_repairs, prices=prices)
        self.lessons: Sequence[Lesson] = lessons
        """Learnings of earlier runs; the plan sees the ones relevant to the request."""
        self.lesson_limit = lesson_limit

    async def plan(self, request: PlanRequest, emit: EmitFn) -> Blueprint:
        session = self.session(emit, agent_id="planner", role="planner")
        used = rank_lessons(self.lessons, request.request, limit=self.lesson_limit)
        notes = request.notes
        if used:
            session.say(f"learnings used: {', '.join(x.learning_id for x in used)}", kind="result")
            lines = "\n".join(f"- {x.line()}" for x in used)
            notes = f"{notes}\n\nLearnings from earlier runs (avoid these traps):\n{lines}"
        prompt = render_prompt(
            "planner",
            request=request.request,
            files="\n".join(request.repo_files[:400]) or "(empty)",
            notes=notes,
        )
        ask = StructuredAsk(
            system="You are a precise software planner. Reply with JSON only.",
            prompt=prompt,
            labels={"role": "planner"},
            noun="blueprint",
        )
        try:
            blueprint = await ask_structured(
                session, Blueprint, ask, max_repairs=self.max_repairs, check=Dag.from_blueprint
            )
        except StructuredReplyError as exc:
            session.finish(False, exc.last_error)
            raise PlanError(
                f"the planner gave no valid blueprint after {exc.tries} tries: {exc.last_error}"
            ) from exc
        except Exception as exc:  # the provider gave up: not left shown as running
            session.finish(False, error_line(exc))
            raise
        dag = Dag.from_blueprint(blueprint)
        session.say(
            f"blueprint: {len(blueprint.tasks)} tasks, critical path "
            f"{max(dag.critical_path.values())} deep"
        )
        session.finish(True, f"{len(blueprint.tasks)} tasks")
        return blueprint
