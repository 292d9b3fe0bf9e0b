"""The pipeline's decisions as pure step functions over data.

Each function takes what a stage produced (a critic report, a panel's reviews, a twin
verdict, scores) and the config, and returns what happens next. No I/O, no events: the
:class:`~engine.pipeline.Factory` loop calls these and emits what they decide, so every
decision is testable on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from engine.blueprint import Blueprint
from engine.config import EngineConfig
from engine.dag import Dag, PlanError
from engine.roles import BlueprintPatch, CriticReport, TwinVerdict
from engine.state import RunState

_RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


class StageFailed(Exception):
    """Ends the run as failed with a one-line reason."""


class RunKilled(Exception):
    """Ends the run as killed (a kill gate, a rejected plan) with a one-line reason."""


def one_line(text: str) -> str:
    """The first line of ``text`` (stripped): a run's reason is one line, never a traceback."""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


KillGate = Literal["min_critic_score", "compliance_risk", "cannibalization"]


@dataclass(frozen=True)
class KillVerdict:
    gate: KillGate
    reason: str


def kill_gate(report: CriticReport, config: EngineConfig) -> KillVerdict | None:
    """The first kill gate the critic's report trips, or None to go on."""
    total = report.total
    if total < config.min_critic_score:
        low = sorted(report.scores.items(), key=lambda kv: kv[1])[:2]
        weakest = ", ".join(f"{name} {score:g}" for name, score in low)
        return KillVerdict(
            "min_critic_score",
            f"critic score {total:.1f}/10 is below {config.min_critic_score:g} "
            f"(weakest: {weakest})",
        )
    if _RISK_ORDER[report.compliance_risk] > _RISK_ORDER[config.max_compliance_risk]:
        return KillVerdict(
            "compliance_risk",
            f"compliance risk is {report.compliance_risk} (allowed up to "
            f"{config.max_compliance_risk})",
        )
    if report.cannibalizes and config.kill_on_cannibalization:
        return KillVerdict(
            "cannibalization",
            f"the request duplicates an existing capability of the repo: {report.cannibalizes}",
        )
    return None


@dataclass(frozen=True)
class PatchResult:
    blueprint: Blueprint
    applied: int
    refused: list[str]


def blueprint_text(blueprint: Blueprint) -> str:
    """The text SEARCH/REPLACE patches are written against."""
    return blueprint.model_dump_json(indent=2)


def apply_patches(blueprint: Blueprint, patches: Sequence[BlueprintPatch]) -> PatchResult:
    """Apply each patch in turn to the blueprint's JSON; keep only those that leave a valid,
    buildable blueprint. A patch whose SEARCH text is absent or ambiguous is refused."""
    current = blueprint
    applied = 0
    refused: list[str] = []
    for index, patch in enumerate(patches, 1):
        text = blueprint_text(current)
        count = text.count(patch.search) if patch.search else 0
        if count != 1:
            why = "not found" if count == 0 else f"found {count} times"
            refused.append(f"patch {index}: SEARCH text {why}")
            continue
        candidate = text.replace(patch.search, patch.replace, 1)
        try:
            patched = Blueprint.model_validate_json(candidate)
            Dag.from_blueprint(patched)
        except ValidationError as exc:
            refused.append(f"patch {index}: invalid blueprint ({exc.errors()[0]['msg']})")
            continue
        except PlanError as exc:
            refused.append(f"patch {index}: {exc}")
            continue
        if patched == current:  # not applied: a "new" revision equal to the old misleads
            continue
        current = patched
        applied += 1
    return PatchResult(current, applied, refused)


def quorum_reached(scores: Mapping[str, int], threshold: int, quorum: int) -> bool:
    """At least ``quorum`` reviewers scored at or above ``threshold``."""
    return sum(1 for score in scores.values() if score >= threshold) >= quorum


TwinRoute = Literal["accept", "change", "reject", "escalate"]


