"""The pipeline strip of a finished run: the stages it passed, and where it stopped."""

from __future__ import annotations

import sample_run
from pilot_helpers import caught_up

from engine.bus import EventBus
from engine.events import (
    EventBase,
    Outcome,
    RunFinished,
    RunStarted,
    Stage,
    StageChanged,
)
from engine.state import RunState
from tui.app import ShopfloorApp
from tui.widgets.pipeline_strip import STAGES, PipelineStrip, pipeline_text


def _state(*events: EventBase) -> RunState:
    started = RunStarted(
        request="x",
        repo="/repos/x",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/wip/r1",
    )
    script = [started, *events]
    return RunState.fold(
        event.model_copy(update={"run_id": "r1", "seq": seq})
        for seq, event in enumerate(script, start=1)
    )


def _ticked(state: RunState) -> list[str]:
    return [part.strip()[1:] for part in pipeline_text(state).plain.split("›") if "✓" in part]  # noqa: RUF001


def test_a_run_that_failed_in_the_build_ticks_only_the_stages_before_it() -> None:
    stages = [StageChanged(stage=stage) for stage in STAGES[: STAGES.index(Stage.BUILD) + 1]]
    state = _state(*stages, RunFinished(outcome=Outcome.FAILED, reason="abandoned"))
    assert _ticked(state) == ["intake", "critic", "blueprint", "review", "twin"]
    strip = pipeline_text(state)
    (build,) = [span for span in strip.spans if strip.plain[span.start : span.end] == " build "]
    assert "red" in str(build.style)  # where it stopped, in red


def test_a_shipped_run_ticks_every_stage() -> None:
    stages = [StageChanged(stage=stage) for stage in STAGES]
    state = _state(*stages, RunFinished(outcome=Outcome.SHIPPED, branch="b"))
    assert _ticked(state) == [stage.value for stage in STAGES]


def test_an_audit_shows_only_the_stages_it_runs() -> None:
    """An audit reviews, reports and learns: its finished strip ticked blueprint, build, qc,
    verify and ship too, as if it had changed the code."""
    started = RunStarted(
        request="Audit x",
        repo="/repos/x",
        base_branch="main",
        base_commit="0" * 40,
        integration_branch="shopfloor/wip/r1",
        mode="audit",
    )
    script = [
        started,
        StageChanged(stage=Stage.REVIEW),
        StageChanged(stage=Stage.LEARN),
        RunFinished(outcome=Outcome.REPORTED, reason="audit report: r.md"),
    ]
    state = RunState.fold(
        event.model_copy(update={"run_id": "r1", "seq": seq})
        for seq, event in enumerate(script, start=1)
    )
    assert _ticked(state) == ["intake", "review", "learn"]
    assert pipeline_text(state).plain == "✓intake › ✓review › ✓learn"  # noqa: RUF001
    during = RunState.fold(
        event.model_copy(update={"run_id": "r1", "seq": seq})
        for seq, event in enumerate(script[:2], start=1)
    )
    assert pipeline_text(during).plain == "✓intake ›  review  › learn"  # noqa: RUF001


async def test_at_80_columns_the_strip_keeps_the_last_stages_in_sight() -> None:
    """At 80 columns the strip's end was cut: a run in its ship stage showed no highlighted
    stage, and ✓learn never appeared. Wider again, the strip has its arrows back."""
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=(80, 24)) as pilot:
        sample_run.start(bus)
        bus.emit(StageChanged(stage=Stage.SHIP))
        await caught_up(app, bus, pilot)
        strip = app.screen.query_one(PipelineStrip)
        shown = strip.render_line(0).text
        assert " ship " in shown and "learn" in shown and "…" not in shown
        assert "✓verify" in shown
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        assert "› ✓verify ›  ship  › learn" in strip.render_line(0).text  # noqa: RUF001
