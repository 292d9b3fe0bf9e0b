"""The stages' decisions as the headless console says them, with their scores: the critic's,
a review round's, the verification's, the budget limits set by hand. An overnight log read
in the morning says why the run went on or stopped. It never imports Textual.
"""

from __future__ import annotations

from rich.text import Text

from engine.durations import duration_text
from engine.events import BudgetLimitsSet, CriticScored, ReviewRoundFinished, VerificationFinished
from engine.spend import dollars
from engine.stages import passes

PASS = ("✓", "bold green")
FAIL = ("✗", "bold red")


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, stripped ('' if none)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def critic_line(event: CriticScored) -> Text:
    """The critic's total out of 10, its criteria and the compliance risk."""
    scores = ", ".join(f"{name} {value:g}" for name, value in event.scores.items())
    text = Text.assemble(("critic ", "bold"), f"{event.total:.1f}/10")
    if scores:
        text.append(f" ({scores})")
    text.append(f"; compliance risk {event.compliance_risk}")
    if event.cannibalizes:
        text.append(f"; duplicates {event.cannibalizes}")
    return text


def review_round_line(event: ReviewRoundFinished) -> Text:
    """A review round's scores and whether a quorum cleared the threshold."""
    at_or_above = sum(passes(score, event.threshold) for score in event.scores.values())
    scores = ", ".join(str(score) for score in event.scores.values())
    return Text.assemble(
        PASS if event.passed else FAIL,
        (f" review round {event.round}", "bold"),
        f": {scores} — {at_or_above} of {len(event.scores)} at ≥ {event.threshold}"
        f" ({event.quorum} needed): {'quorum' if event.passed else 'no quorum'}",
    )


def verification_line(event: VerificationFinished) -> Text:
    """The judge's score, the checklist and what the verifier broke."""
    checks = sum(event.checklist.values())
    broken = (
        f"the verifier broke {len(event.broken)}: {first_line(event.broken[0])}"
        + (" …" if len(event.broken) > 1 else "")
        if event.broken
        else "the verifier broke nothing"
    )
    return Text.assemble(
        PASS if event.passed else FAIL,
        (" verification", "bold"),
        f": judge {event.score}/100 (≥ {event.threshold} to ship),"
        f" {checks}/{len(event.checklist)} checks; {broken}",
    )


def limits_text(event: BudgetLimitsSet) -> str:
    """The limits a BudgetLimitsSet holds, in words ("run $10.00 and 8h, each task 800000
    tokens")."""
    parts = []
    for scope, tokens, cost, time in (
        ("run", event.max_tokens, event.max_cost_usd, event.max_duration_s),
        ("each task", event.task_max_tokens, event.task_max_cost_usd, None),
    ):
        said = [f"{tokens} tokens"] if tokens is not None else []
        said += [dollars(cost)] if cost is not None else []
        said += [duration_text(time)] if time is not None else []
        if said:
            parts.append(f"{scope} {' and '.join(said)}")
    return ", ".join(parts) or "no limits"