def twin_route(verdict: TwinVerdict, config: EngineConfig, changes_so_far: int) -> TwinRoute:
    """Where the twin's verdict sends the run.

    A redline or a confidence below the threshold goes to a human; so does a CHANGE once the
    twin has already sent the plan back ``twin_change_rounds`` times.
    """
    if verdict.redlines or verdict.confidence < config.twin_min_confidence:
        return "escalate"
    if verdict.decision == "ACCEPT":
        return "accept"
    if verdict.decision == "REJECT":
        return "reject"
    return "change" if changes_so_far < config.twin_change_rounds else "escalate"


def passes(score: int, threshold: int) -> bool:
    """A 0-100 score clears its threshold."""
    return score >= threshold


def checklist_share(checklist: Mapping[str, bool]) -> int | None:
    """The judge's checklist as a score out of 100: the share of its items that pass,
    rounded down (None for an empty checklist)."""
    if not checklist:
        return None
    return 100 * sum(1 for ok in checklist.values() if ok) // len(checklist)


def review_notes(findings: Iterable[str], limit: int = 4000) -> str:
    """The reviewers' findings as notes for the planner."""
    text = "\n".join(f"- {f}" for f in dict.fromkeys(findings))
    return text[:limit]


def learnings(state: RunState) -> list[tuple[str, str, str, list[str]]]:
    """What a run taught, as (kind, text, source, tags): tasks that needed retries (with what
    failed first) or failed every attempt (with what failed last), tripped circuit breakers,
    review findings that held a plan back and human decisions. Tags name the task and its
    files, so later runs can find the lesson again. Deterministic; sources already recorded
    are skipped, so a resumed run does not record a lesson twice."""
    known = {lr.source for lr in state.learnings}
    found: list[tuple[str, str, str, list[str]]] = []
    files: dict[str, list[str]] = {}
    if state.blueprint is not None:
        files = {t.id: [t.title, *t.files] for t in state.blueprint.tasks}
    for task in state.tasks.values():
        about = files.get(task.id, [])
        if task.breaker:
            text = f"task {task.id} failed twice the same way: {task.breaker}"
            tags = ["circuit_breaker", task.id, *about]
            found.append(("trap", text, f"breaker:{task.id}", tags))
        elif task.attempts > 1 and task.state.value == "merged":
            first = next((g for g in task.gates if g.attempt == 1 and not g.passed), None)
            why = f"{first.gate}: {first.summary}" if first else "its first attempt failed"
            detail = "; ".join(first.findings[:2]) if first else ""
            text = f"task {task.id} needed {task.attempts} attempts; first failure: {why}"
            text += f" ({detail})" if detail else ""
            found.append(("trap", text, f"retry:{task.id}", ["retry", task.id, *about]))
        elif task.attempts > 0 and task.state.value == "failed":
            last = next(
                (g for g in reversed(task.gates) if g.attempt == task.attempts and not g.passed),
                None,
            )
            why = f"{last.gate}: {last.summary}" if last else task.reason or "its attempts failed"
            detail = "; ".join(last.findings[:2]) if last else ""
            text = f"task {task.id} failed after {task.attempts} attempt(s); last failure: {why}"
            text += f" ({detail})" if detail else ""
            found.append(("trap", text, f"failed:{task.id}", ["failed", task.id, *about]))
    threshold = state.scores.review_threshold
    for review in state.scores.reviews:
        if threshold is None or review.score >= threshold:
            continue
        for number, finding in enumerate(review.findings[:3], 1):
            if finding.startswith("patch "):  # a refused patch, not a lesson
                continue
            source = f"review:{review.reviewer}:r{review.round}:{number}"
            found.append(("rule", f"plan review: {finding}", source, ["review"]))
    found.extend(
        (
            "decision",
            f"{esc.question} -> {esc.decision}" + (f" ({esc.note})" if esc.note else ""),
            f"human:{esc.escalation_id}",
            [esc.kind],
        )
        for esc in state.escalations.values()
        if esc.decided_by and esc.decided_by.startswith("human:")
    )
    return [(k, t[:500], s, tags[:12]) for k, t, s, tags in found if s not in known]
