"""Thinking blocks a tool loop must send back, kept by the Anthropic provider between turns.

A model that thinks (Sonnet 5.5 does by default) starts a tool-calling reply with
``thinking`` blocks (or ``redacted_thinking``), each with a signature; the next request must
carry them back in that assistant turn exactly as received (the SDK's ``ThinkingBlock``
docs; "pass them back unchanged", What's new in Claude Sonnet 5.5). Our
:class:`~agents.provider.Message` has no slot for them, so the provider keeps each such
reply's content blocks by its first tool call's id — as the Gemini provider keeps its
thought signatures — and puts them back when the conversation comes round again.

Only unchanged, and only after an unchanged prefix: a block counts only if the system
prompt, the tools and every message before it are what they were when the model wrote it
("Preserved thinking", platform.claude.com/docs/build-with-claude/preserved-thinking: a
changed prefix makes that block and every later one invalid, and the API refuses them with a
400 on accounts created since 2026-08-31). A conversation compacted to fit the window, or
re-asked under another system prompt, therefore goes without the blocks from the first
change on; the API asks for nothing it would refuse.

The text of a thinking block is never an answer: the provider reads only ``text`` blocks
(and a respond tool's input) for that.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from agents.provider import Message, ToolCall

KEPT_REPLIES = 2048
"""How many tool-calling replies' blocks are kept (the oldest go first)."""
THINKING_TYPES = ("thinking", "redacted_thinking")


def bare(block: dict[str, Any]) -> dict[str, Any]:
    """A content block without its cache breakpoint (which is not part of a prefix)."""
    return {k: v for k, v in block.items() if k != "cache_control"}


class Prefix:
    """A running digest of a request's prompt — system, tools, then turns — so that each
    assistant turn's prefix is known without hashing the conversation again for each."""

    def __init__(self, system: list[dict[str, Any]], tools: list[dict[str, Any]]) -> None:
        self._hash = hashlib.sha256()
        self._done = 0
        self._add({"system": [bare(b) for b in system], "tools": [bare(t) for t in tools]})

    def _add(self, item: object) -> None:
        self._hash.update(json.dumps(item, sort_keys=True, separators=(",", ":")).encode())
        self._hash.update(b"\n")

    def of(self, turns: list[dict[str, Any]]) -> str:
        """The digest of the prompt up to the end of ``turns`` (which only grow between calls;
        the last one hashed must be complete)."""
        for turn in turns[self._done :]:
            content = turn["content"]
            blocks = [bare(b) for b in content] if isinstance(content, list) else content
            self._add({"role": turn["role"], "content": blocks})
        self._done = len(turns)
        return self._hash.copy().hexdigest()


@dataclass(frozen=True)
class KeptReply:
    """A tool-calling reply with thinking: its blocks as sent back, and what it stood on."""

    prefix: str
    blocks: tuple[dict[str, Any], ...]
    text: str
    calls: tuple[ToolCall, ...]


def reply_blocks(content: list[Any]) -> list[dict[str, Any]]:
    """The SDK's content blocks of a reply as the API takes them back, whitespace-only
    text (which it refuses) left out."""
    out: list[dict[str, Any]] = []
    for block in content:
        if block.type == "thinking":
            signed = {"thinking": block.thinking, "signature": block.signature}
            out.append({"type": "thinking", **signed})
        elif block.type == "redacted_thinking":
            out.append({"type": "redacted_thinking", "data": block.data})
        elif block.type == "text" and block.text.strip():
            out.append({"type": "text", "text": block.text})
        elif block.type == "tool_use":
            arguments = block.input if isinstance(block.input, dict) else {}
            out.append({"type": "tool_use", "id": block.id, "name": block.name, "input": arguments})
    return out


class KeptThinking:
    """Tool-calling replies that carried thinking, by their first call's id."""

    def __init__(self, limit: int = KEPT_REPLIES) -> None:
        self._replies: OrderedDict[str, KeptReply] = OrderedDict()
        self._limit = limit

    def keep(self, prefix: str, content: list[Any], text: str, calls: tuple[ToolCall, ...]) -> None:
        """Keep a reply (the SDK's blocks) if it called tools and thought before it did."""
        blocks = reply_blocks(content)
        if not calls or not any(b["type"] in THINKING_TYPES for b in blocks):
            return
        self._replies[calls[0].id] = KeptReply(prefix, tuple(blocks), text, calls)
        while len(self._replies) > self._limit:
            self._replies.popitem(last=False)

    def replay(self, message: Message, prefix: str) -> list[dict[str, Any]] | None:
        """The blocks to send for ``message`` (a fresh copy), if it is a kept reply, unchanged,
        standing on the prefix it was written after; else None."""
        if not message.tool_calls:
            return None
        kept = self._replies.get(message.tool_calls[0].id)
        if kept is None or kept.prefix != prefix:
            return None
        if kept.text != message.content or kept.calls != message.tool_calls:
            return None
        return [dict(b) for b in kept.blocks]
