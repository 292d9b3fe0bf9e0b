"""Fakes the role tests share: a scripted provider and an event collector."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from agents.provider import Completion, CompletionRequest, ToolCall, Usage
from engine.events import EventBase


@dataclass
class Reply:
    """One scripted model turn: text and tool calls."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()
    cut: bool = False
    """The turn stopped at the output limit (``stop_reason="max_tokens"``)."""


@dataclass
class ScriptedProvider:
    """Answers with the given replies in turn (str or Reply) and keeps every request."""

    replies: list[str | Reply]
    family: str = "fake"
    model: str = "fake-1"
    simulated: bool = False
    usage: Usage = field(default_factory=lambda: Usage(input_tokens=1000, output_tokens=100))
    requests: list[CompletionRequest] = field(default_factory=list)

    @property
    def spec(self) -> str:
        return f"{self.family}:{self.model}"

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, str):
            reply = Reply(reply)
        return Completion(
            text=reply.text,
            tool_calls=reply.calls,
            usage=self.usage,
            stop_reason="max_tokens" if reply.cut else "tool_use" if reply.calls else "end_turn",
            model=self.model,
        )


def collector() -> tuple[list[EventBase], Callable[[EventBase], None]]:
    events: list[EventBase] = []
    return events, events.append


T = TypeVar("T")


def of(events: Sequence[EventBase], kind: type[T]) -> list[T]:
    return [e for e in events if isinstance(e, kind)]
