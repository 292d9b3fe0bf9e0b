"""Our request as the Messages API's parameters: turns, cache breakpoints, the answer's shape.

Our messages become content blocks (tool calls are ``tool_use`` blocks, tool results
``tool_result`` blocks in the next user turn), with the thinking blocks a tool loop must send
back put where the model wrote them (:mod:`agents.providers.anthropic_thinking`). The stable
prefix is marked for prompt caching: the system prompt (which covers the tools before it), the
first user message (the task, its repo map and context) and the newest message, so each turn
of an agent's loop reads the previous turn's prefix from the cache.

A response schema is asked for in one of three ways (:data:`AnswerMode`), the model's own
(:mod:`agents.providers.anthropic_models`): a forced ``respond`` tool whose input schema is the
schema, where forcing is accepted; structured outputs (``output_config.format``, the schema
made strict by the SDK's ``transform_schema``) where it is not; and, for a model that takes
neither, the respond tool offered with an instruction to call it (a reply without the call is
read as text, and re-asked by agents/structured.py if it is not the JSON asked for).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import anthropic

from agents.provider import CompletionRequest, Message
from agents.providers.anthropic_thinking import KeptThinking, Prefix

RESPOND_TOOL = "respond"
CACHE = {"type": "ephemeral"}
AnswerMode = Literal["forced_tool", "output_format", "offered_tool"]
NEXT_MODE: dict[AnswerMode, AnswerMode] = {
    "forced_tool": "output_format",
    "output_format": "offered_tool",
}
"""Where a model that refused a way of asking goes next."""
OFFERED = (
    f"Give your answer by calling the {RESPOND_TOOL} tool, with the answer as its input; "
    "reply with nothing else."
)


def _has_text(text: str | None) -> bool:
    """The API refuses a text block that is empty or only whitespace."""
    return bool(text and text.strip())


def _user_blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id or "",
                "content": message.content or "(no output)",
                "is_error": message.is_error,
            }
        ]
    return [{"type": "text", "text": message.content if _has_text(message.content) else "(empty)"}]


def _assistant_blocks(message: Message) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if _has_text(message.content):  # not Claude's bare "\n\n" before its calls
        blocks.append({"type": "text", "text": message.content})
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in message.tool_calls
    ]
    return blocks


def to_anthropic_messages(
    messages: tuple[Message, ...],
    kept: KeptThinking | None = None,
    prefix: Prefix | None = None,
) -> list[dict[str, Any]]:
    """Our conversation as Messages API turns; tool results and user text share a user turn.
    With ``kept`` and ``prefix``, an assistant turn the model wrote with thinking goes back as
    it came, thinking blocks and all, while what comes before it is unchanged."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "assistant":
            replayed = None
            if kept is not None and prefix is not None:
                replayed = kept.replay(message, prefix.of(turns))
            blocks = replayed if replayed is not None else _assistant_blocks(message)
            turns.append({"role": "assistant", "content": blocks or "(empty)"})
            continue
        blocks = _user_blocks(message)
        if turns and turns[-1]["role"] == "user":
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": "user", "content": blocks})
    return turns


def _mark_cache(turns: list[dict[str, Any]]) -> None:
    """Cache breakpoints on the first and the newest turn (the system prompt has its own)."""
    for index in {0, len(turns) - 1}:
        if 0 <= index < len(turns):
            content = turns[index]["content"]
            if isinstance(content, list) and content:
                content[-1] = {**content[-1], "cache_control": CACHE}


def _respond_tool(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": RESPOND_TOOL,
        "description": "Give your answer as this tool's input.",
        "input_schema": schema,
    }


def build_params(
    model: str,
    request: CompletionRequest,
    mode: AnswerMode = "forced_tool",
    kept: KeptThinking | None = None,
    headroom: int = 0,
) -> tuple[dict[str, Any], str]:
    """The keyword arguments for ``messages.create`` / ``messages.stream``, and the digest of
    their prompt (what a reply to them stands on: :mod:`agents.providers.anthropic_thinking`).
    ``mode``: how a response schema is asked for when the request offers no tools of its own;
    ``headroom``: output tokens added for a model's thinking."""
    params: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens + headroom}
    system: list[dict[str, Any]] = []
    if request.system:
        system = [{"type": "text", "text": request.system, "cache_control": CACHE}]
    tools = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools
    ]
    answering = request.response_schema is not None and not tools
    if answering and request.response_schema is not None:
        schema = request.response_schema
        if mode == "output_format":
            params["output_config"] = {
                "format": {"type": "json_schema", "schema": anthropic.transform_schema(schema)}
            }
            if any(m.tool_calls or m.role == "tool" for m in request.messages):
                tools = [_respond_tool(schema)]  # tool blocks in the history need tools
        else:
            tools = [_respond_tool(schema)]
            if mode == "forced_tool":
                params["tool_choice"] = {"type": "tool", "name": RESPOND_TOOL}
            else:
                system.append({"type": "text", "text": OFFERED})
    elif request.response_schema is not None:
        schema_text = json.dumps(request.response_schema)
        system.append(
            {"type": "text", "text": f"When you answer, reply with JSON matching: {schema_text}"}
        )
    prefix = Prefix(system, tools)
    turns = to_anthropic_messages(request.messages, kept, prefix)
    digest = prefix.of(turns)
    _mark_cache(turns)
    params["messages"] = turns
    if system:
        params["system"] = system
    if tools:
        params["tools"] = tools
    return params, digest
