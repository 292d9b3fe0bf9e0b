"""What the judging roles make of replies a real model gives on a bad night: words where
null was asked for, odd casing, out-of-range numbers. Each is either understood as meant or
re-asked; none reaches the engine as a wrong decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recording_sandbox import RecordingSandbox
from role_fakes import ScriptedProvider, collector, of

from agents.provider import CompletionRequest, ProviderError
from agents.roles.critic import CriticRole
from agents.roles.judge import JudgeRole, checklist_items
from agents.roles.planner import PlannerRole
from agents.roles.reviewer import ReviewerRole, blueprint_text
from agents.roles.task_reviewer import TaskReviewerRole
from agents.roles.twin import TwinRole
from agents.roles.verifier import VerifierRole
from agents.structured import StructuredReplyError
from engine.blueprint import Blueprint, Task
from engine.config import EngineConfig
from engine.events import AgentFinished, AgentOutput
from engine.protocols import PlanRequest
from engine.roles import CRITIC_CRITERIA, VerifierReport
from engine.stages import kill_gate, twin_route
from engine.state import RunState

SCORES = dict.fromkeys(CRITIC_CRITERIA, 8)
PLAN = Blueprint(
    spec="A greeter",
    acceptance_criteria=["greet('x') returns 'hello x'.", "Blank names are refused"],
    tasks=[Task(id="core", title="Core")],
)


def critique(**fields: object) -> str:
    return json.dumps({"scores": SCORES, "rationale": "fine", **fields})


@pytest.mark.parametrize("nothing", ["none", "None", "N/A", "null", "no", "No.", " ", "false"])
async def test_a_critic_saying_in_words_that_nothing_is_duplicated_does_not_kill_the_run(
    nothing: str,
):
    provider = ScriptedProvider([critique(cannibalizes=nothing)])
    _, emit = collector()
    report = await CriticRole(provider).critique("Build greet", [], emit)
    assert report.cannibalizes is None
    assert kill_gate(report, EngineConfig()) is None
    assert len(provider.requests) == 1


async def test_a_critic_naming_what_is_duplicated_still_trips_the_gate():
    provider = ScriptedProvider([critique(cannibalizes="greet.core already greets")])
    _, emit = collector()
    report = await CriticRole(provider).critique("Build greet", [], emit)
    verdict = kill_gate(report, EngineConfig())
    assert verdict is not None and verdict.gate == "cannibalization"


@pytest.mark.parametrize(
    ("said", "risk"), [("High", "high"), (" MEDIUM ", "medium"), ("Low", "low")]
)
async def test_a_compliance_risk_in_any_casing_is_read_as_meant_without_a_re_ask(
    said: str, risk: str
):
    provider = ScriptedProvider([critique(compliance_risk=said)])
    _, emit = collector()
    report = await CriticRole(provider).critique("Build greet", [], emit)
    assert report.compliance_risk == risk
    assert len(provider.requests) == 1
    verdict = kill_gate(report, EngineConfig(max_compliance_risk="medium"))
    assert (verdict.gate if verdict else None) == ("compliance_risk" if risk == "high" else None)


async def test_an_unknown_compliance_risk_is_still_re_asked():
    provider = ScriptedProvider([critique(compliance_risk="critical"), critique()])
    _, emit = collector()
    report = await CriticRole(provider).critique("Build greet", [], emit)
    assert report.compliance_risk == "low" and len(provider.requests) == 2


async def test_a_twin_asking_for_a_change_without_saying_which_is_re_asked():
    blank = json.dumps({"decision": "CHANGE", "confidence": 0.9, "notes": "  "})
    said = json.dumps({"decision": "CHANGE", "confidence": 0.9, "notes": "split the CLI"})
    provider = ScriptedProvider([blank, said])
    _, emit = collector()
    verdict = await TwinRole(provider).decide("Build greet", PLAN, emit)
    assert (verdict.decision, verdict.notes) == ("CHANGE", "split the CLI")
    assert len(provider.requests) == 2
    assert "CHANGE must say in its notes what to change" in (
        provider.requests[1].messages[-1].content
    )


async def test_a_judge_echoing_checklist_items_with_bullets_case_or_stops_is_understood():
    items = checklist_items(PLAN)
    echoed = {
        "greet('x') returns 'hello x'": True,  # its full stop dropped
        "- blank names are refused.": False,  # the prompt's bullet kept, case and stop changed
        **{f"  {item.upper()} ": True for item in items[2:]},
    }
    provider = ScriptedProvider([json.dumps({"checklist": echoed, "score": 70})])
    _, emit = collector()
    report = await JudgeRole(provider).judge(PLAN, VerifierReport(), [], emit)
    assert list(report.checklist) == items  # the items as asked, in order
    assert report.checklist["Blank names are refused"] is False
    assert sum(report.checklist.values()) == len(items) - 1
    assert len(provider.requests) == 1


async def test_a_judge_dropping_an_item_is_still_re_asked():
    items = checklist_items(PLAN)
    short = json.dumps({"checklist": dict.fromkeys(items[1:], True), "score": 95})
    full = json.dumps({"checklist": dict.fromkeys(items, True), "score": 95})
    provider = ScriptedProvider([short, full])
    _, emit = collector()
    report = await JudgeRole(provider).judge(PLAN, VerifierReport(), [], emit)
    assert list(report.checklist) == items and len(provider.requests) == 2


class DownProvider(ScriptedProvider):
    """Fails every call the way a provider does once its retries are spent."""

    async def complete(self, request: CompletionRequest, on_text=None):  # type: ignore[no-untyped-def]
        self.requests.append(request)
        raise ProviderError("HTTP 503 from fake after 3 attempts")


async def test_a_role_whose_provider_gives_up_is_reported_finished_not_left_running():
    events, emit = collector()
    with pytest.raises(ProviderError):
        await CriticRole(DownProvider([])).critique("Build greet", [], emit)
    with pytest.raises(ProviderError):
        await PlannerRole(DownProvider([])).plan(PlanRequest("Build greet", []), emit)
    finished = of(events, AgentFinished)
    assert [(f.agent_id, f.ok) for f in finished] == [("critic", False), ("planner", False)]
    assert all("HTTP 503" in f.summary for f in finished)
    state = RunState()
    for event in events:
        state.apply(event)
    assert not state.agents["critic"].running and not state.agents["planner"].running


@pytest.mark.parametrize("nothing", [["none"], [""], ["N/A", " "], ["None."]])
async def test_a_twin_listing_no_redline_in_words_is_not_escalated_for_it(nothing: list[str]):
    reply = {"decision": "ACCEPT", "confidence": 0.95, "notes": "fine", "redlines": nothing}
    provider = ScriptedProvider([json.dumps(reply)])
    _, emit = collector()
    verdict = await TwinRole(provider).decide("Build greet", PLAN, emit)
    assert verdict.redlines == []
    assert twin_route(verdict, EngineConfig(), 0) == "accept"


async def test_a_twin_naming_a_redline_is_still_escalated():
    reply = {"decision": "ACCEPT", "confidence": 0.95, "redlines": ["none", "no new deps"]}
    provider = ScriptedProvider([json.dumps(reply)])
    _, emit = collector()
    verdict = await TwinRole(provider).decide("Build greet", PLAN, emit)
    assert verdict.redlines == ["no new deps"]
    assert twin_route(verdict, EngineConfig(), 0) == "escalate"


async def test_a_verifier_reporting_it_broke_none_broke_nothing(tmp_path: Path):
    report = {"tried": ["blank name", "huge input"], "broken": ["none", "Nothing."]}
    provider = ScriptedProvider([json.dumps(report)])
    events, emit = collector()
    result = await VerifierRole(provider, RecordingSandbox()).attack(PLAN, tmp_path, emit)
    assert result.broken == [] and result.tried == ["blank name", "huge input"]
    assert not any(e.text.startswith("BROKE: ") for e in of(events, AgentOutput))


@pytest.mark.parametrize(
    "reply",
    [
        {"score": 90, "notes": "looks solid"},  # the QC's schema
        {"tried": ["blank name"], "broke": ["greet('') returns 'hello '"]},  # a misspelt key
        {"x": 1},  # an object out of its thinking
    ],
)
async def test_a_verifier_report_that_does_not_say_what_broke_is_re_asked(
    reply: dict[str, object], tmp_path: Path
):
    fixed = {"tried": ["blank name"], "broken": ["greet('') returns 'hello '"]}
    provider = ScriptedProvider([json.dumps(reply), json.dumps(fixed)])
    _, emit = collector()
    result = await VerifierRole(provider, RecordingSandbox()).attack(PLAN, tmp_path, emit)
    assert result.broken == ["greet('') returns 'hello '"]
    assert 'under "broken"' in provider.requests[1].messages[-1].content


async def test_an_empty_final_verifier_reply_counts_as_a_try(tmp_path: Path):
    provider = ScriptedProvider([""])
    _, emit = collector()
    with pytest.raises(StructuredReplyError, match="after 3 tries"):
        await VerifierRole(provider, RecordingSandbox()).attack(PLAN, tmp_path, emit)
    assert len(provider.requests) == 3


async def test_a_twin_answering_an_escalation_in_other_casing_picks_that_option():
    provider = ScriptedProvider([json.dumps({"choice": " Revise ", "reason": "tests first"})])
    _, emit = collector()
    choice = await TwinRole(provider).answer(
        "Approve the plan?", ["approve", "revise", "reject"], "", emit
    )
    assert choice == "revise" and len(provider.requests) == 1


@pytest.mark.parametrize(("said", "decision"), [("accept", "ACCEPT"), (" Reject ", "REJECT")])
async def test_a_twin_decision_in_any_casing_is_read_as_meant(said: str, decision: str):
    reply = {"decision": said, "confidence": 0.9, "notes": "as the owner would"}
    provider = ScriptedProvider([json.dumps(reply)])
    _, emit = collector()
    verdict = await TwinRole(provider).decide("Build greet", PLAN, emit)
    assert verdict.decision == decision and len(provider.requests) == 1


async def test_a_reviewer_patch_that_would_make_the_plan_unbuildable_is_re_asked():
    two = Blueprint(
        spec="A greeter",
        tasks=[Task(id="core", title="Core"), Task(id="cli", title="CLI", depends_on=["core"])],
    )
    text = blueprint_text(two)
    search = (
        '"id": "core",\n      "title": "Core",\n      "description": "",\n      "depends_on": []'
    )
    assert text.count(search) == 1
    cycle = {
        "search": search,
        "replace": search.replace('"depends_on": []', '"depends_on": ["cli"]'),
    }
    rename = {"search": '"title": "CLI"', "replace": '"title": "Command line"'}
    provider = ScriptedProvider(
        [
            json.dumps({"score": 97, "patches": [cycle]}),
            json.dumps({"score": 96, "patches": [rename]}),
        ]
    )
    _, emit = collector()
    report = await ReviewerRole(provider, "r1").review("Build greet", two, 1, emit)
    assert report.score == 96 and report.patches[0].replace == '"title": "Command line"'
    assert "patch 1: the plan has a dependency cycle: cli -> core -> cli" in (
        provider.requests[1].messages[-1].content
    )


async def test_review_findings_that_say_nothing_are_not_findings():
    reply = {"score": 60, "findings": ["None.", "", "  ", "split the CLI task"]}
    provider = ScriptedProvider([json.dumps(reply)])
    _, emit = collector()
    report = await ReviewerRole(provider, "r1").review("Build greet", PLAN, 1, emit)
    assert report.findings == ["split the CLI task"]


async def test_a_task_review_requesting_changes_without_naming_them_is_re_asked():
    blank = json.dumps({"approved": False, "score": 70, "notes": ""})
    said = json.dumps({"approved": False, "score": 70, "notes": "test the blank name"})
    provider = ScriptedProvider([blank, said])
    _, emit = collector()
    review = await TaskReviewerRole(provider).review_task(
        PLAN.tasks[0], "diff", [], emit, attempt=1
    )
    assert (review.approved, review.notes) == (False, "test the blank name")
    assert len(provider.requests) == 2
    assert "must say in its notes what to change" in provider.requests[1].messages[-1].content
