"""Where a resumed run's planning goes on from, read off its log.

A run stopped with a plan in its log does not plan again: :func:`plan_resume_point` says
which review round, question or verdict it stopped at (:class:`PlanResume`), and
:meth:`~engine.planning.Planning.approve` goes on from there. The kinds of the escalations
planning raises, which that reading looks for, are named here.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.blueprint import Blueprint
from engine.events import Stage, TwinDecided
from engine.run_views import EscalationView
from engine.state import RunState

TWIN_ESCALATION = "twin"
"""The kind of the escalation the twin gate raises."""
REVIEW_ESCALATION = "review"
"""The kind of the escalation the review panel raises when its rounds reach no quorum."""


@dataclass(frozen=True)
class PanelProgress:
    """The review rounds held on a plan before a stop, and their findings."""

    rounds_done: int
    findings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanResume:
    """Where a resumed run's planning goes on from: the plan of its log and what was said
    about it since (all None: the twin judges the plan)."""

    blueprint: Blueprint
    waiting: EscalationView | None = None
    """The panel's or the twin's question on the plan, open or answered."""
    verdict: TwinDecided | None = None
    """The twin's verdict on the plan."""
    panel: PanelProgress | None = None
    """The review rounds stopped among: the next one reviews the plan."""


def plan_resume_point(state: RunState) -> PlanResume | None:
    """Where the planning of a run stopped, when the log holds a plan to go on with.

    A run stopped among the review rounds goes on with the next round on the plan as the
    panel's patches left it; one stopped on the panel's question, or at the twin gate,
    carries on from there; one stopped while the planner redrew a plan the twin or a person
    sent back draws it again with the notes it was sent back with. The critic, the planner
    and the rounds held are not run again (with real models: paid again; and a question
    asked again of a new plan, which an answer given to the open one would not reach).
    None: nothing to go on with (no plan yet), planning starts over.
    """
    plan = state.blueprint
    if plan is None or state.stage not in (Stage.BLUEPRINT, Stage.REVIEW, Stage.TWIN):
        return None
    after = state.blueprint_seq
    verdict = state.twin_verdict if state.twin_verdict and state.twin_verdict.seq > after else None
    asked = [
        e
        for e in state.escalations.values()
        if e.kind in (REVIEW_ESCALATION, TWIN_ESCALATION)
        and e.task_id is None
        and e.raised_seq > after
    ]
    if asked:
        return PlanResume(plan, asked[-1], verdict)
    if verdict is not None:
        return PlanResume(plan, verdict=verdict)
    if state.stage is Stage.REVIEW and not state.review_passed:
        return PlanResume(plan, panel=PanelProgress(state.review_rounds, (*state.review_findings,)))
    return PlanResume(plan) if state.stage is not Stage.BLUEPRINT else None
