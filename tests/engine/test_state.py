"""RunState: the fold over a run's events, and the events' JSON form."""

from __future__ import annotations

import json
import typing
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from engine.blueprint import Blueprint, Task
from engine.bus import stamped
from engine.event_codec import (
    Event,
    event_from_dict,
    event_from_json,
    event_json_bytes,
    event_to_json,
)
from engine.events import (
    AgentFinished,
    AgentOutput,
    AgentStarted,
    BlueprintProposed,
    BudgetLimitsSet,
    BudgetUpdated,
    CircuitBreakerTripped,
    CriticScored,
    EscalationRaised,
    EscalationResolved,
    EventBase,
    GateFinished,
    KillGateTripped,
    LearningRecorded,
    LLMCallFinished,
    MergeConflict,
    Merged,
    MergeQueued,
    Outcome,
    QCScored,
    ReviewRoundFinished,
    ReviewScored,
    RunFinished,
    RunInterrupted,
    RunResumed,
    RunStarted,
    Stage,
    StageChanged,
    TaskReviewed,
    TaskState,
    TaskStateChanged,
    TwinDecided,
    VerificationFinished,
)
from engine.state import RunState

BLUEPRINT = Blueprint(
    spec="A greeting CLI",
    acceptance_criteria=["prints hello", "has --name"],
    tasks=[
        Task(id="core", title="Greeting function", files=["greet.py"]),
        Task(id="cli", title="Command line", depends_on=["core"], files=["cli.py"]),
        Task(id="docs", title="Write the README", files=["README.md"]),
    ],
)

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def stamp(events: list[EventBase], run_id: str = "run-1") -> list[EventBase]:
    """Stamp events as the bus would: run id, gap-free seq, increasing time."""
    return [
        e.model_copy(update={"run_id": run_id, "seq": i, "ts": T0 + timedelta(seconds=i)})
        for i, e in enumerate(events, start=1)
    ]


def full_run() -> list[EventBase]:
    """A shipped run: docs merges first, core needs two attempts, one escalation is answered."""
    tsc = TaskStateChanged
    return stamp(
        [
            RunStarted(
                request="Build a greeting CLI",
                repo="/repos/greet",
                base_branch="main",
                base_commit="0" * 40,
                integration_branch="shopfloor/wip/run-1",
                models={"planner": "sim:greet", "engineer": "sim:greet"},
                simulated=True,
            ),
            StageChanged(stage=Stage.BLUEPRINT),
            AgentStarted(agent_id="planner", role="planner", model="sim:greet", simulated=True),
            LLMCallFinished(
                agent_id="planner",
                role="planner",
                provider="sim",
                model="sim-greet",
                simulated=True,
                input_tokens=1200,
                output_tokens=300,
                cost_usd=0.25,
            ),
            AgentFinished(agent_id="planner", ok=True, summary="3 tasks"),
            BlueprintProposed(blueprint=BLUEPRINT),
            StageChanged(stage=Stage.BUILD),
            tsc(task_id="core", state=TaskState.READY),
            tsc(task_id="docs", state=TaskState.READY),
            tsc(task_id="core", state=TaskState.RUNNING, attempt=1),
            tsc(task_id="docs", state=TaskState.RUNNING, attempt=1),
            AgentStarted(
                agent_id="engineer:core:a1",
                role="engineer",
                model="sim:greet",
                simulated=True,
                task_id="core",
                attempt=1,
            ),
            LLMCallFinished(
                agent_id="engineer:core:a1",
                role="engineer",
                provider="sim",
                model="sim-greet",
                input_tokens=800,
                output_tokens=200,
                cost_usd=0.125,
            ),
            AgentOutput(
                agent_id="engineer:core:a1", kind="tool", text="write_file\nwrote greet.py"
            ),
            AgentFinished(agent_id="engineer:core:a1", ok=True, summary="greet()"),
            tsc(task_id="core", state=TaskState.GATES, attempt=1),
            GateFinished(
                gate="tests",
                scope="task",
                task_id="core",
                attempt=1,
                passed=False,
                summary="1 failed",
                output_tail="assert 'hi' == 'hello'",
            ),
            tsc(task_id="docs", state=TaskState.MERGING, attempt=1),
            MergeQueued(task_id="docs", attempt=1),
            Merged(task_id="docs", attempt=1, commit="d" * 40),
            tsc(task_id="docs", state=TaskState.MERGED, attempt=1),
            tsc(task_id="core", state=TaskState.RUNNING, attempt=2, reason="retry: 1 failed"),
            EscalationRaised(
                escalation_id="esc-1",
                question="Greet in French too?",
                options=["yes", "no"],
                task_id="core",
            ),
            EscalationResolved(escalation_id="esc-1", decision="no", decided_by="alice"),
            EscalationRaised(escalation_id="esc-2", question="Ship on Friday?"),
            GateFinished(
                gate="tests",
                scope="task",
                task_id="core",
                attempt=2,
                passed=True,
                summary="4 passed",
            ),
            tsc(task_id="core", state=TaskState.MERGING, attempt=2),
            MergeQueued(task_id="core", attempt=2),
            MergeConflict(task_id="core", attempt=2, detail="README.md"),
            Merged(task_id="core", attempt=2, commit="c" * 40),
            tsc(task_id="core", state=TaskState.MERGED, attempt=2),
            tsc(task_id="cli", state=TaskState.READY),
            tsc(task_id="cli", state=TaskState.RUNNING, attempt=1),
            Merged(task_id="cli", attempt=1, commit="e" * 40),
            tsc(task_id="cli", state=TaskState.MERGED, attempt=1),
            StageChanged(stage=Stage.VERIFY),
            StageChanged(stage=Stage.SHIP),
            RunFinished(
                outcome=Outcome.SHIPPED,
                branch="shopfloor/build-a-greeting-cli-run-1",
                commit="e" * 40,
            ),
        ]
    )


