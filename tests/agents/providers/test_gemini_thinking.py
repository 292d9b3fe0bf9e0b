"""Gemini's thinking over the wire: the setting each model family is sent (only what that
family takes: agents/providers/gemini_models.py), and the thoughts a reply carries — billed as
output, never taken for the answer, streamed or not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from provider_loopback import LoopbackServer, Reply
from provider_wires import CANARY, WIRES

from agents.provider import CompletionRequest, Message
from agents.providers.gemini import GeminiProvider
from agents.tool_specs import TOOL_SPECS

ASK = CompletionRequest(system="s", messages=(Message("user", "x"),), max_tokens=64)
TOOL_LOOP = CompletionRequest(
    system="s", messages=(Message("user", "read"),), tools=(TOOL_SPECS[1],), max_tokens=64
)


async def sent_config(server: LoopbackServer, model: str, request: CompletionRequest) -> Any:
    provider = GeminiProvider(model, api_key=CANARY, base_url=server.url)
    server.queue(WIRES["gemini"].text("ok"))
    try:
        await provider.complete(request)
    finally:
        await provider.aclose()
    return server.seen[-1].body["generationConfig"]


@pytest.mark.parametrize("request_", [ASK, TOOL_LOOP], ids=["answer", "tool loop"])
async def test_a_gemini_3_flash_lite_is_asked_to_think_at_medium(
    server: LoopbackServer, request_: CompletionRequest
):
    """3.x Flash-Lite thinks at MINIMAL untold, which Google says can end a multi-step tool
    task early: the second opinion of the defaults (gemini-3.5-flash-lite) is asked for MEDIUM,
    a level every 3.x Flash-Lite takes."""
    for model in ["gemini-3.5-flash-lite", "models/gemini-3.1-flash-lite-preview"]:
        config = await sent_config(server, model, request_)
        assert config["thinkingConfig"] == {"thinking_level": "MEDIUM"}, model
        assert not {"temperature", "topP", "topK"} & set(config)


@pytest.mark.parametrize(
    "model",
    [
        "gemini-3.8-flash",  # default MEDIUM; refuses MINIMAL
        "gemini-3-pro-preview",  # default HIGH; takes LOW and HIGH only
        "gemini-2.5-pro",  # refuses thinkingLevel; its dynamic budget stands
        "gemini-2.5-flash-lite",
        "gemini-flash-lite-latest",  # an alias may move to a model that refuses a level
        "gemini-2.0-flash",
    ],
)
async def test_other_gemini_models_think_at_their_own_default(server: LoopbackServer, model: str):
    """Neither thinkingLevel nor thinkingBudget nor a temperature: each model's default is
    the one it is tuned for, and one no model refuses."""
    config = await sent_config(server, model, TOOL_LOOP)
    assert not {"thinkingConfig", "temperature", "topP", "topK"} & set(config), config


def reply_with_thoughts(text: str, finish: str | None = "STOP") -> dict[str, Any]:
    """A Gemini 3 reply carrying a thought summary part before its answer, signed last part,
    and its thoughts counted apart from the answer's tokens."""
    body: dict[str, Any] = WIRES["gemini"].text(text).json_body
    parts = body["candidates"][0]["content"]["parts"]
    parts.insert(0, {"text": "Plan: say the opposite.", "thought": True})
    parts[-1]["thoughtSignature"] = "c2lnLXRleHQ="
    if finish is None:
        del body["candidates"][0]["finishReason"]
    body["usageMetadata"].update(thoughtsTokenCount=120, totalTokenCount=24 + 120)
    return body


async def test_thoughts_are_billed_as_output_and_never_the_answer(server: LoopbackServer):
    provider = GeminiProvider("gemini-3.8-flash", api_key=CANARY, base_url=server.url)
    server.queue(Reply(json_body=reply_with_thoughts("The answer.")))
    whole = await provider.complete(ASK)
    first, last = reply_with_thoughts("The ", None), reply_with_thoughts("answer.")
    first["candidates"][0]["content"]["parts"].pop()  # the answer's first half, unsigned
    first["candidates"][0]["content"]["parts"].append({"text": "The "})
    server.queue(Reply(sse=[f"data: {json.dumps(c)}\r\n\r\n" for c in (first, last)]))
    streamed: list[str] = []
    stream = await provider.complete(ASK, on_text=streamed.append)
    await provider.aclose()
    assert whole.text == "The answer."
    assert stream.text == "The answer." and "".join(streamed) == "The answer."
    for completion in (whole, stream):
        # 19 prompt tokens of which 7 cached; 5 of answer and 120 of thoughts, all output.
        assert completion.usage.input_tokens == 12 and completion.usage.cache_read_tokens == 7
        assert completion.usage.output_tokens == 5 + 120
