"""The gauges mark each verdict as the pipeline decided it, not as the score alone reads."""

from __future__ import annotations

from engine.blueprint import Blueprint, Task
from engine.events import (
    BlueprintProposed,
    ReviewRoundFinished,
    ReviewScored,
    VerificationFinished,
)
from engine.state import RunState
from tui.widgets.score_gauges import compact_gauges_text, gauges_text


def _judged(score: int, checklist: dict[str, bool], passed: bool) -> RunState:
    state = RunState()
    state.apply(
        VerificationFinished(
            run_id="r",
            seq=1,
            verifier_model="sim:",
            judge_model="sim:",
            checklist=checklist,
            score=score,
            threshold=90,
            passed=passed,
        )
    )
    return state


def _judge_line(state: RunState) -> str:
    return next(line for line in gauges_text(state.scores).plain.splitlines() if "judge" in line)


def test_a_judge_score_over_the_bar_with_a_failing_checklist_shows_as_failed() -> None:
    """The judge said 93 but passed 5 of 9 items: the run did not ship, and the gauge must
    not show a green tick beside the score."""
    checklist = {f"item {n}": n < 5 for n in range(9)}
    state = _judged(93, checklist, passed=False)
    line = _judge_line(state)
    assert "93/100 ≥90 ✗ checklist 5/9" in line
    assert "✓" not in line
    compact = compact_gauges_text(state.scores)
    (judge,) = [span for span in compact.spans if compact.plain[span.start : span.end] == "93"]
    assert "red" in str(judge.style)
    assert state.to_status()["scores"]["judge_passed"] is False


def test_a_passing_verdict_shows_its_checklist() -> None:
    state = _judged(95, {"runs": True, "tested": True}, passed=True)
    assert "95/100 ≥90 ✓ checklist 2/2" in _judge_line(state)


def test_no_verdict_yet_is_a_dash() -> None:
    assert _judge_line(RunState()).endswith("—")


def test_a_reviewers_gauge_says_its_round() -> None:
    """The label was cut to eleven cells: "reviewer-1 r2" read "reviewer-1", and a second
    round could not be told from the first."""
    state = RunState()
    for seq, (name, score) in enumerate((("reviewer-1", 97), ("reviewer-10", 91)), 1):
        state.apply(
            ReviewScored(run_id="r", seq=seq, reviewer=name, model="m", round=2, score=score)
        )
    state.apply(
        ReviewRoundFinished(
            run_id="r", seq=3, round=2, scores={}, threshold=95, quorum=1, passed=True
        )
    )
    lines = gauges_text(state.scores).plain.splitlines()
    assert any(line.startswith("reviewer-1 r2 ") and "97/100 ≥95 ✓" in line for line in lines)
    assert any(line.startswith("reviewer-10 r2 ") and "91/100 ≥95 ✗" in line for line in lines)
    # The bars stay in one column.
    assert len({line.index("█") for line in lines if "█" in line}) == 1


def test_the_compact_line_has_a_dash_for_reviews_not_in_yet() -> None:
    """At 80x24 the line read "critic 8.0 · rev  · twin —" while the panel reviewed, and
    "rev /95" once a plan drawn again was under review."""
    assert compact_gauges_text(RunState().scores).plain.startswith("critic — · rev — · twin —")
    state = RunState()
    state.apply(
        ReviewRoundFinished(
            run_id="r", seq=1, round=1, scores={}, threshold=95, quorum=1, passed=False
        )
    )
    state.apply(
        BlueprintProposed(
            run_id="r",
            seq=2,
            blueprint=Blueprint(spec="s", tasks=[Task(id="t1", title="t")]),
            source="human",
        )
    )
    assert "· rev —/95 ·" in compact_gauges_text(state.scores).plain
