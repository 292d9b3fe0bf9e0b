"""A conversation shortened to fit a model's context window.

A tool loop's conversation grows by every tool result (a test run's output, a file read back)
and every file the model wrote (a tool call's arguments), until it is longer than the model
can take. What must stay is what the model needs to go on: the system prompt, the task (the
first user message) and the latest turn (the last assistant message and what answered it).
What goes first is what it has already acted on: the older tool results, tool-call arguments
and texts are cut to their head and tail around a marker saying how much was elided — oldest
first, only as many as needed — so every tool call still has its answer and every wire's rules
about turns still hold. Only if that is not enough are the latest turn's own results cut.

Sizes are estimated at :data:`~agents.provider.CHARS_PER_TOKEN` characters a token, each
message counted once per call: :func:`compact` works in these estimates, and
:mod:`agents.providers.context_fit` scales them to the server's own count.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from agents.provider import CHARS_PER_TOKEN, CompletionRequest, Message, ToolCall

KEEP_CHARS = 240
"""How much of an older message's text (or of one argument) stays: its head and its tail."""
MIN_LATEST_CHARS = 2000
"""The least of a latest tool result that stays when even that must be cut."""


def elision(chars: int) -> str:
    """The marker standing for ``chars`` characters cut out of a message."""
    return (
        f"\n[... {chars} characters elided to fit the model's context window; "
        "ask again with a tool if you need them ...]\n"
    )


def shortened(text: str, keep: int) -> str:
    """``text`` cut to about ``keep`` characters: its head (two thirds) and tail, with the
    marker between; as it is when cutting would not make it shorter."""
    marker = elision(len(text) - keep)
    if len(text) <= keep + len(marker):
        return text
    head = keep * 2 // 3
    return text[:head] + marker + text[len(text) - (keep - head) :]


def tokens_of(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def message_chars(message: Message) -> int:
    calls = sum(len(c.name) + len(json.dumps(c.arguments)) for c in message.tool_calls)
    return len(message.content) + calls


def fixed_chars(request: CompletionRequest) -> int:
    """What is sent whatever the conversation: the system prompt, the tools, the schema."""
    tools = sum(
        len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in request.tools
    )
    schema = len(json.dumps(request.response_schema)) if request.response_schema else 0
    return len(request.system) + tools + schema


def request_tokens(request: CompletionRequest) -> int:
    """The estimated prompt of ``request``, in tokens."""
    return tokens_of(fixed_chars(request) + sum(message_chars(m) for m in request.messages))


def _short_arguments(arguments: dict[str, Any], keep: int) -> dict[str, Any]:
    return {k: shortened(v, keep) if isinstance(v, str) else v for k, v in arguments.items()}


def _shorter(message: Message, keep: int) -> Message:
    """``message`` with its text and its tool calls' string arguments cut to ``keep``."""
    calls = tuple(
        ToolCall(c.id, c.name, _short_arguments(c.arguments, keep)) for c in message.tool_calls
    )
    return replace(message, content=shortened(message.content, keep), tool_calls=calls)


def latest_turn(messages: tuple[Message, ...]) -> int:
    """Where the latest turn starts: the last assistant message (the last message when there
    is none)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].role == "assistant":
            return index
    return max(0, len(messages) - 1)


@dataclass(frozen=True)
class Compacted:
    """A request shortened by :func:`compact`: ``tokens`` its estimated prompt, ``cut`` how
    many messages were shortened (0: it was sent as it was)."""

    request: CompletionRequest
    tokens: int
    cut: int


def compact(request: CompletionRequest, budget_tokens: int) -> Compacted:
    """``request`` with its conversation shortened until its estimated prompt is at most
    ``budget_tokens``, or as short as it goes (``tokens`` says which).

    The system prompt, the first message (the task) and the latest turn's assistant message
    stay whole; older messages are cut oldest first; then the latest turn's results, largest
    first, down to :data:`MIN_LATEST_CHARS`.
    """
    messages = list(request.messages)
    sizes = [message_chars(m) for m in messages]
    budget_chars = budget_tokens * CHARS_PER_TOKEN
    total = fixed_chars(request) + sum(sizes)
    start = latest_turn(request.messages)
    cut: set[int] = set()

    def cut_to(index: int, keep: int) -> None:
        nonlocal total
        shorter = _shorter(messages[index], keep)
        size = message_chars(shorter)
        if size < sizes[index]:
            total -= sizes[index] - size
            messages[index], sizes[index] = shorter, size
            cut.add(index)

    for index in range(1, start):
        if total <= budget_chars:
            break
        cut_to(index, KEEP_CHARS)
    latest = sorted(range(start + 1, len(messages)), key=lambda i: -sizes[i])
    for index in latest:
        if total <= budget_chars:
            break
        over = total - budget_chars
        cut_to(index, max(MIN_LATEST_CHARS, sizes[index] - over - len(elision(over))))
    return Compacted(replace(request, messages=tuple(messages)), tokens_of(total), len(cut))
