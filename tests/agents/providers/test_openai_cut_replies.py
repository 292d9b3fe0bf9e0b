"""The OpenAI-compatible provider on replies that were cut or are thinking alone, as local
servers send them: a ``<think>`` block that never closes (the output ran out while the model
thought, or its template dropped ``</think>``), a reply cut in the middle of a tool call,
a finish reason that says "stop" for a reply cut at the limit."""

from __future__ import annotations

import json
from typing import Any

import openai_loopback
import pytest
from openai_loopback import ENGINEER, STRUCTURED
from provider_loopback import LoopbackServer, Reply
from pydantic import BaseModel

from agents.provider import CompletionRequest
from agents.providers.openai_compat import OpenAICompatProvider
from agents.roles.common import AgentSession
from agents.structured import StructuredAsk, ask_structured

THINKING = '<think>\nThe schema wants {"score": int}. Let me weigh every line of the diff'


def chat(message: dict[str, Any], finish: str | None = "stop", usage: object = None) -> Reply:
    return openai_loopback.chat(message, finish, usage, model="qwen3")


async def ask(
    server: LoopbackServer, request: CompletionRequest, *replies: Reply, tools_mode: Any = "auto"
) -> Any:
    provider = OpenAICompatProvider("qwen3", base_url=f"{server.url}/v1", tools_mode=tools_mode)
    server.queue(*replies)
    try:
        return await provider.complete(request)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("finish", ["length", "stop", None])
async def test_a_think_block_that_never_closes_is_thinking_and_the_reply_was_cut(
    server: LoopbackServer, finish: str | None
):
    """vLLM's qwen3 reasoning parser (before 2026-02) and Ollama or llama.cpp without one
    pass a Qwen3 cut while thinking as content. It came back as the answer: the role's JSON
    did not parse, the thinking was echoed back in the repair turn, and with a finish
    reason of "stop" (LiteLLM in front of Ollama) the re-ask kept the same output limit."""
    completion = await ask(server, STRUCTURED, chat({"content": THINKING}, finish))
    assert completion.text == ""
    assert completion.stop_reason == "max_tokens"


async def test_thinking_alone_in_the_reasoning_field_is_a_cut_reply(server: LoopbackServer):
    """vLLM's deepseek_r1 parser puts an unclosed think in ``reasoning_content``, content
    null; a proxy in front may still say "stop"."""
    reply = chat({"content": None, "reasoning_content": THINKING[8:]}, "stop")
    completion = await ask(server, STRUCTURED, reply)
    assert (completion.text, completion.stop_reason) == ("", "max_tokens")


async def test_an_action_written_while_thinking_is_not_run(server: LoopbackServer):
    """In the text format (a model without tool support), a fenced action the model drafted
    in a think block it never closed was run as if it were its answer."""
    draft = (
        "<think>\nI could write the file like this:\n```json\n"
        '{"tool": "write_file", "arguments": {"path": "a.py", "content": "def f(:"}}\n'
        "```\nbut first let me check the tests, which"
    )
    completion = await ask(server, ENGINEER, chat({"content": draft}), tools_mode="text")
    assert completion.tool_calls == ()
    assert completion.text == "" and completion.stop_reason == "max_tokens"


async def test_gpt_oss_cut_in_its_analysis_channel_gave_no_answer(server: LoopbackServer):
    """Harmony markup the server's parser missed (mlx-lm, an Ollama parse miss), cut before
    the final channel: the analysis, markup and all, came back as the answer."""
    content = '<|channel|>analysis<|message|>The schema wants {"score": int}. Weigh the'
    completion = await ask(server, STRUCTURED, chat({"content": content}, "length"))
    assert (completion.text, completion.stop_reason) == ("", "max_tokens")


async def test_a_think_opened_again_after_the_answer_and_never_closed_is_cut_from_it(
    server: LoopbackServer,
):
    content = "All four tests pass now.\n<think>\nWait, did I run the slow ones? Let me"
    completion = await ask(server, STRUCTURED, chat({"content": content}))
    assert completion.text == "All four tests pass now."
    assert completion.stop_reason == "end_turn"


async def test_prose_that_names_the_tag_is_left_as_it_is(server: LoopbackServer):
    content = "The parser now drops everything after a bare <think> in the reply."
    completion = await ask(server, STRUCTURED, chat({"content": content}))
    assert (completion.text, completion.stop_reason) == (content, "end_turn")


CUT_CALLS = {
    "native": {
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "write_file", "arguments": '{"path": "a.py", "content": "de'},
            }
        ],
    },
    # Qwen3-Coder under vLLM's hermes parser, cut in the file's content: read from the
    # text as a whole call, it wrote half a file.
    "Qwen3-Coder XML in the text": {
        "content": "<tool_call>\n<function=write_file>\n<parameter=path>\na.py\n</parameter>\n"
        "<parameter=content>\ndef f(x):\n    return ("
    },
}


@pytest.mark.parametrize("shape", sorted(CUT_CALLS))
async def test_a_reply_cut_in_a_tool_call_is_cut_not_a_call_to_run(
    server: LoopbackServer, shape: str
):
    """``finish_reason: "length"`` with a call in it was "tool_use": the engineer ran the
    half call instead of answering it with the cut notice (as it does for Anthropic)."""
    completion = await ask(server, ENGINEER, chat(CUT_CALLS[shape], "length"))
    assert completion.stop_reason == "max_tokens"
    assert [c.name for c in completion.tool_calls] == ["write_file"]  # each gets the notice


async def test_a_reply_that_used_all_its_tokens_is_cut_whatever_its_finish_reason(
    server: LoopbackServer,
):
    usage = {"prompt_tokens": 30, "completion_tokens": STRUCTURED.max_tokens}
    completion = await ask(server, STRUCTURED, chat({"content": '{"score": 1, "wh'}, usage=usage))
    assert completion.stop_reason == "max_tokens"


class Verdict(BaseModel):
    score: int
    why: str


async def test_a_structured_role_asks_a_model_cut_while_thinking_again_with_more_room(
    server: LoopbackServer,
):
    provider = OpenAICompatProvider("qwen3", base_url=f"{server.url}/v1")
    session = AgentSession(provider, lambda _event: None, agent_id="qc", role="qc")
    server.queue(chat({"content": THINKING}), chat({"content": '{"score": 8, "why": "ok"}'}))
    ask = StructuredAsk("Score.", "judge this", {"role": "qc"}, noun="verdict")
    try:
        value = await ask_structured(session, Verdict, ask)
    finally:
        await provider.aclose()
    assert value == Verdict(score=8, why="ok")
    first, second = (seen.body for seen in server.seen)
    assert (first["max_tokens"], second["max_tokens"]) == (4096, 8192)
    assert second["messages"] == first["messages"]  # no thinking echoed back as a reply
    assert json.dumps(THINKING)[1:40] not in json.dumps(second)
