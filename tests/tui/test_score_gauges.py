"""The gauges mark each verdict as the pipeline decided it, not as the score alone reads."""

from __future__ import annotations

from engine.events import VerificationFinished
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
