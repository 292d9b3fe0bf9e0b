"""Folding a coding agent's output into what it said, used and cost, one line at a time.

One fold per output format: Claude Code's ``stream-json``, Codex's ``exec --json`` events
and Gemini CLI's ``stream-json`` (:data:`FOLDS`), and plain text (:func:`text_line`, which
also reads Aider's token lines). Each adds to a :class:`Transcript` and says the agent's
words, commands and results to the agent's log.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.provider import Usage

KEEP_TEXT_LINES = 40


@dataclass
class Transcript:
    """What the agent said, folded from its output lines."""

    model: str = ""
    summary: str = ""
    failed: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    tail: list[str] = field(default_factory=list)
    turns: dict[str, Usage] = field(default_factory=dict)
    """Usage of each model turn so far, by message id: what a run cut short (killed at its
    time limit, crashed) had used, for want of the final ``result``'s totals."""
    finished: bool = False
    """The final tally arrived (Claude Code's ``result``)."""
    resets_at: float | None = None
    pending: str = ""
    """A reply streamed in pieces (Gemini CLI's ``delta`` messages), said whole once it ends."""
    """When the agent's usage limit resets (epoch seconds), where it said so."""

    def spent(self) -> Usage:
        """The run's usage: the final tally, else the sum of the turns seen."""
        if self.finished or not self.turns:
            return self.usage
        turns = self.turns.values()
        return Usage(
            input_tokens=sum(u.input_tokens for u in turns),
            output_tokens=sum(u.output_tokens for u in turns),
            cache_read_tokens=sum(u.cache_read_tokens for u in turns),
            cache_write_tokens=sum(u.cache_write_tokens for u in turns),
        )