def test_a_full_run_folds_into_the_status_a_user_sees():
    events = full_run()
    status = RunState.fold(events).to_status()
    assert status == {
        "run_id": "run-1",
        "outcome": "shipped",
        "stage": "done",
        "reason": "",
        "interrupted_at": None,
        "request": "Build a greeting CLI",
        "repo": "/repos/greet",
        "mode": "create",
        "simulated": True,
        "branch": "shopfloor/build-a-greeting-cli-run-1",
        "integration_branch": "shopfloor/wip/run-1",
        "tasks": [
            {
                "id": "core",
                "title": "Greeting function",
                "state": "merged",
                "attempts": 2,
                "depends_on": [],
            },
            {
                "id": "cli",
                "title": "Command line",
                "state": "merged",
                "attempts": 1,
                "depends_on": ["core"],
            },
            {
                "id": "docs",
                "title": "Write the README",
                "state": "merged",
                "attempts": 1,
                "depends_on": [],
            },
        ],
        "merged": ["docs", "core", "cli"],
        "escalations": [
            {
                "id": "esc-1",
                "kind": "other",
                "question": "Greet in French too?",
                "options": ["yes", "no"],
                "task_id": "core",
                "decision": "no",
                "decided_by": "alice",
                "note": "",
            },
            {
                "id": "esc-2",
                "kind": "other",
                "question": "Ship on Friday?",
                "options": [],
                "task_id": None,
                "decision": None,
                "decided_by": None,
                "note": "",
            },
        ],
        "kill_gate": None,
        "scores": {
            "critic": None,
            "reviews": {},
            "review_round": 0,
            "twin": None,
            "twin_confidence": None,
            "qc": None,
            "judge": None,
            "judge_passed": None,
        },
        "learnings": [],
        "tokens": {"input": 2000, "cached": 0, "output": 500},
        "cost_usd": 0.375,
        "agents": {"running": 0, "done": 2, "failed": 0, "cut_off": 0},
        "budget": None,
        "unpriced_models": {},
        "baseline_red": {},
        "started_at": (T0 + timedelta(seconds=1)).isoformat(),
        "finished_at": (T0 + timedelta(seconds=len(events))).isoformat(),
    }
    json.dumps(status)  # what `status --json` prints must be plain JSON


