"""Requests and replies the OpenAI-compatible provider's tests share with the loopback server:
a structured ask, an engineer's tool turn, and a chat completion as a local server sends it."""

from __future__ import annotations

from typing import Any

from provider_loopback import Reply

from agents.provider import CompletionRequest, Message
from agents.tool_specs import TOOL_SPECS

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}, "why": {"type": "string"}},
    "required": ["score", "why"],
}
STRUCTURED = CompletionRequest(
    system="Score.", messages=(Message("user", "x"),), response_schema=SCHEMA
)
ENGINEER = CompletionRequest(system="Build.", messages=(Message("user", "go"),), tools=TOOL_SPECS)


def chat(
    message: dict[str, Any],
    finish: str | None = "stop",
    usage: object = None,
    *,
    model: str = "qwen",
) -> Reply:
    """One chat completion of ``model`` saying ``message``, ended by ``finish``."""
    usage = usage if usage is not None else {"prompt_tokens": 30, "completion_tokens": 9}
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}
    return Reply(json_body={"model": model, "choices": [choice], "usage": usage})
