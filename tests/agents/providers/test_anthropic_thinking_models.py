"""The Anthropic provider on models that think by default and refuse forced tool use
(Claude Sonnet 5.5): how a structured answer is asked for, what a thinking block is (never
an answer; sent back with its turn while what came before it is unchanged), what is billed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_loopback import LoopbackServer, Reply
from provider_wires import CANARY

from agents.provider import CompletionRequest, Message, ProviderError, ToolCall
from agents.providers.anthropic import AnthropicProvider
from agents.providers.anthropic_models import THINKING_HEADROOM, traits_of
from agents.providers.anthropic_request import OFFERED, RESPOND_TOOL
from agents.tool_specs import TOOL_SPECS

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 0}, "notes": {"type": "string"}},
    "required": ["score"],
}
ASK = CompletionRequest(system="s", messages=(Message("user", "score it"),), response_schema=SCHEMA)
THOUGHT = {"type": "thinking", "thinking": "Let me weigh it.", "signature": "sig-1"}
FORCED_REFUSED = (
    "tool_choice: forced tool use is not supported for this model; use tool_choice auto"
)


def message(
    model: str, content: list[dict[str, Any]], stop: str = "end_turn", **usage: Any
) -> Reply:
    return Reply(
        json_body={
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 9, **usage},
        }
    )


def refusal(text: str) -> Reply:
    return Reply(
        400, {"type": "error", "error": {"type": "invalid_request_error", "message": text}}
    )


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


async def test_sonnet_5_5_gets_structured_outputs_and_room_to_think(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-5-5", api_key=CANARY, base_url=server.url)
    server.queue(message("claude-sonnet-5-5", [THOUGHT, text('{"score": 7}')]))
    completion = await provider.complete(ASK)
    await provider.aclose()
    body = server.seen[0].body
    assert "tool_choice" not in body and "tools" not in body
    schema = body["output_config"]["format"]["schema"]
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert schema["additionalProperties"] is False  # made strict by the SDK's transform_schema
    assert body["max_tokens"] == ASK.max_tokens + THINKING_HEADROOM
    assert completion.text == '{"score": 7}'  # the thinking is not the answer


async def test_a_model_that_refuses_forcing_is_asked_again_at_once_and_remembered(
    server: LoopbackServer,
):
    """A model the table does not know: the API's 400 naming tool_choice teaches it."""
    model = "claude-sonnet-6"
    assert traits_of(model).forced_tool
    provider = AnthropicProvider(model, api_key=CANARY, base_url=server.url)
    server.queue(
        refusal(FORCED_REFUSED),
        message(model, [text('{"score": 3}')]),
        message(model, [text('{"score": 4}')]),
    )
    first = await provider.complete(ASK)
    second = await provider.complete(ASK)
    await provider.aclose()
    sent = [s.body for s in server.seen]
    assert sent[0]["tool_choice"] == {"type": "tool", "name": RESPOND_TOOL}
    assert all("tool_choice" not in b and "output_config" in b for b in sent[1:])
    assert (first.text, second.text) == ('{"score": 3}', '{"score": 4}')
    assert provider.answer_mode == "output_format"


async def test_without_structured_outputs_the_respond_tool_is_offered(server: LoopbackServer):
    model = "claude-sonnet-6"
    provider = AnthropicProvider(model, api_key=CANARY, base_url=server.url)
    call = {"type": "tool_use", "id": "toolu_9", "name": RESPOND_TOOL, "input": {"score": 5}}
    server.queue(
        refusal(FORCED_REFUSED),
        refusal("output_config.format: structured outputs are not supported for this model"),
        message(model, [THOUGHT, text("Here it is."), call], "tool_use"),
        message(model, [text('Sure: {"score": 6}')]),  # no call: the text is the reply
    )
    called = await provider.complete(ASK)
    said = await provider.complete(ASK)
    await provider.aclose()
    offered = server.seen[2].body
    assert "tool_choice" not in offered and "output_config" not in offered
    assert [t["name"] for t in offered["tools"]] == [RESPOND_TOOL]
    assert offered["system"][-1]["text"] == OFFERED
    assert (called.text, called.stop_reason, called.tool_calls) == ('{"score": 5}', "end_turn", ())
    assert said.text == 'Sure: {"score": 6}'
    assert len(server.seen) == 4