def test_the_fold_keeps_per_task_and_per_agent_detail():
    state = RunState.fold(full_run())
    core = state.tasks["core"]
    assert [(g.attempt, g.passed, g.summary) for g in core.gates] == [
        (1, False, "1 failed"),
        (2, True, "4 passed"),
    ]
    assert core.gates[0].output_tail == "assert 'hi' == 'hello'"
    assert core.merged_commit == "c" * 40
    engineer = state.agents["engineer:core:a1"]
    assert (engineer.running, engineer.ok, engineer.calls) == (False, True, 1)
    assert (engineer.input_tokens, engineer.output_tokens) == (800, 200)
    assert engineer.last_line == "wrote greet.py"
    assert [e.escalation_id for e in state.open_escalations] == ["esc-2"]
    assert state.last_seq == len(full_run())


def test_a_run_in_flight_shows_its_stage_and_task_states():
    events = full_run()
    cut = next(i for i, e in enumerate(events) if isinstance(e, EscalationRaised))
    status = RunState.fold(events[:cut]).to_status()
    assert (status["outcome"], status["stage"]) == ("running", "build")
    assert {t["id"]: (t["state"], t["attempts"]) for t in status["tasks"]} == {
        "core": ("running", 2),
        "cli": ("pending", 0),
        "docs": ("merged", 1),
    }
    assert status["merged"] == ["docs"]
    assert status["finished_at"] == ""


def test_a_failed_run_reports_its_reason_and_blocked_tasks():
    events = stamp(
        [
            *full_run()[:7],  # up to StageChanged(BUILD)
            TaskStateChanged(
                task_id="core",
                state=TaskState.FAILED,
                attempt=3,
                reason="out of attempts: 1 failed",
            ),
            TaskStateChanged(task_id="cli", state=TaskState.BLOCKED, reason="core failed"),
            RunFinished(
                outcome=Outcome.FAILED,
                reason="task(s) failed after all attempts: core; blocked: cli",
            ),
        ]
    )
    status = RunState.fold(events).to_status()
    assert (status["outcome"], status["stage"], status["branch"]) == ("failed", "done", None)
    assert status["reason"] == "task(s) failed after all attempts: core; blocked: cli"
    assert {t["id"]: (t["state"], t["attempts"]) for t in status["tasks"]} == {
        "core": ("failed", 3),
        "cli": ("blocked", 0),
        "docs": ("pending", 0),
    }


def test_folding_the_same_events_twice_gives_equal_status():
    events = full_run()
    assert RunState.fold(events).to_status() == RunState.fold(events).to_status()


def test_folding_events_read_back_from_json_gives_the_same_status():
    events = full_run()
    reread = [event_from_json(event_to_json(e)) for e in events]
    assert RunState.fold(reread).to_status() == RunState.fold(events).to_status()


def test_an_incremental_fold_equals_a_fold_from_scratch():
    events = full_run()
    state = RunState()
    for event in events:
        state.apply(event)
    assert state.to_status() == RunState.fold(events).to_status()
    resumed = RunState.fold(events[:20])
    for event in events[20:]:
        resumed.apply(event)
    assert resumed.to_status() == state.to_status()


# -- JSON round trip -----------------------------------------------------------------------