def _count(value: object) -> int:
    """A token count as the agent printed it; 0 for what is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return 0
    return max(0, int(min(value, 1e15)))


def _usage(raw: object, *, cached_key: str = "cache_read_input_tokens") -> Usage:
    data = raw if isinstance(raw, dict) else {}
    return Usage(
        input_tokens=_count(data.get("input_tokens")),
        output_tokens=_count(data.get("output_tokens")),
        cache_read_tokens=_count(data.get(cached_key)),
        cache_write_tokens=_count(data.get("cache_creation_input_tokens")),
    )


def _claude_line(event: dict[str, Any], out: Transcript, say: Callable[[str], None]) -> None:
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        out.model = str(event.get("model") or out.model)
    elif kind == "assistant":
        message = event.get("message") or {}
        out.model = str(message.get("model") or out.model)
        if message.get("usage"):  # one event per content block, each with its turn's usage
            out.turns[str(message.get("id") or len(out.turns))] = _usage(message["usage"])
        for block in message.get("content") or []:
            if block.get("type") == "text" and block.get("text"):
                say(block["text"])
            elif block.get("type") == "tool_use":
                shown = json.dumps(block.get("input") or {})[:200]
                say(f"[{block.get('name')}] {shown}")
    elif kind == "user":
        for block in (event.get("message") or {}).get("content") or []:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                content = block.get("content")
                text = content if isinstance(content, str) else json.dumps(content)
                mark = "error" if block.get("is_error") else "result"
                say(f"[{mark}] {text[:300]}")
    elif kind == "result":
        out.summary = str(event.get("result") or "")
        out.usage = _usage(event.get("usage"))
        out.finished = True
        cost = event.get("total_cost_usd")
        out.cost_usd = float(cost) if isinstance(cost, int | float) else None
        subtype = event.get("subtype")
        if event.get("is_error") or subtype not in (None, "success"):
            # An API error (a rate limit, a refused key) comes as is_error with the subtype
            # "success": the result's text is the reason.
            said = out.summary or "no result"
            out.failed = said if subtype in (None, "success") else f"{subtype}: {said}"
    elif kind == "rate_limit_event":
        info = event.get("rate_limit_info") or {}
        if info.get("status") == "rejected" and isinstance(info.get("resetsAt"), int | float):
            out.resets_at = float(info["resetsAt"])


def _codex_line(event: dict[str, Any], out: Transcript, say: Callable[[str], None]) -> None:
    kind = event.get("type")
    item = event.get("item") or {}
    if kind == "item.completed" and item.get("type") == "agent_message":
        out.summary = str(item.get("text") or "")
        say(out.summary)
    elif kind == "item.started" and item.get("type") == "command_execution":
        say(f"[command] {item.get('command', '')}")
    elif kind == "item.completed" and item.get("type") == "file_change":
        paths = [c.get("path", "") for c in item.get("changes") or [] if isinstance(c, dict)]
        say(f"[edit] {', '.join(paths)}")
    elif kind == "item.completed" and item.get("type") == "error":  # a warning
        say(f"[warning] {item.get('message', '')}")
    elif kind == "turn.completed":
        usage = _usage(event.get("usage"), cached_key="cached_input_tokens")
        cached = usage.cache_read_tokens
        out.usage = Usage(
            input_tokens=out.usage.input_tokens + max(0, usage.input_tokens - cached),
            output_tokens=out.usage.output_tokens + usage.output_tokens,
            cache_read_tokens=out.usage.cache_read_tokens + cached,
        )
        out.failed = None  # an error before it was retried ("Reconnecting... 1/5")
    elif kind in ("turn.failed", "error"):
        error = event.get("error")
        message = error.get("message") if isinstance(error, dict) else event.get("message")
        out.failed = str(message or kind)
        if kind == "error":  # Codex goes on after some (a reconnect): the turn's end decides
            say(f"[error] {out.failed}")


def reply_ended(out: Transcript, say: Callable[[str], None]) -> None:
    """Say the reply streamed in pieces so far, whole; it is the summary so far."""
    if out.pending.strip():
        out.summary = out.pending.strip()
        say(out.summary)
    out.pending = ""


def _gemini_line(event: dict[str, Any], out: Transcript, say: Callable[[str], None]) -> None:
    kind = event.get("type")
    if kind == "message" and event.get("role") == "assistant":
        out.pending += str(event.get("content") or "")
        if not event.get("delta"):
            reply_ended(out, say)
        return
    reply_ended(out, say)  # what the agent does next ends its reply
    if kind == "init":
        out.model = str(event.get("model") or out.model)
    elif kind == "tool_use":
        shown = json.dumps(event.get("parameters") or {})[:200]
        say(f"[{event.get('tool_name')}] {shown}")
    elif kind == "tool_result":
        error = event.get("error")
        failed = event.get("status") == "error"
        text = (error.get("message") if isinstance(error, dict) else "") if failed else ""
        say(f"[{'error' if failed else 'result'}] {str(text or event.get('output') or '')[:300]}")
    elif kind == "error":
        say(f"[{event.get('severity') or 'error'}] {event.get('message')}")
    elif kind == "result":
        stats = event.get("stats") or {}
        cached = _count(stats.get("cached"))  # a part of input_tokens
        out.usage = Usage(
            input_tokens=max(0, _count(stats.get("input_tokens")) - cached),
            output_tokens=_count(stats.get("output_tokens")),
            cache_read_tokens=cached,
        )
        out.finished = True
        if event.get("status") == "error":
            error = event.get("error")
            said = error.get("message") or error.get("type") if isinstance(error, dict) else None
            out.failed = str(said or "error")


_AIDER_TOKENS = re.compile(
    # "Tokens: 12k sent, 1.1k cache write, 9.8k cache hit, 310 received." (cache parts with
    # prompt caching on; counts of a million and more end in M)
    r"Tokens: ([\d.]+)([kM]?) sent(?:, [\d.]+[kM]? cache (?:write|hit))*, ([\d.]+)([kM]?) received"
)


def _aider_count(number: str, unit: str) -> int:
    return round(float(number) * {"k": 1000, "M": 1_000_000}.get(unit, 1))


_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor moves, erasing the line
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: a terminal title, a link
    r"|\x1b[ -/]*[0-~]"  # any other escape
)


def as_drawn(line: str) -> str:
    """A line of a terminal program's output as its terminal would show it: without colour
    codes, and a progress bar redrawn with ``\\r`` as its last state."""
    text = _ESCAPE.sub("", line)
    drawn = [part for part in text.split("\r") if part.strip()]
    return drawn[-1] if drawn else text


def text_line(line: str, out: Transcript, say: Callable[[str], None]) -> None:
    line = as_drawn(line)
    say(line)
    match = _AIDER_TOKENS.search(line)
    if match:
        out.usage = Usage(
            input_tokens=out.usage.input_tokens + _aider_count(match[1], match[2]),
            output_tokens=out.usage.output_tokens + _aider_count(match[3], match[4]),
        )
    out.tail = [*out.tail, line][-KEEP_TEXT_LINES:]


FOLDS = {
    "claude-stream-json": _claude_line,
    "codex-json": _codex_line,
    "gemini-stream-json": _gemini_line,
}
