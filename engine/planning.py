"""The stages before the build: critic and kill gates, blueprint, review panel, twin gate.

These are the cheap stages that stop a weak idea before the expensive build. Each method emits
what it learned and decides through :mod:`engine.stages`; when it cannot decide it asks the
:class:`~engine.escalations.EscalationBroker`. Every judging role is optional: a missing one
skips its stage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from engine.blueprint import Blueprint
from engine.bus import EventBus
from engine.config import EngineConfig
from engine.dag import Dag, PlanError
from engine.escalations import Decision, EscalationBroker
from engine.events import (
    BlueprintProposed,
    CriticScored,
    KillGateTripped,
    ReviewRoundFinished,
    ReviewScored,
    Stage,
    StageChanged,
    TwinDecided,
)
from engine.planning_resume import (
    REVIEW_ESCALATION,
    TWIN_ESCALATION,
    PanelProgress,
    PlanResume,
)
from engine.protocols import Planner, PlanRequest
from engine.roles import Critic, Reviewer, ReviewReport, Twin
from engine.run_views import EscalationView
from engine.stages import (
    RunKilled,
    StageFailed,
    apply_patches,
    kill_gate,
    one_line,
    quorum_reached,
    review_notes,
    twin_route,
)

Source = str


def _answered(view: EscalationView) -> Decision | None:
    """The answer the log holds to an escalation (None: still open)."""
    if view.decision is None:
        return None
    return Decision(view.escalation_id, view.decision, view.decided_by or "", view.note)


def _role_failed(role: str, exc: Exception) -> StageFailed:
    lines = str(exc).strip().splitlines()
    return StageFailed(f"{role} failed: {lines[0] if lines else type(exc).__name__}")


def _by_human(decided_by: str) -> bool:
    """An escalation's decision was a person's, not the twin policy's, a timeout's or
    another policy's (see :class:`~engine.escalations.EscalationBroker`)."""
    return decided_by not in ("twin", "timeout") and not decided_by.startswith("policy:")


def rejected(what: str, decision: Decision) -> str:
    """A run's reason for a rejection: who decided, and why when they said (a person's
    ``reject --reason``; the run's reason was all that ``status`` and ``runs`` showed, and it
    left the why out)."""
    why = one_line(decision.note)
    return f"{what} ({decision.decided_by})" + (f": {why}" if why else "")