def one_of_each() -> list[EventBase]:
    """One event of every type, every field away from its default."""
    events: list[EventBase] = [
        RunStarted(
            request="r",
            repo="/x",
            mode="update",
            base_branch="dev",
            base_commit="1" * 40,
            integration_branch="shopfloor/wip/x",
            models={"planner": "sim:"},
            simulated=True,
        ),
        StageChanged(stage=Stage.VERIFY),
        BlueprintProposed(blueprint=BLUEPRINT),
        TaskStateChanged(task_id="core", state=TaskState.BLOCKED, attempt=2, reason="x failed"),
        AgentStarted(
            agent_id="a", role="engineer", model="sim:", simulated=True, task_id="core", attempt=2
        ),
        AgentFinished(agent_id="a", ok=False, summary="gave up"),
        AgentOutput(agent_id="a", kind="error", text="boom\nline 2 — ünïcode"),
        LLMCallFinished(
            agent_id="a",
            role="engineer",
            provider="sim",
            model="m",
            simulated=True,
            input_tokens=1,
            output_tokens=2,
            cache_read_tokens=3,
            cache_write_tokens=4,
            latency_s=0.5,
            cost_usd=0.01,
        ),
        GateFinished(
            gate="lint",
            scope="merge",
            task_id="core",
            attempt=2,
            passed=False,
            summary="2 issues",
            duration_s=1.5,
            counts={"errors": 2},
            output_tail="E501",
        ),
        MergeQueued(task_id="core", attempt=2),
        Merged(task_id="core", attempt=2, commit="2" * 40),
        MergeConflict(task_id="core", attempt=2, detail="conflict in a.py"),
        EscalationRaised(
            escalation_id="e", question="q?", options=["a", "b"], task_id="core", context="ctx"
        ),
        EscalationResolved(escalation_id="e", decision="a", decided_by="bob", note="because"),
        CriticScored(
            model="sim:",
            scores={"value": 8, "feasibility": 7},
            total=7.5,
            compliance_risk="medium",
            cannibalizes="greeter",
            rationale="r",
        ),
        KillGateTripped(gate="cannibalization", reason="duplicates greeter"),
        ReviewScored(
            reviewer="reviewer-1", model="m", round=2, score=91, findings=["f"], patches=2
        ),
        ReviewRoundFinished(
            round=2, scores={"reviewer-1": 91}, threshold=95, quorum=1, passed=False
        ),
        TwinDecided(decision="CHANGE", confidence=0.4, notes="n", redlines=["x"], escalated=True),
        TaskReviewed(task_id="core", attempt=2, model="m", approved=False, score=40, notes="n"),
        CircuitBreakerTripped(task_id="core", attempt=2, signature="sig"),
        BudgetUpdated(tokens=10, cost_usd=0.5, max_tokens=100, max_cost_usd=1.0, exceeded="cost"),
        BudgetLimitsSet(
            max_tokens=200, max_cost_usd=2.0, task_max_tokens=50, task_max_cost_usd=0.5
        ),
        QCScored(model="m", score=80, threshold=85, notes="n"),
        VerificationFinished(
            verifier_model="v",
            judge_model="j",
            broken=["b"],
            checklist={"c": True},
            score=92,
            threshold=90,
            passed=True,
        ),
        LearningRecorded(learning_id="l1", kind="trap", text="t", source="retry:core", tags=["x"]),
        RunResumed(merged_from_repo=["core"], restarted=["cli"], settings={"workers": "2"}),
        RunInterrupted(),
        RunFinished(outcome=Outcome.KILLED, reason="stopped", branch="b", commit="3" * 40),
    ]
    return stamp(events, run_id="run-json")


def test_the_round_trip_sample_covers_every_event_type():
    union, _discriminator = typing.get_args(Event)
    assert {type(e) for e in one_of_each()} == set(typing.get_args(union))


def test_event_types_are_final():
    # Storage dispatches on an event's exact class (storage.projector, storage.projection).
    union, _discriminator = typing.get_args(Event)
    for cls in typing.get_args(union):
        assert cls.__subclasses__() == [], f"{cls.__name__} has subclasses"


def test_every_event_type_round_trips_through_json():
    for event in one_of_each():
        text = event_to_json(event)
        back = event_from_json(text)
        assert type(back) is type(event)
        assert back == event
        assert event_from_json(text.encode()) == event
        assert event_from_dict(json.loads(text)) == event
        assert json.loads(text)["type"] == type(event).__name__
        assert event_json_bytes(event) == text.encode()


def test_the_bus_stamp_equals_pydantic_model_copy_for_every_event_type():
    when = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    for event in one_of_each():
        ours = stamped(event, "run-7", 41, when)
        theirs = event.model_copy(update={"run_id": "run-7", "seq": 41, "ts": when})
        assert type(ours) is type(theirs)
        assert ours == theirs
        assert ours.model_fields_set == theirs.model_fields_set
        assert event_to_json(ours) == event_to_json(theirs)
        assert ours.__dict__ is not event.__dict__
        assert (event.run_id, event.seq) != ("run-7", 41)  # the original is left as it was
        with pytest.raises(ValidationError):
            ours.seq = 1  # type: ignore[misc]  # still frozen


