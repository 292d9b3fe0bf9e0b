"""The Anthropic provider against rules of the Messages API that a whole run found it breaking
(tests/e2e/test_anthropic_wire_run.py): an overload reported inside a stream the API had begun
with HTTP 200, a stream that ends before its message does, and text blocks that are only
whitespace."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_loopback import LoopbackServer, Reply
from provider_wires import CANARY, WIRES

from agents.provider import CompletionRequest, Message, ProviderError, ToolCall
from agents.providers.anthropic import AnthropicProvider
from agents.providers.provider_errors import TransientProviderError
from agents.providers.retrying import RetryingProvider, RetryPolicy, retry_notices
from agents.tool_specs import TOOL_SPECS


def sse(events: list[dict[str, Any]]) -> Reply:
    return Reply(sse=[f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events])


def began() -> dict[str, Any]:
    """The ``message_start`` event of a stream."""
    message = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    return {"type": "message_start", "message": message}


def broken_stream(kind: str, message: str) -> Reply:
    """A stream that starts (HTTP 200, ``message_start``) and then reports an error."""
    error = {"type": "error", "error": {"type": kind, "message": message}}
    return sse([began(), {"type": "ping"}, error])


ASK = CompletionRequest(system="s", messages=(Message("user", "go"),))


async def test_an_overload_inside_a_stream_is_transient_and_retried(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    server.queue(broken_stream("overloaded_error", "Overloaded"))
    with pytest.raises(TransientProviderError) as raised:
        await provider.complete(ASK, lambda _text: None)
    assert "HTTP 200" not in str(raised.value)
    assert str(raised.value) == (
        "anthropic:claude-sonnet-4-6: error in the stream: overloaded_error: Overloaded"
    )

    retrying = RetryingProvider(provider, RetryPolicy(max_retries=1, base_delay_s=0))
    server.queue(broken_stream("overloaded_error", "Overloaded"), WIRES["anthropic"].stream(["ok"]))
    said: list[str] = []
    completion = await retrying.complete(ASK, said.append)
    await provider.aclose()
    assert completion.text == "ok" and said == ["ok"]
    assert retrying.attempts == 2


async def test_a_request_error_inside_a_stream_is_not_retried(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    server.queue(broken_stream("invalid_request_error", f"bad key {CANARY}"))
    with pytest.raises(ProviderError) as raised:
        await provider.complete(ASK, lambda _text: None)
    await provider.aclose()
    assert not isinstance(raised.value, TransientProviderError)
    assert str(raised.value) == (
        "anthropic:claude-sonnet-4-6: error in the stream: invalid_request_error: bad key ***"
    )


async def test_a_stream_that_ends_before_its_message_is_not_an_answer(server: LoopbackServer):
    """No ``message_delta`` / ``message_stop``: the SDK hands over what came, a tool call with
    half its input among it; taken as the answer, the engineer ran a cut-short write_file."""
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    call = {"type": "tool_use", "id": "toolu_1", "name": "write_file", "input": {}}
    half = {"type": "input_json_delta", "partial_json": '{"path": "a.py", "content": "def f'}
    server.queue(
        sse(
            [
                began(),
                {"type": "content_block_start", "index": 0, "content_block": call},
                {"type": "content_block_delta", "index": 0, "delta": half},
            ]
        ),
        WIRES["anthropic"].stream(["whole"]),
    )
    request = CompletionRequest(system="s", messages=(Message("user", "go"),), tools=TOOL_SPECS)
    with pytest.raises(TransientProviderError, match="the stream ended before the message did"):
        await provider.complete(request, lambda _text: None)
    completion = await provider.complete(request, lambda _text: None)
    await provider.aclose()
    assert completion.text == "whole" and completion.stop_reason == "end_turn"


async def test_whitespace_only_text_never_goes_as_a_text_block(server: LoopbackServer):
    """Claude may answer ``"\\n\\n"`` before its tool calls; sent back as a text block, the API
    refuses the next turn (400: text content blocks must contain non-whitespace text)."""
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    server.queue(WIRES["anthropic"].text("done"))
    call = ToolCall("toolu_1", "list_files", {})
    history = (
        Message("user", "Task: look around."),
        Message("assistant", "\n\n", (call,)),
        Message("tool", "a.py", tool_call_id="toolu_1"),
        Message("assistant", " "),
        Message("user", " \n"),
    )
    await provider.complete(CompletionRequest(system="s", messages=history, tools=TOOL_SPECS))
    await provider.aclose()
    turns = server.seen[-1].body["messages"]
    blocks = [b for t in turns if isinstance(t["content"], list) for b in t["content"]]
    texts = [b["text"] for b in blocks if b["type"] == "text"]
    assert all(text.strip() for text in texts), texts
    assert [b["type"] for b in turns[1]["content"]] == ["tool_use"]
    assert turns[3]["content"] == "(empty)"
    assert turns[4]["content"][0]["text"] == "(empty)"


async def test_a_streamed_request_answered_with_one_json_message_is_that_answer(
    server: LoopbackServer,
):
    """A gateway that does not stream answers a streamed request with the whole message as
    JSON: the SDK found no events and raised a bare AssertionError."""
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    server.queue(WIRES["anthropic"].text("Whole at once."))
    said: list[str] = []
    completion = await provider.complete(ASK, said.append)
    await provider.aclose()
    assert completion.text == "Whole at once." and said == ["Whole at once."]
    assert completion.stop_reason == "end_turn"
    assert (completion.usage.input_tokens, completion.usage.output_tokens) == (12, 5)
    assert server.seen[0].body["stream"] is True


async def test_a_json_error_for_a_streamed_request_is_judged_by_its_type(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=1, base_delay_s=0))
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.queue(Reply(json_body=overloaded), WIRES["anthropic"].text("Back."))
    completion = await retrying.complete(ASK, lambda _text: None)
    await provider.aclose()
    assert completion.text == "Back." and retrying.attempts == 2


@pytest.mark.parametrize(
    "body",
    [
        Reply(json_body={"unexpected": True}),
        Reply(raw=b"<html>Bad gateway</html>", headers={"content-type": "text/html"}),
        Reply(json_body={"type": "message", "content": "nope"}),
        # An event stream in name only: the SDK sees no event.
        Reply(sse=[json.dumps({"type": "message", "content": []})]),
    ],
)
async def test_a_streamed_request_answered_with_something_else_is_one_malformed_line(
    server: LoopbackServer, body: Reply
):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=2, base_delay_s=0))
    server.queue(body)
    with pytest.raises(ProviderError) as raised:
        await retrying.complete(ASK, lambda _text: None)
    await provider.aclose()
    assert not isinstance(raised.value, TransientProviderError)
    message = str(raised.value)
    assert message.startswith("anthropic:claude-sonnet-4-6: malformed response: ")
    assert "\n" not in message and retrying.attempts == 1


async def test_an_overload_after_some_text_says_that_text_is_cut_off(server: LoopbackServer):
    provider = AnthropicProvider("claude-sonnet-4-6", api_key=CANARY, base_url=server.url)
    retrying = RetryingProvider(provider, RetryPolicy(max_retries=1, base_delay_s=0))
    text = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    delta = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "Ha"},
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    server.queue(sse([began(), text, delta, error]), WIRES["anthropic"].stream(["Whole."]))
    notices: list[str] = []
    said: list[str] = []
    with retry_notices(notices.append):
        completion = await retrying.complete(ASK, said.append)
    await provider.aclose()
    assert completion.text == "Whole." and said == ["Ha", "Whole."]
    assert len(notices) == 1 and "overloaded_error: Overloaded" in notices[0]
    assert "streamed above is cut off" in notices[0]