@dataclass
class Planning:
    """Critic -> blueprint -> review rounds -> twin, for one run."""

    bus: EventBus
    config: EngineConfig
    request: str
    repo_files: list[str]
    planner: Planner
    broker: EscalationBroker
    critic: Critic | None = None
    reviewers: Sequence[Reviewer] = ()
    twin: Twin | None = None
    context_notes: str = ""
    """Always shown to the planner first (update mode: the repo map and the baseline)."""

    def _stage(self, stage: Stage) -> None:
        self.bus.emit(StageChanged(stage=stage))

    async def critique(self) -> None:
        """Score the request; raises :class:`RunKilled` when a kill gate trips."""
        if self.critic is None:
            return
        self._stage(Stage.CRITIC)
        try:
            report = await self.critic.critique(self.request, self.repo_files, self.bus.emit)
        except Exception as exc:
            raise _role_failed("critic", exc) from exc
        self.bus.emit(
            CriticScored(
                model=str(getattr(self.critic, "model", "")),
                scores=dict(report.scores),
                total=round(report.total, 3),
                compliance_risk=report.compliance_risk,
                cannibalizes=report.cannibalizes,
                rationale=report.rationale,
            )
        )
        verdict = kill_gate(report, self.config)
        if verdict is not None:
            self.bus.emit(KillGateTripped(gate=verdict.gate, reason=verdict.reason))
            raise RunKilled(f"kill gate {verdict.gate}: {verdict.reason}")

    async def approve(self, resume: PlanResume | None = None) -> Blueprint:
        """Draw the blueprint and take it through review and the twin until it is accepted.

        The twin may send the plan back ``twin_change_rounds`` times in all — with its own
        CHANGE, or answering an escalation for the owner (the ``twin`` policy) — counted
        over the run's log, so a restart grants no more. One more send-back that no human
        made ends the run, rather than re-planning for ever.

        ``resume``: a resumed run stopped with a plan in its log
        (:func:`~engine.planning_resume.plan_resume_point`). It goes on from there: the next
        review round, the open question asked again (an answer posted meanwhile is taken),
        an answer or a verdict the log holds taken as given, or the twin asked; nothing is
        planned or reviewed again unless that sends the plan back, and then with the notes
        it was sent back with.
        """
        notes, source = "", "planner"
        twin_changes = self.bus.state.twin_sendbacks
        while True:
            outcome = await self._one_plan(resume, notes, source, twin_changes)
            resume = None
            if isinstance(outcome, Blueprint):
                return outcome
            notes, by_human = outcome  # a new plan was asked for, with these notes
            if not by_human:
                if twin_changes >= self.config.twin_change_rounds:
                    raise RunKilled(
                        f"the twin sent the plan back {twin_changes} times and asked again; "
                        "a human must decide"
                    )
                twin_changes += 1
            source = "human" if by_human else "twin"

    async def _one_plan(
        self, resume: PlanResume | None, notes: str, source: Source, twin_changes: int
    ) -> Blueprint | tuple[str, bool]:
        """One plan through the panel and the twin (drawn with ``notes``, or the resumed
        one): the plan accepted, or the notes for the next and whether a human sent it back."""
        waiting = resume.waiting if resume is not None else None
        reviewed: Blueprint | tuple[str, bool]
        if resume is None:
            reviewed = await self._review(await self._draft(notes, source))
        elif waiting is not None and waiting.kind == REVIEW_ESCALATION:
            reviewed = await self._ask_panel(
                resume.blueprint, waiting.question, waiting.context, _answered(waiting)
            )
        elif resume.panel is not None:
            reviewed = await self._review(resume.blueprint, resume.panel)
        else:
            reviewed = resume.blueprint
        if isinstance(reviewed, tuple):
            return reviewed
        verdict = resume.verdict if resume is not None else None
        if waiting is not None and waiting.kind == TWIN_ESCALATION:
            twin_notes = verdict.notes if verdict is not None else waiting.context
            route, notes, by_human = await self._ask_owner(
                waiting.question, twin_notes, _answered(waiting)
            )
        elif verdict is not None:
            route, notes, by_human = await self._twin_routed(verdict, twin_changes)
        else:
            route, notes, by_human = await self._twin(reviewed, twin_changes)
        return reviewed if route == "accept" else (notes, by_human)

    async def _draft(self, notes: str, source: Source) -> Blueprint:
        self._stage(Stage.BLUEPRINT)
        try:
            blueprint = await self.planner.plan(
                PlanRequest(
                    request=self.request,
                    repo_files=self.repo_files,
                    notes=notes,
                    context=self.context_notes,
                ),
                self.bus.emit,
            )
        except PlanError:
            raise
        except Exception as exc:
            raise _role_failed("planner", exc) from exc
        Dag.from_blueprint(blueprint)  # refuse an unbuildable plan before announcing it
        self._propose(blueprint, source)
        return blueprint

    def _propose(self, blueprint: Blueprint, source: Source) -> None:
        self.bus.emit(
            BlueprintProposed(
                blueprint=blueprint,
                revision=self.bus.state.blueprint_revision + 1,
                source=source,
            )
        )

    async def _review(
        self, blueprint: Blueprint, held: PanelProgress | None = None
    ) -> Blueprint | tuple[str, bool]:
        """Review rounds until a quorum approves; returns the (patched) blueprint, or notes
        for a new plan when the escalation asks for one (and whether a human did). Raises
        RunKilled when it is rejected. ``held``: the rounds held on ``blueprint`` before a
        restart; the next round goes on from them."""
        if not self.reviewers:
            return blueprint
        self._stage(Stage.REVIEW)
        threshold = self.config.review_threshold
        quorum = self.config.quorum_for(len(self.reviewers))
        findings: list[str] = list(held.findings) if held is not None else []
        failed: list[str] = []
        first = held.rounds_done + 1 if held is not None else 1
        for round_no in range(first, self.config.review_rounds + 1):
            # A reviewer that fails (its provider gave up, no valid reply) is a missing vote:
            # the quorum is still counted on the whole panel, so it cannot approve by absence.
            replies: list[ReviewReport | BaseException] = await asyncio.gather(
                *(
                    r.review(self.request, blueprint, round_no, self.bus.emit)
                    for r in self.reviewers
                ),
                return_exceptions=True,
            )
            failed = []
            for reviewer, reply in zip(self.reviewers, replies, strict=True):
                if isinstance(reply, BaseException) and not isinstance(reply, Exception):
                    raise reply  # a cancellation, not a reviewer's failure
                if isinstance(reply, Exception):
                    failed.append(str(_role_failed(reviewer.reviewer_id, reply)))
            if len(failed) == len(self.reviewers):
                raise StageFailed("every reviewer failed: " + "; ".join(failed))
            scores: dict[str, int] = {}
            patched = False
            for reviewer, report in zip(self.reviewers, replies, strict=True):
                if isinstance(report, BaseException):
                    continue
                result = apply_patches(blueprint, report.patches)
                blueprint = result.blueprint
                patched = patched or result.applied > 0
                scores[reviewer.reviewer_id] = report.score
                findings.extend(report.findings)
                self.bus.emit(
                    ReviewScored(
                        reviewer=reviewer.reviewer_id,
                        model=str(getattr(reviewer, "model", reviewer.family)),
                        round=round_no,
                        score=report.score,
                        findings=[*report.findings, *result.refused],
                        patches=len(report.patches),
                        patches_applied=result.applied,
                        patches_refused=len(result.refused),
                    )
                )
            if patched:
                self._propose(blueprint, "review")
            passed = quorum_reached(scores, threshold, quorum)
            self.bus.emit(
                ReviewRoundFinished(
                    round=round_no, scores=scores, threshold=threshold, quorum=quorum, passed=passed
                )
            )
            if passed:
                return blueprint
        last = self.bus.state.scores.latest_reviews()
        summary = ", ".join([*(f"{r.reviewer} {r.score}" for r in last), *failed])
        question = (
            f"After {self.config.review_rounds} review rounds only "
            f"{sum(r.score >= threshold for r in last)} of {len(self.reviewers)} reviewers "
            f"reached {threshold} (quorum {quorum}; {summary}). "
            "Approve the plan, revise it, or reject?"
        )
        return await self._ask_panel(blueprint, question, review_notes(findings))

    async def _ask_panel(
        self,
        blueprint: Blueprint,
        question: str,
        findings: str,
        answered: Decision | None = None,
    ) -> Blueprint | tuple[str, bool]:
        """The panel's escalation: the plan approved as it stands, or the notes for a new
        one (the panel's ``findings`` and the answer's note) and whether a human asked for it.
        Raises RunKilled on a rejection. ``answered``: the answer the log holds already."""
        decision = answered or await self.broker.ask(
            REVIEW_ESCALATION,
            question,
            ["approve", "revise", "reject"],
            default="reject",
            context=findings,
        )
        if decision.decision == "approve":
            return blueprint
        if decision.decision == "revise":
            note = f"\n{decision.note}" if decision.note else ""
            return findings + note, _by_human(decision.decided_by)
        raise RunKilled(rejected("the plan was rejected after review", decision))

    async def _twin(self, blueprint: Blueprint, changes: int) -> tuple[str, str, bool]:
        """The twin gate: returns (``accept`` | ``change``, notes for the planner, by a human).
        Raises RunKilled on a rejection."""
        if self.twin is None:
            return "accept", "", False
        self._stage(Stage.TWIN)
        try:
            verdict = await self.twin.decide(self.request, blueprint, self.bus.emit)
        except Exception as exc:
            raise _role_failed("twin", exc) from exc
        route = twin_route(verdict, self.config, changes)
        decided = TwinDecided(
            decision=verdict.decision,
            confidence=verdict.confidence,
            notes=verdict.notes,
            redlines=list(verdict.redlines),
            escalated=route == "escalate",
        )
        self.bus.emit(decided)
        return await self._twin_routed(decided, changes)

    async def _twin_routed(self, verdict: TwinDecided, changes: int) -> tuple[str, str, bool]:
        """Where the twin's verdict (as logged) sends the plan: as :meth:`_twin` says."""
        route = "escalate" if verdict.escalated else verdict.decision.lower()
        if route == "reject":
            raise RunKilled(f"the twin rejected the plan: {verdict.notes}".strip().rstrip(":"))
        if route != "escalate":
            return route, verdict.notes, False
        why = (
            f"it touches redline(s): {', '.join(verdict.redlines)}"
            if verdict.redlines
            else f"its confidence {verdict.confidence:.2f} is below "
            f"{self.config.twin_min_confidence:.2f}"
            if verdict.confidence < self.config.twin_min_confidence
            else f"it asked for changes {changes + 1} times"
        )
        question = f"The twin says {verdict.decision} on the plan, but {why}."
        return await self._ask_owner(f"{question} Accept, change or reject?", verdict.notes)

    async def _ask_owner(
        self, question: str, twin_notes: str, answered: Decision | None = None
    ) -> tuple[str, str, bool]:
        """The twin's escalation: (``accept`` | ``change``, notes for the planner, by a
        human). Raises RunKilled on a rejection. ``answered``: the answer the log holds."""
        decision = answered or await self.broker.ask(
            TWIN_ESCALATION,
            question,
            ["accept", "change", "reject"],
            default="reject",
            context=twin_notes,
        )
        by_human = _by_human(decision.decided_by)
        if decision.decision == "accept":
            return "accept", "", by_human
        if decision.decision == "change":
            notes = "\n".join(n for n in (twin_notes, decision.note) if n)
            return "change", notes, by_human
        raise RunKilled(rejected("the plan was rejected at the twin gate", decision))