def started(**fields: typing.Any) -> RunStarted:
    """The RunStarted of a run on ``/x`` (``fields`` replace or add to its own)."""
    return RunStarted(
        **{
            "request": "r",
            "repo": "/x",
            "base_branch": "main",
            "base_commit": "0" * 40,
            "integration_branch": "shopfloor/wip/x",
            **fields,
        }
    )


def test_a_resume_that_records_settings_replaces_those_the_run_started_with() -> None:
    start = started(settings={"escalation_policy": "wait", "workers": "4"})
    unwatched = {"escalation_policy": "twin", "workers": "4"}
    state = RunState.fold(stamp([start, RunResumed(settings=unwatched)]))
    assert state.settings == unwatched
    # A log written before resumes recorded settings keeps the ones the run started with.
    state = RunState.fold(stamp([start, RunResumed(restarted=["core"])]))
    assert state.settings == {"escalation_policy": "wait", "workers": "4"}


def test_an_interrupt_is_folded_until_a_resume_goes_on() -> None:
    """status tells a run its process stopped cleanly from one whose log just ends."""
    start = started()
    assert RunState.fold(stamp([start])).interrupted_at is None  # a crash's log
    events = stamp([start, RunInterrupted()])
    assert RunState.fold(events).interrupted_at == events[-1].ts.isoformat()
    assert RunState.fold(events).to_status()["interrupted_at"] == events[-1].ts.isoformat()
    assert RunState.fold(stamp([start, RunInterrupted(), RunResumed()])).interrupted_at is None


def test_agents_of_the_process_a_resume_replaced_are_cut_off_not_running() -> None:
    """Before, an agent the killed process never finished stayed "running" in the fold of
    the resumed run for good: in the agent table, the log's title and the agent counts of a
    run that was live again. A resume cuts them off; the attempt it restarts under the same
    agent id runs again, and one that had finished stays as it ended."""
    start = started()

    def began(agent_id: str, attempt: int = 1) -> AgentStarted:
        return AgentStarted(
            agent_id=agent_id, role="engineer", model="m", task_id=agent_id, attempt=attempt
        )

    before = [start, began("a"), began("b"), began("c")]
    before.append(AgentFinished(agent_id="c", ok=True, summary=""))
    state = RunState.fold(stamp([*before, RunResumed(restarted=["a"])]))
    assert state.agent_tally().running == 0 and state.agent_tally().cut_off == 2  # was 2, 0
    assert [state.agents[a].standing() for a in "abc"] == ["cut off", "cut off", "done"]
    state.apply(stamp([began("a")])[0])  # the resume restarts a's attempt
    assert [state.agents[a].standing() for a in "abc"] == ["running", "cut off", "done"]
    tally = state.agent_tally()
    assert (tally.running, tally.done, tally.failed, tally.cut_off) == (1, 1, 0, 1)
    # A run that ended around an agent (or that no process drives) cut it off too.
    ended = RunState.fold(stamp([*before, RunFinished(outcome=Outcome.FAILED, reason="x")]))
    live = ended.agents_live()
    assert [ended.agents[a].standing(live) for a in "abc"] == ["cut off", "cut off", "done"]


def test_prompt_tokens_read_from_or_written_to_a_cache_count_as_input():
    """With prompt caching on, a provider's ``input_tokens`` are only the few it neither read
    from its cache nor wrote there: counted alone, a run showed 23 tokens in for ~15k sent,
    and a token budget saw almost nothing but the output."""
    state = RunState.fold(
        [
            AgentStarted(agent_id="e", role="engineer", model="anthropic:m", task_id="t"),
            LLMCallFinished(
                agent_id="e",
                role="engineer",
                provider="anthropic",
                model="m",
                input_tokens=23,
                cache_read_tokens=14_000,
                cache_write_tokens=1_000,
                output_tokens=500,
            ),
        ]
    )
    assert (state.input_tokens, state.cached_tokens, state.output_tokens) == (15_023, 14_000, 500)
    assert state.agents["e"].input_tokens == 15_023
    assert state.to_status()["tokens"] == {"input": 15_023, "cached": 14_000, "output": 500}


