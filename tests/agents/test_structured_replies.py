"""agents/structured.py: JSON extraction, validation, the bounded repair re-ask, clear failure."""

from __future__ import annotations

import pytest
from pydantic import BaseModel
from role_fakes import Reply, ScriptedProvider, collector, of

from agents.roles.common import AgentSession
from agents.structured import (
    StructuredAsk,
    StructuredReplyError,
    ask_structured,
    checklist_schema,
    choice_schema,
    extract_json,
    schema_checklist,
    schema_options,
)
from engine.events import AgentOutput, AgentStarted, LLMCallFinished


class Verdict(BaseModel):
    score: int
    notes: str = ""


ASK = StructuredAsk("system", "judge this", {"role": "qc"}, noun="verdict")


def session(provider: ScriptedProvider, emit) -> AgentSession:
    return AgentSession(provider, emit, agent_id="qc", role="qc")


def test_extract_json_tolerates_fences_and_prose():
    assert extract_json('Sure:\n```json\n{"score": 1}\n```\nthanks') == '{"score": 1}'
    assert extract_json('I think {"score": 2} is right') == '{"score": 2}'
    assert extract_json("no json") == "no json"


def test_extract_json_skips_thinking_and_braces_in_the_prose_around_the_object():
    assert extract_json('<think>like {"score": 0}?</think>{"score": 3}') == '{"score": 3}'
    assert extract_json('seems {ok}\n</think>\n{"score": 4}') == '{"score": 4}'
    assert extract_json('{"score": 5} (a {rough} guess)') == '{"score": 5}'


async def test_a_thinking_model_that_always_thinks_first_is_answered_in_one_call():
    provider = ScriptedProvider(['<think>\nThey want {score}. 85?\n</think>\n{"score": 85}'])
    _, emit = collector()
    assert (await ask_structured(session(provider, emit), Verdict, ASK)).score == 85
    assert len(provider.requests) == 1


async def test_a_valid_reply_is_returned_and_the_schema_is_sent():
    provider = ScriptedProvider(['{"score": 91, "notes": "ok"}'])
    events, emit = collector()
    value = await ask_structured(session(provider, emit), Verdict, ASK)
    assert value == Verdict(score=91, notes="ok")
    request = provider.requests[0]
    assert request.response_schema == Verdict.model_json_schema()
    assert request.labels == {"role": "qc"}
    assert [type(e) for e in events] == [AgentStarted, LLMCallFinished]


async def test_a_malformed_reply_is_re_asked_quoting_the_error_then_accepted():
    provider = ScriptedProvider(['{"score": "high"}', '{"score": 88}'])
    events, emit = collector()
    value = await ask_structured(session(provider, emit), Verdict, ASK)
    assert value.score == 88
    repair = provider.requests[1].messages
    assert [m.role for m in repair] == ["user", "assistant", "user"]
    assert repair[1].content == '{"score": "high"}'
    assert repair[2].content.startswith("That reply is not a valid verdict: score: Input should")
    errors = [e.text for e in of(events, AgentOutput) if e.kind == "error"]
    assert len(errors) == 1 and errors[0].startswith("invalid verdict: score:")


async def test_persistent_garbage_fails_with_one_line_and_an_error_event():
    provider = ScriptedProvider(["nope", "still nope", "[1]"])
    events, emit = collector()
    with pytest.raises(StructuredReplyError) as caught:
        await ask_structured(session(provider, emit), Verdict, ASK, max_repairs=2)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the qc gave no valid verdict after 3 tries: ")
    assert caught.value.tries == 3
    assert len(provider.requests) == 3
    errors = [e.text for e in of(events, AgentOutput) if e.kind == "error"]
    assert errors[-1] == message and len(errors) == 4


async def test_a_reply_cut_at_the_output_limit_says_so_and_an_empty_one_is_not_replayed():
    provider = ScriptedProvider([Reply("", cut=True), Reply('{"score": 9', cut=True), "{}"])
    events, emit = collector()
    with pytest.raises(StructuredReplyError) as failed:
        await ask_structured(session(provider, emit), Verdict, ASK)
    errors = [e.text for e in of(events, AgentOutput) if e.kind == "error"]
    assert errors[0] == "invalid verdict: empty: cut at the output limit (4096 tokens)"
    assert errors[1].startswith("invalid verdict: cut at the output limit (8192 tokens): ")
    assert errors[2] == "invalid verdict: score: Field required (1 error(s))"
    assert failed.value.last_error == "score: Field required (1 error(s))"
    # The empty turn was asked again as it was; the cut one went back with its cause.
    assert provider.requests[1].messages == provider.requests[0].messages
    assert [m.content for m in provider.requests[2].messages[-2:]] == [
        '{"score": 9',
        "That reply is not a valid verdict: cut at the output limit (8192 tokens): "
        + errors[1].split("tokens): ", 1)[1]
        + "\nReply again with only the corrected JSON object.",
    ]


async def test_a_model_that_spends_its_limit_thinking_is_asked_again_with_more_room():
    """A thinking model (a local Qwen3 or R1) that used all 4096 tokens on its thoughts did
    the same when asked again with the same limit, and the role failed after three tries."""
    cut = Reply("<think>\nLet me weigh every line of this...", cut=True)
    provider = ScriptedProvider([cut, cut, '{"score": 77}'])
    value = await ask_structured(session(provider, lambda _e: None), Verdict, ASK)
    assert value.score == 77
    assert [r.max_tokens for r in provider.requests] == [4096, 8192, 16384]


async def test_the_output_limit_grows_to_four_times_the_asks_and_no_further():
    provider = ScriptedProvider([Reply("", cut=True)] * 5)
    with pytest.raises(StructuredReplyError) as failed:
        await ask_structured(session(provider, lambda _e: None), Verdict, ASK, max_repairs=4)
    assert [r.max_tokens for r in provider.requests] == [4096, 8192, 16384, 16384, 16384]
    assert failed.value.last_error == "empty: cut at the output limit (16384 tokens)"


async def test_the_roles_own_check_is_quoted_like_a_validation_error():
    def at_least_fifty(v: Verdict) -> None:
        if v.score < 50:
            raise ValueError(f"score {v.score} is implausibly low")

    provider = ScriptedProvider(['{"score": 3}', '{"score": 70}'])
    value = await ask_structured(
        session(provider, lambda _e: None), Verdict, ASK, check=at_least_fifty
    )
    assert value.score == 70
    assert "score 3 is implausibly low" in provider.requests[1].messages[-1].content


async def test_a_reply_already_received_is_validated_before_asking_again():
    provider = ScriptedProvider(['{"score": 60}'])
    good = await ask_structured(
        session(provider, lambda _e: None), Verdict, ASK, reply='{"score": 99}'
    )
    assert good.score == 99 and provider.requests == []
    fixed = await ask_structured(session(provider, lambda _e: None), Verdict, ASK, reply="??")
    assert fixed.score == 60 and len(provider.requests) == 1


def test_choice_and_checklist_schemas_round_trip():
    assert schema_options(choice_schema(["accept", "reject"])) == ["accept", "reject"]
    assert schema_checklist(checklist_schema(["a", "b"])) == ["a", "b"]
    assert schema_options(None) == [] and schema_checklist({"type": "object"}) == []
