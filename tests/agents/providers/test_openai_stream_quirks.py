"""The OpenAI-compatible provider's stream fold against what local servers really stream:
Ollama numbering every tool call 0, llama.cpp sending a call's id once and its arguments in
pieces, vLLM and llama.cpp streaming the thinking in its own field."""

from __future__ import annotations

import json
from typing import Any

from provider_loopback import LoopbackServer, Reply

from agents.provider import CompletionRequest, Message, ToolCall
from agents.providers.openai_compat import OpenAICompatProvider
from agents.tool_specs import TOOL_SPECS

ENGINEER = CompletionRequest(system="Build.", messages=(Message("user", "go"),), tools=TOOL_SPECS)
SCORE = CompletionRequest(
    system="Score.",
    messages=(Message("user", "x"),),
    response_schema={"type": "object", "properties": {"score": {"type": "integer"}}},
)


def stream(*deltas: dict[str, Any], finish: str = "stop") -> Reply:
    chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    return Reply(sse=[f"data: {json.dumps(c)}\n\n" for c in chunks] + ["data: [DONE]\n\n"])


async def streamed(server: LoopbackServer, request: CompletionRequest, reply: Reply) -> Any:
    provider = OpenAICompatProvider("qwen3", base_url=f"{server.url}/v1")
    server.queue(reply)
    try:
        return await provider.complete(request, lambda _text: None)
    finally:
        await provider.aclose()


def piece(index: int, call_id: str | None, name: str | None, args: str) -> dict[str, Any]:
    function: dict[str, Any] = {"arguments": args}
    if name is not None:
        function["name"] = name
    out: dict[str, Any] = {"index": index, "function": function}
    if call_id is not None:
        out |= {"id": call_id, "type": "function"}
    return out


async def test_ollamas_calls_all_numbered_0_stay_separate_calls(server: LoopbackServer):
    """Ollama streams each call whole, every one with ``index: 0`` (ollama#15457): the two
    were folded into one call named after the second, arguments ``{...}{...}``, which no
    tool could read: an engineer asked to write two files wrote neither."""
    reply = stream(
        {"tool_calls": [piece(0, "call_a", "read_file", '{"path": "a.py"}')]},
        {"tool_calls": [piece(0, "call_b", "read_file", '{"path": "b.py"}')]},
        finish="tool_calls",
    )
    completion = await streamed(server, ENGINEER, reply)
    assert completion.tool_calls == (
        ToolCall("call_a", "read_file", {"path": "a.py"}),
        ToolCall("call_b", "read_file", {"path": "b.py"}),
    )


async def test_a_call_streamed_in_pieces_is_one_call(server: LoopbackServer):
    """llama.cpp and vLLM: the id and name once (llama.cpp may repeat the id), then the
    arguments in pieces under the same index; a second call under the next index."""
    reply = stream(
        {"tool_calls": [piece(0, "c1", "run", "")]},
        {"tool_calls": [piece(0, None, None, '{"argv": ')]},
        {"tool_calls": [piece(0, "c1", None, '["ls"]}')]},
        {"tool_calls": [piece(1, "c2", "read_file", '{"path": "a.py"}')]},
        finish="tool_calls",
    )
    completion = await streamed(server, ENGINEER, reply)
    assert completion.tool_calls == (
        ToolCall("c1", "run", {"argv": ["ls"]}),
        ToolCall("c2", "read_file", {"path": "a.py"}),
    )


async def test_streamed_thinking_counts_once_where_the_usage_is_missing(server: LoopbackServer):
    """vLLM streams the thinking in ``reasoning`` and ``reasoning_content`` at once,
    llama.cpp in ``reasoning_content``; a server that ignores include_usage says no usage.
    The estimate left the thinking out: most of what a reasoning model generates."""
    words = ["Let me weigh the criteria one by one. "] * 100
    deltas = [{"reasoning": w, "reasoning_content": w} for w in words]
    completion = await streamed(server, SCORE, stream(*deltas, {"content": '{"score": 5}'}))
    assert completion.text == '{"score": 5}' and completion.usage.estimated
    thought = len("".join(words)) // 4
    assert thought <= completion.usage.output_tokens < 2 * thought


async def test_a_stream_of_thinking_alone_is_a_cut_reply(server: LoopbackServer):
    """vLLM's streaming reasoning parser keeps an unclosed think in the reasoning field; a
    proxy in front of the server may call the stop "stop"."""
    deltas = [{"reasoning_content": "Let me weigh "}, {"reasoning_content": "every line"}]
    completion = await streamed(server, SCORE, stream(*deltas, finish="stop"))
    assert (completion.text, completion.stop_reason) == ("", "max_tokens")


MAGISTRAL = [
    {"type": "thinking", "thinking": [{"type": "text", "text": "The user wants hello."}]},
    {"type": "text", "text": "Hello"},
    {"type": "text", "text": " there."},
]
"""A reasoning model's ``content`` as Mistral's API sends it: a list of typed chunks."""


async def test_content_sent_as_a_list_of_chunks_is_the_text_chunks_without_the_thinking(
    server: LoopbackServer,
):
    """Mistral's reasoning models send ``content`` as chunks (thinking, then text): the reply
    was refused as "malformed response: message content is not text", and asked the same
    way again it failed the same, so a role on such a model never answered."""
    provider = OpenAICompatProvider("magistral-medium", base_url=f"{server.url}/v1")
    message = {"role": "assistant", "content": [*MAGISTRAL, {"type": "image_url", "x": 1}]}
    server.queue(
        Reply(json_body={"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}),
        stream({"content": MAGISTRAL[:1]}, {"content": MAGISTRAL[1:2]}, {"content": " there."}),
    )
    try:
        whole = await provider.complete(SCORE)
        pieces: list[str] = []
        streamed_reply = await provider.complete(SCORE, pieces.append)
    finally:
        await provider.aclose()
    assert (whole.text, whole.stop_reason) == ("Hello there.", "end_turn")
    assert (streamed_reply.text, streamed_reply.stop_reason) == ("Hello there.", "end_turn")
    assert pieces == ["Hello", " there."]
    # the thinking counts among the estimated output tokens, as a reasoning field's does
    assert streamed_reply.usage.output_tokens > len("Hello there.") // 4