def test_the_review_rounds_count_on_the_drawn_plan_and_keep_the_reviewers_words():
    """What a resumed panel goes on from: the rounds finished on the plan the planner drew
    (the panel's patches do not restart them, a new plan does) and the reviewers' findings,
    without the engine's refusals of their patches."""

    def round_one(refused: int) -> list[EventBase]:
        said = ["too big", "patch 1: SEARCH text not found"]
        return [
            ReviewScored(
                reviewer="r1", model="m", round=1, score=70, findings=said, patches_refused=refused
            ),
            BlueprintProposed(blueprint=BLUEPRINT, revision=2, source="review"),
            ReviewRoundFinished(round=1, scores={"r1": 70}, threshold=90, quorum=1, passed=False),
        ]

    drawn = BlueprintProposed(blueprint=BLUEPRINT, source="planner")
    state = RunState.fold(stamp([drawn, *round_one(refused=1)]))
    assert (state.review_rounds, state.review_passed) == (1, False)
    assert state.review_findings == ["too big"]
    # A log written before refusals were counted reads them as findings.
    old = json.loads(event_to_json(round_one(refused=0)[0]))
    del old["patches_refused"]
    assert RunState.fold([drawn, event_from_dict(old)]).review_findings == [
        "too big",
        "patch 1: SEARCH text not found",
    ]
    # A plan drawn again is reviewed from round 1.
    state.apply(BlueprintProposed(blueprint=BLUEPRINT, revision=3, source="twin", seq=9))
    assert (state.review_rounds, state.review_findings) == (0, [])


def test_an_event_class_the_fold_does_not_know_changes_only_the_last_seq() -> None:
    """The fold finds an event's handler by its class (engine.state_fold); a class it has no
    handler for, here one outside the union, moves ``last_seq`` and nothing else, also the
    second time (when the table has remembered the class)."""

    class Unknown(EventBase):
        note: str = ""

    events = stamp(one_of_each())
    expected = RunState.fold(events).to_status()
    state = RunState.fold(events)
    for seq in (len(events) + 1, len(events) + 2):
        state.apply(Unknown(run_id="run-1", seq=seq, note="x"))
        assert state.last_seq == seq
        assert state.to_status() == expected


def test_a_plan_drawn_again_has_no_latest_reviews_of_the_plan_before_it():
    """A change note sends the plan back to the planner and the panel reviews the new one
    from round 1: the latest round was the same number on both plans, and the gauges (and
    the panel's escalation, "only 5 of 3 reviewers reached ...") counted the earlier plan's
    reviews with the new one's."""

    def panel_round(round_no: int, scores: dict[str, int]) -> list[EventBase]:
        said: list[EventBase] = [
            ReviewScored(reviewer=name, model="m", round=round_no, score=score)
            for name, score in scores.items()
        ]
        finished = ReviewRoundFinished(
            round=round_no, scores=scores, threshold=90, quorum=2, passed=False
        )
        return [*said, finished]

    events = [
        BlueprintProposed(blueprint=BLUEPRINT, source="planner"),
        *panel_round(1, {"reviewer-1": 80, "reviewer-2": 85}),
        *panel_round(2, {"reviewer-1": 88, "reviewer-2": 89}),
        BlueprintProposed(blueprint=BLUEPRINT, revision=2, source="human"),
    ]
    state = RunState.fold(stamp(events))
    assert state.scores.latest_reviews() == []  # the new plan is not reviewed yet
    assert state.to_status()["scores"]["reviews"] == {}
    first = len(events)
    state.apply(ReviewScored(reviewer="reviewer-1", model="m", round=1, score=93, seq=first + 1))
    assert [(r.reviewer, r.round, r.score) for r in state.scores.latest_reviews()] == [
        ("reviewer-1", 1, 93)
    ]
    for i, event in enumerate(panel_round(2, {"reviewer-1": 95, "reviewer-2": 96}), first + 2):
        state.apply(event.model_copy(update={"seq": i}))
    latest = [(r.reviewer, r.score) for r in state.scores.latest_reviews()]
    assert latest == [("reviewer-1", 95), ("reviewer-2", 96)]
    assert len(state.scores.reviews) == 7  # every review is kept
