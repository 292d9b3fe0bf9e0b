"""The one interface every model provider speaks.

A provider takes a :class:`CompletionRequest` (system prompt, messages, tools, an optional
response schema) and returns a :class:`Completion` (text, tool calls, usage, stop reason),
streaming text deltas to ``on_text`` as they come. Roles are written against this interface
only, so an engineer's loop runs the same with Anthropic, Gemini, a local model or the sim.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: a name, what it does, JSON-schema parameters."""

    name: str
    description: str
    parameters: dict[str, Any]


UNPARSED_ARGUMENTS = "_unparsed_arguments"
"""The key a tool call's arguments are kept under when the model sent no JSON object (text that
is no JSON, a list, a cut-off object): a tool answers such a call by saying so."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation.

    ``role`` is ``user`` or ``assistant``; a ``tool`` message carries the result of the
    assistant's tool call named by ``tool_call_id``.
    """

    role: Literal["user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    is_error: bool = False


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    estimated: bool = False
    """The server reported no usage, so the counts are estimated from the text (about four
    characters a token): a token budget sees the call, if not to the token."""


CHARS_PER_TOKEN = 4
"""The rough size of a token in English text and code, for a server that reports none."""


def estimated_usage(request: CompletionRequest, answer: str, calls: tuple[ToolCall, ...]) -> Usage:
    """Usage estimated from the text of ``request`` and of its answer."""
    sent = len(request.system) + sum(
        len(m.content) + sum(len(str(c.arguments)) for c in m.tool_calls) for m in request.messages
    )
    said = len(answer) + sum(len(c.name) + len(str(c.arguments)) for c in calls)
    return Usage(
        input_tokens=max(1, sent // CHARS_PER_TOKEN),
        output_tokens=max(1, said // CHARS_PER_TOKEN) if said else 0,
        estimated=True,
    )


BUILD_DIR_LABEL = "build_dir"
"""The label naming an engineer's cargo target folder (``EngineerJob.build_dir``): a ``cli:``
agent runs with ``CARGO_TARGET_DIR`` set to it."""


@dataclass(frozen=True)
class CompletionRequest:
    """A request to a model.

    ``labels`` say who is asking (role, task, attempt); providers may use them for
    attribution, the sim uses them to find its script. They are never sent as prompt text.
    """

    system: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    response_schema: dict[str, Any] | None = None
    max_tokens: int = 4096
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()
    stop_reason: Literal["end_turn", "tool_use", "max_tokens", "error"] = "end_turn"
    model: str = ""
    latency_s: float = 0.0
    family: str = ""
    """The family of the provider that answered, where it is not the one asked: a fallback
    chain answered by a later link (empty: the provider asked answered)."""
    cost_usd: float | None = None
    """What the call cost as its provider billed it (an external coding agent reports its
    own bill); None: priced from the price table."""
    paid_failures: tuple[Completion, ...] = ()
    """Failed calls made on the way to this one that were paid for all the same (a fallback
    chain's coding agent that ran, billed and failed before the next link answered): each is
    accounted as a call of its own, by the model that made it (:func:`paid_calls`)."""


def paid_calls(completion: Completion) -> list[Completion]:
    """Every call ``completion`` stands for, in the order they were made: its
    :attr:`~Completion.paid_failures`, then itself."""
    return [*completion.paid_failures, replace(completion, paid_failures=())]


def with_paid(paid: Sequence[Completion], completion: Completion) -> Completion:
    """``completion`` carrying the failed calls ``paid`` (each possibly carrying its own)
    as made before it."""
    earlier = [call for spent in paid for call in paid_calls(spent)]
    if not earlier:
        return completion
    return replace(completion, paid_failures=(*earlier, *completion.paid_failures))


class ProviderError(RuntimeError):
    """A provider failed in a way retries did not fix. The message is one line.

    ``spent``: what a failed call still used and cost — an external coding agent pays for
    every turn before it gives up — accounted as a call of its own (with the failed calls it
    carries in :attr:`~Completion.paid_failures`: a whole chain that failed).
    ``status``: the HTTP status the server answered with, where there was one (a fallback
    chain stops asking a link that answered 401, 403 or 404). ``missing``: the provider
    cannot be there this run (a coding agent's command not installed): a chain stops asking
    it as it does after a 404.
    """

    def __init__(
        self,
        message: str,
        *,
        spent: Completion | None = None,
        status: int | None = None,
        missing: bool = False,
    ) -> None:
        super().__init__(message)
        self.spent = spent
        self.status = status
        self.missing = missing

    def add_paid(self, paid: Sequence[Completion]) -> None:
        """Count the failed calls ``paid``, made before this failure, in :attr:`spent`."""
        if not paid:
            return
        if self.spent is None:
            *earlier, last = paid
            self.spent = with_paid(earlier, last)
        else:
            self.spent = with_paid(paid, self.spent)


class Provider(Protocol):
    """A model behind one interface."""

    @property
    def family(self) -> str:
        """The provider family (``anthropic``, ``gemini``, ``openai``, ``cli``, ``sim``)."""
        ...

    @property
    def model(self) -> str: ...

    @property
    def simulated(self) -> bool:
        """True only for the sim: everything it says is scripted."""
        ...

    @property
    def spec(self) -> str:
        """The model spec as configured, e.g. ``anthropic:claude-sonnet-4-6``."""
        ...

    async def complete(
        self, request: CompletionRequest, on_text: Callable[[str], None] | None = None
    ) -> Completion: ...