async def test_another_bad_request_is_not_taken_for_a_refused_way_of_asking(
    server: LoopbackServer,
):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    server.queue(refusal("messages.0.content: text content blocks must be non-empty"))
    with pytest.raises(ProviderError, match="non-empty"):
        await provider.complete(ASK)
    await provider.aclose()
    assert len(server.seen) == 1 and provider.answer_mode == "forced_tool"


def loop(*turns: Message) -> CompletionRequest:
    return CompletionRequest(system="s", messages=turns, tools=TOOL_SPECS)


async def test_a_tool_loop_sends_each_turns_thinking_back_as_it_came(server: LoopbackServer):
    model = "claude-sonnet-5-5"
    provider = AnthropicProvider(model, api_key=CANARY, base_url=server.url)
    call = {"type": "tool_use", "id": "toolu_1", "name": "list_files", "input": {}}
    redacted = {"type": "redacted_thinking", "data": "opaque"}
    server.queue(
        message(
            model,
            [THOUGHT, redacted, call],
            "tool_use",
            output_tokens_details={"thinking_tokens": 6},
        ),
        message(model, [text("done")]),
        message(model, [text("done again")]),
    )
    task = Message("user", "Task: look around.")
    first = await provider.complete(loop(task))
    assert first.text == "" and first.tool_calls == (ToolCall("toolu_1", "list_files", {}),)
    assert first.usage.output_tokens == 9  # thinking is inside output_tokens: not added again
    turn = Message("assistant", first.text, first.tool_calls)
    result = Message("tool", "a.py", tool_call_id="toolu_1")
    await provider.complete(loop(task, turn, result))
    sent = server.seen[1].body["messages"][1]["content"]
    assert sent == [THOUGHT, redacted, call]

    # What came before the turn changed (compacted, say): its thinking is no longer valid,
    # and goes no more; the turn itself still does.
    shortened = Message("user", "Task: look around (shortened).")
    await provider.complete(loop(shortened, turn, result))
    await provider.aclose()
    assert server.seen[2].body["messages"][1]["content"] == [call]


async def test_a_turn_changed_since_the_model_wrote_it_goes_without_its_thinking(
    server: LoopbackServer,
):
    model = "claude-sonnet-5-5"
    provider = AnthropicProvider(model, api_key=CANARY, base_url=server.url)
    call = {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a.py"}}
    server.queue(message(model, [THOUGHT, call], "tool_use"), message(model, [text("ok")]))
    task = Message("user", "Task: read a.py.")
    first = await provider.complete(loop(task))
    cut = Message("assistant", "", (ToolCall("toolu_1", "read_file", {"path": "[...]"}),))
    await provider.complete(loop(task, cut, Message("tool", "x", tool_call_id="toolu_1")))
    await provider.aclose()
    assert first.tool_calls[0].arguments == {"path": "a.py"}
    blocks = server.seen[1].body["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["tool_use"]


async def test_a_model_seen_thinking_gets_room_to_think_from_then_on(server: LoopbackServer):
    model = "claude-sonnet-6"
    provider = AnthropicProvider(model, api_key=CANARY, base_url=server.url)
    server.queue(message(model, [THOUGHT, text("a")]), message(model, [text("b")]))
    plain = CompletionRequest(system="s", messages=(Message("user", "hi"),))
    await provider.complete(plain)
    await provider.complete(plain)
    await provider.aclose()
    assert [s.body["max_tokens"] for s in server.seen] == [4096, 4096 + THINKING_HEADROOM]
    assert json.dumps(server.seen[1].body).count("thinking") == 0  # no thinking is asked for
