"""What a chat-completions reply says: its answer, its tool calls, its usage, why it stopped.

The answer is ``content`` less a reasoning model's thinking (a ``<think>`` block left in the
text; ``reasoning_content`` or ``reasoning`` beside it is never the answer). Tool calls are
the native ``tool_calls``, the text format's actions (``tools_mode`` "text"), or calls the
server's tool parser left in the text (:mod:`agents.providers.openai_tool_calls`), each with
an id of its own. A reply without usage (a proxy that strips it) has its tokens estimated,
its thinking included: 0 tokens would hide the call from every token budget. A reply is
cut (:func:`stop_reason`) where its finish reason says "length", where it used all its
``max_tokens``, or where it holds thinking and nothing else.
"""

from __future__ import annotations

from typing import Any

from agents.provider import Completion, CompletionRequest, ToolCall, Usage, estimated_usage
from agents.providers.openai_tool_calls import calls_in_content, with_unique_ids
from agents.providers.openai_wire import (
    STOP_REASONS,
    StopReason,
    ToolsMode,
    content_parts,
    tool_arguments,
    without_reasoning,
)
from agents.providers.text_tools import parse_actions


def stop_reason(finish: object, *, calls: bool, thought_only: bool, at_limit: bool) -> StopReason:
    """Why a reply stopped, from its ``finish_reason`` and what it holds.

    A reply cut at the output limit is ``max_tokens`` whatever else it holds: its last tool
    call's arguments may be half there (a file's content cut off, read from the text as a
    whole call), so a tool loop runs none of them. A reply of thinking alone, no answer and
    no call, was cut too, whatever its finish reason says: a proxy that reports every stop
    as "stop" (LiteLLM before Ollama), a template that dropped ``</think>``; so is one that
    used all its ``max_tokens``. Asked again with more room, a structured role can finish.
    """
    stop = STOP_REASONS.get(str(finish), "end_turn")
    if stop == "max_tokens" or at_limit or (thought_only and not calls):
        return "max_tokens"
    if calls:
        return "tool_use"
    return "end_turn" if stop == "tool_use" else stop


class MalformedReply(ValueError):
    """A reply whose shape holds no completion; the message says what is missing."""


def completion_of(
    data: dict[str, Any],
    request: CompletionRequest,
    latency_s: float,
    *,
    model: str,
    tools_mode: ToolsMode,
) -> Completion:
    """The :class:`Completion` a chat-completions ``data`` holds (a reply to ``request``
    from ``model``); :class:`MalformedReply` where its shape says nothing we can use."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise MalformedReply("no choices")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise MalformedReply("choice without a message")
    parts = content_parts(message.get("content"))
    if parts is None:
        raise MalformedReply("message content is not text")
    content, chunked_thinking = parts
    # The thinking's tokens count: the reasoning parser's field (vLLM and DeepSeek's
    # reasoning_content, Ollama's and OpenRouter's reasoning), Mistral's thinking chunks,
    # or the think block in the text.
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    said = (reasoning if isinstance(reasoning, str) else "") + chunked_thinking + content
    content = without_reasoning(content)
    calls: tuple[ToolCall, ...] = tuple(
        ToolCall(
            str(call.get("id") or ""),
            str((call.get("function") or {}).get("name", "")),
            tool_arguments((call.get("function") or {}).get("arguments")),
        )
        for call in message.get("tool_calls") or []
        if isinstance(call, dict)
    )
    if tools_mode == "text" and request.tools:
        calls = parse_actions(content, request.tools)
    if request.tools and not calls:  # a call the server's tool parser left in the text
        calls, content = calls_in_content(content, request.tools)
    calls = with_unique_ids(calls, request.messages)
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
    reported = Usage(
        input_tokens=max(0, int(usage.get("prompt_tokens") or 0) - cached),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=cached,
    )
    if not usage.get("prompt_tokens") and not usage.get("completion_tokens"):
        # A server that ignores stream_options.include_usage (or a proxy that strips
        # it) says nothing: 0 tokens would hide the call from every token budget.
        reported = estimated_usage(request, said, calls)
    stop = stop_reason(
        choices[0].get("finish_reason"),
        calls=bool(calls),
        thought_only=said.strip() != "" and not content.strip(),
        at_limit=reported.output_tokens >= request.max_tokens and not reported.estimated,
    )
    return Completion(
        text=content,
        tool_calls=calls,
        usage=reported,
        stop_reason=stop,
        model=str(data.get("model") or model),
        latency_s=latency_s,
    )
