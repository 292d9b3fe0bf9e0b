"""The planner role: a request and a repository in, a validated blueprint out.

A reply that is not a valid blueprint (bad JSON, wrong shape, a cycle, a path outside the
repo) gets a bounded repair re-ask quoting the error (agents/structured.py); after that, a
clear PlanError.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.learnings import Lesson, rank_lessons
from agents.pricing import DEFAULT_PRICES, PriceTable
from agents.prompt_fit import Blocks, Part, fit_prompt
from agents.provider import Provider
from agents.roles.common import ModelRole
from agents.structured import (
    StructuredAsk,
    StructuredReplyError,
    ask_structured,
    error_line,
    extract_json,
)
from engine.blueprint import Blueprint
from engine.dag import Dag, PlanError
from engine.protocols import EmitFn, PlanRequest
from engine.recon import MAP_HEADING


def map_head(context: str) -> int:
    """The lines of recon's notes before and with its map's heading: kept whole."""
    at = context.find(MAP_HEADING)
    return context[: at + len(MAP_HEADING)].count("\n") + 1 if at != -1 else 0


__all__ = ["PlannerRole", "extract_json"]

FILES_CAP = 11_000
"""The most of the file list shown (about 400 paths), the most relevant to the request."""
CONTEXT_CAP = 12_500
"""The most of recon's notes shown (its repository map), the most relevant lines."""


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
        query = f"{request.request}\n{notes}"
        parts = {
            "files": Part("\n".join(request.repo_files), query, empty="(empty)", cap=FILES_CAP),
            "context": Part(
                request.context, query, Blocks(pinned=map_head(request.context)), "", CONTEXT_CAP
            ),
        }
        ask = StructuredAsk(
            system="You are a precise software planner. Reply with JSON only.",
            prompt="",
            labels={"role": "planner"},
            noun="blueprint",
            fit=lambda budget: fit_prompt(
                "planner", {"request": request.request, "notes": notes}, parts, budget
            ),
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
