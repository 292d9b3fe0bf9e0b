"""The judging roles over scripted providers and the SIM: happy paths, repairs, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from recording_sandbox import RecordingSandbox
from role_fakes import Reply, ScriptedProvider, collector, of

from agents.dna import DnaError, OwnerDNA
from agents.playbook import Playbook, SimTiming
from agents.pricing import DEFAULT_PRICES, Price
from agents.provider import Message, ToolCall, Usage
from agents.roles.critic import CriticRole
from agents.roles.judge import STANDARD_ITEMS, JudgeRole, checklist_items
from agents.roles.qc import CodeQCRole
from agents.roles.reviewer import ReviewerRole, blueprint_text
from agents.roles.task_reviewer import TaskReviewerRole
from agents.roles.twin import TwinRole
from agents.roles.verifier import VerifierRole
from agents.sim import SimProvider
from agents.sim_answers import SIM_DEFAULT
from agents.structured import StructuredReplyError
from engine.blueprint import Blueprint, Task
from engine.events import AgentFinished, AgentOutput, AgentStarted, LLMCallFinished
from engine.protocols import GateResult
from engine.roles import CRITIC_CRITERIA, VerifierReport

BLUEPRINT = Blueprint(
    spec="A greeting library",
    acceptance_criteria=["greet('x') returns 'hello x'", "Blank names are refused"],
    tasks=[Task(id="greet", title="Write greet()", files=["greet.py", "tests/test_greet.py"])],
)
TASK = BLUEPRINT.tasks[0]
GATES = [GateResult(gate="tests", passed=True, summary="3 passed")]
SCORES = dict.fromkeys(CRITIC_CRITERIA, 7)


def bare_sim() -> SimProvider:
    book = Playbook(name="bare", timing=SimTiming(median_s=0.001), blueprint=BLUEPRINT, engineer={})
    return SimProvider(book, speed=1000)


# -- critic ---------------------------------------------------------------------------------


async def test_critic_scores_the_five_criteria_and_reports_itself():
    provider = ScriptedProvider([json.dumps({"scores": SCORES, "rationale": "fine"})])
    events, emit = collector()
    report = await CriticRole(provider).critique("Build greet", ["README.md"], emit)
    assert report.total == 7 and report.compliance_risk == "low"
    assert "README.md" in provider.requests[0].messages[0].content
    assert [type(e) for e in events] == [AgentStarted, LLMCallFinished, AgentOutput, AgentFinished]
    assert of(events, AgentOutput)[0].text.startswith("critic 7.0/10 (value 7,")


async def test_critic_missing_a_criterion_is_re_asked():
    partial = dict.fromkeys(CRITIC_CRITERIA[:4], 7)
    provider = ScriptedProvider([json.dumps({"scores": partial}), json.dumps({"scores": SCORES})])
    report = await CriticRole(provider).critique("Build greet", [], lambda _e: None)
    assert set(report.scores) == set(CRITIC_CRITERIA)
    assert "missing ['testability']" in provider.requests[1].messages[-1].content


async def test_critic_giving_garbage_fails_clearly():
    events, emit = collector()
    provider = ScriptedProvider(["I love it!"])
    with pytest.raises(StructuredReplyError, match=r"^the critic gave no valid critique after 3"):
        await CriticRole(provider).critique("Build greet", [], emit)
    assert not of(events, AgentFinished)[0].ok


# -- reviewer -------------------------------------------------------------------------------


async def test_reviewer_patch_must_apply_to_the_blueprint_json():
    text = blueprint_text(BLUEPRINT)
    search = '"Blank names are refused"'
    assert text.count(search) == 1
    bad = {"score": 80, "patches": [{"search": "no such text", "replace": "x"}]}
    good = {
        "score": 80,
        "findings": ["say what refused means"],
        "patches": [{"search": search, "replace": '"Blank names raise ValueError"'}],
    }
    provider = ScriptedProvider([json.dumps(bad), json.dumps(good)], family="gemini")
    reviewer = ReviewerRole(provider, "reviewer-2")
    assert (reviewer.reviewer_id, reviewer.family) == ("reviewer-2", "gemini")
    events, emit = collector()
    report = await reviewer.review("Build greet", BLUEPRINT, 1, emit)
    assert report.patches[0].replace == '"Blank names raise ValueError"'
    assert "patch 1: search text found 0 times" in provider.requests[1].messages[-1].content
    assert provider.requests[0].labels == {
        "role": "reviewer",
        "reviewer": "reviewer-2",
        "round": "1",
    }
    assert of(events, AgentStarted)[0].agent_id == "reviewer-2:r1"


async def test_reviewer_on_the_sim_without_a_script_passes_and_says_so():
    report = await ReviewerRole(bare_sim(), "reviewer-1").review("x", BLUEPRINT, 1, lambda _e: 0)
    assert report.score >= 95 and report.findings == [SIM_DEFAULT]


# -- twin -----------------------------------------------------------------------------------


def test_owner_dna_loads_and_renders(tmp_path: Path):
    path = tmp_path / "owner.toml"
    path.write_text('redlines = ["No network"]\ndecisions = ["Chose CSV"]\n[owner]\nname = "Ada"\n')
    dna = OwnerDNA.load(path)
    text = dna.render()
    assert "Owner: Ada" in text and "- No network" in text and "- Chose CSV" in text
    path.write_text('[owner]\nname = "Ada"\nredlines = ["x"]\n')
    with pytest.raises(DnaError, match=r"owner\.redlines: Input should be a valid string"):
        OwnerDNA.load(path)
    with pytest.raises(DnaError, match=r"^owner DNA file not found"):
        OwnerDNA.load(tmp_path / "missing.toml")


async def test_twin_decides_from_the_dna_in_its_prompt():
    dna = OwnerDNA(redlines=["No network access at runtime"])
    verdict = {"decision": "CHANGE", "confidence": 0.7, "notes": "drop the HTTP client"}
    provider = ScriptedProvider([json.dumps(verdict)])
    result = await TwinRole(provider, dna).decide("Build greet", BLUEPRINT, lambda _e: None)
    assert (result.decision, result.confidence) == ("CHANGE", 0.7)
    assert "No network access at runtime" in provider.requests[0].messages[0].content


async def test_twin_answer_outside_the_options_is_re_asked():
    provider = ScriptedProvider(
        ['{"choice": "maybe"}', '{"choice": "reject", "reason": "redline"}']
    )
    _events, emit = collector()
    choice = await TwinRole(provider).answer("Merge it?", ["accept", "reject"], "diff", emit)
    assert choice == "reject"
    assert "choice 'maybe' is not one of ['accept', 'reject']" in (
        provider.requests[1].messages[-1].content
    )
    schema = provider.requests[0].response_schema
    assert schema is not None and schema["properties"]["choice"]["enum"] == ["accept", "reject"]


async def test_twin_on_the_sim_without_a_script_picks_the_first_option():
    twin = TwinRole(bare_sim())
    assert await twin.answer("Go?", ["approve", "reject"], "", lambda _e: None) == "approve"
    verdict = await twin.decide("x", BLUEPRINT, lambda _e: None)
    assert verdict.decision == "ACCEPT" and verdict.notes == SIM_DEFAULT


# -- task reviewer, QC ----------------------------------------------------------------------


async def test_task_reviewer_sees_the_task_its_diff_and_the_gates():
    provider = ScriptedProvider(['{"approved": true, "score": 92, "notes": "clean"}'])
    events, emit = collector()
    review = await TaskReviewerRole(provider).review_task(
        TASK, "+def greet(): ...", GATES, emit, attempt=2
    )
    assert review.approved and review.score == 92
    prompt = provider.requests[0].messages[0].content
    assert "+def greet(): ..." in prompt and "- tests: PASS - 3 passed" in prompt
    assert "Write greet()" in prompt
    # The task's first review was of its second attempt (the first failed its gates): the
    # agent is that attempt's, not "review 1" reported as attempt 1.
    started = of(events, AgentStarted)[0]
    assert (started.task_id, started.attempt) == ("greet", 2)
    assert started.agent_id == "task_reviewer:greet:a2"


async def test_code_qc_scores_the_whole_change():
    provider = ScriptedProvider(['```json\n{"score": 90, "notes": "consistent"}\n```'])
    report = await CodeQCRole(provider).assess(BLUEPRINT, "diff --git a b", lambda _e: None)
    assert report.score == 90
    assert "Blank names are refused" in provider.requests[0].messages[0].content


async def test_code_qc_with_an_out_of_range_score_fails_after_repairs():
    provider = ScriptedProvider(['{"score": 140}'])
    with pytest.raises(StructuredReplyError, match="score: Input should be less than or equal"):
        await CodeQCRole(provider, max_repairs=1).assess(BLUEPRINT, "", lambda _e: None)
    assert len(provider.requests) == 2


# -- verifier, judge ------------------------------------------------------------------------


async def test_verifier_probes_through_the_toolbelt_then_reports(tmp_path: Path):
    content = "def test_blank_name():\n    assert greet('') != 'hello '\n" * 3
    probe = ToolCall("c1", "write_file", {"path": "tests/test_probe.py", "content": content})
    run = ToolCall("c2", "run_tests", {"args": ["tests/test_probe.py"]})
    report = {"tried": ["blank name"], "broken": ["greet('') returns 'hello '"]}
    provider = ScriptedProvider([Reply("probing", (probe, run)), json.dumps(report)])
    sandbox = RecordingSandbox(output="1 failed")
    events, emit = collector()
    result = await VerifierRole(provider, sandbox).attack(BLUEPRINT, tmp_path, emit)
    assert result == VerifierReport(**report)
    assert (tmp_path / "tests" / "test_probe.py").read_text() == content
    tools = [e.text for e in of(events, AgentOutput) if e.kind == "tool"]
    assert tools == [  # as the engineer's log shows them: the file's length, not its text
        f'write_file {{"path": "tests/test_probe.py", "content": "<{len(content)} chars>"}}',
        'run_tests {"args": ["tests/test_probe.py"]}',
    ]
    assert sandbox.calls and sandbox.calls[0][0][-1] == "tests/test_probe.py"
    assert "finish" not in {t.name for t in provider.requests[0].tools}
    assert any(e.text.startswith("BROKE: ") for e in of(events, AgentOutput))
    assert of(events, AgentFinished)[0].summary == "verifier tried 1 thing(s), broke 1"


async def test_verifier_reply_cut_at_the_output_limit_runs_none_of_its_calls(tmp_path: Path):
    from agents.tool_specs import CUT_NOTICE

    half = ToolCall("c1", "write_file", {"path": "tests/test_probe.py"})  # content cut off
    report = {"tried": ["blank name"], "broken": []}
    provider = ScriptedProvider([Reply("Probing.", (half,), cut=True), json.dumps(report)])
    events, emit = collector()
    result = await VerifierRole(provider, RecordingSandbox()).attack(BLUEPRINT, tmp_path, emit)
    assert result == VerifierReport(**report)
    assert not (tmp_path / "tests" / "test_probe.py").exists()
    assert provider.requests[1].messages[-1] == Message(
        "tool", CUT_NOTICE, tool_call_id="c1", is_error=True
    )
    assert CUT_NOTICE in [e.text for e in of(events, AgentOutput) if e.kind == "error"]


async def test_verifier_bad_final_report_is_repaired(tmp_path: Path):
    provider = ScriptedProvider(["I found nothing", '{"tried": ["edges"], "broken": []}'])
    result = await VerifierRole(provider, RecordingSandbox()).attack(
        BLUEPRINT, tmp_path, lambda _e: None
    )
    assert result.tried == ["edges"]
    assert provider.requests[1].messages[-2].content == "I found nothing"


async def test_judge_checklist_is_the_criteria_plus_the_standard_items():
    items = checklist_items(BLUEPRINT)
    assert items == [*BLUEPRINT.acceptance_criteria, *STANDARD_ITEMS]
    short = {"checklist": {items[0]: True}, "score": 50}
    full = {"checklist": dict.fromkeys(items, True), "score": 96, "notes": "done"}
    provider = ScriptedProvider([json.dumps(short), json.dumps(full)])
    report = await JudgeRole(provider).judge(
        BLUEPRINT, VerifierReport(tried=["a"]), GATES, lambda _e: None
    )
    assert report.score == 96 and all(report.checklist.values())
    assert "checklist must have exactly the 5 items" in provider.requests[1].messages[-1].content


async def test_judge_on_the_sim_without_a_script_passes_every_item():
    report = await JudgeRole(bare_sim()).judge(BLUEPRINT, VerifierReport(), [], lambda _e: None)
    assert set(report.checklist) == set(checklist_items(BLUEPRINT))
    assert all(report.checklist.values()) and report.notes == SIM_DEFAULT


async def test_calls_are_priced_and_the_sim_is_free():
    provider = ScriptedProvider(
        [json.dumps({"score": 90})],
        family="anthropic",
        model="claude-sonnet-4-5-20250929",
        usage=Usage(input_tokens=1_000_000, output_tokens=100_000),
    )
    events, emit = collector()
    await CodeQCRole(provider).assess(BLUEPRINT, "", emit)
    call = of(events, LLMCallFinished)[0]
    assert call.cost_usd == pytest.approx(3.0 + 1.5)
    sim_events, sim_emit = collector()
    await CodeQCRole(bare_sim()).assess(BLUEPRINT, "", sim_emit)
    sim_call = of(sim_events, LLMCallFinished)[0]
    assert sim_call.simulated and sim_call.cost_usd == 0.0


async def test_a_roles_own_price_table_prices_its_calls():
    prices = DEFAULT_PRICES.with_overrides({"anthropic:claude-sonnet-4-5": Price(1.0, 2.0)})
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    verdict = {"decision": "ACCEPT", "confidence": 0.9}
    runs = [
        (CodeQCRole, json.dumps({"score": 90}), lambda r, e: r.assess(BLUEPRINT, "", e)),
        (TwinRole, json.dumps(verdict), lambda r, e: r.decide("Build greet", BLUEPRINT, e)),
    ]
    for role_type, reply, call in runs:
        provider = ScriptedProvider(
            [reply], family="anthropic", model="claude-sonnet-4-5-20250929", usage=usage
        )
        events, emit = collector()
        await call(role_type(provider, prices=prices), emit)
        assert of(events, LLMCallFinished)[0].cost_usd == pytest.approx(1.0 + 2.0)
