"""A request longer than the model's context window, told apart from every other refusal.

Each server says it its own way, and not always with a 400: vLLM ("This model's maximum
context length is N tokens. However, you requested M tokens (P in the messages, C in the
completion)", or since 2025 "... your prompt contains at least P input tokens ..."), OpenAI
(the same words, code ``context_length_exceeded``), llama.cpp's server (type
``exceed_context_size_error`` with ``n_prompt_tokens`` and ``n_ctx``, sent under HTTP 500 by
some builds), Ollama ("the input length exceeds the context length"; and, where its cut
dropped the only user turn, an HTTP 500 "no user query found in messages": ollama#18107),
Anthropic ("prompt is too long: P tokens > M maximum"), Gemini ("The input token count (P)
exceeds the maximum number of tokens allowed (M)"). Asking again unchanged fails the same
way, so such a refusal is a :class:`ContextOverflow` — never a transient failure to retry,
nor a reason to put a fallback link down — carrying the sizes the server gave;
:mod:`agents.providers.context_fit` compacts the conversation and asks again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from agents.provider import Completion, ProviderError


@dataclass(frozen=True)
class Overflow:
    """What a server said of a request too long for it, in its own tokens (None: not said).

    ``window``: the context window; ``prompt``: the request's prompt as the server counted it
    (vLLM counts "at least" so many once it stops counting); ``total``: the prompt and the
    answer's ``max_tokens`` together, where that is all it said; ``kept``: what a server that
    refused nothing kept of the prompt, having cut the rest without a word (Ollama), as its
    usage counted it.
    """

    window: int | None = None
    prompt: int | None = None
    total: int | None = None
    kept: int | None = None


_MARKS = (
    "maximum context length",  # OpenAI, vLLM, LM Studio
    "context_length_exceeded",  # OpenAI's code
    "prompt is too long",  # Anthropic
    "exceed context limit",  # Anthropic: input length and `max_tokens` together
    "exceeds the maximum number of tokens allowed",  # Gemini
    "exceeds the available context size",  # llama.cpp's server
    "exceed_context_size_error",
    "exceeds the context length",  # Ollama
    "is longer than the maximum model length",  # vLLM's engine
    "is too long and exceeds limit of",  # vLLM's scheduler (older)
)
_WINDOW = (
    r"maximum context length is (\d+)",
    r"tokens > (\d+) maximum",
    r"maximum number of tokens allowed \((\d+)\)",
    r"maximum model length of (\d+)",
    r"exceeds limit of (\d+)",
    r"context limit: \d+ \+ \d+ > (\d+)",
    r"context length of only (\d+)",
)
_PROMPT = (
    r"\((\d+) in the messages",
    r"prompt contains (?:at least )?(\d+) input tokens",
    r"your messages resulted in (\d+) tokens",
    r"your request has (?:at least )?(\d+) (?:input )?tokens",
    r"prompt is too long: (\d+) tokens",
    r"input token count \((\d+)\)",
    r"input token count of (\d+)",
    r"prompt \(length (\d+)\)",
    r"input prompt \((\d+) tokens\)",
    r"context limit: (\d+) \+",
)
_TOTAL = (r"you requested (\d+) tokens", r"for a total of (?:at least )?(\d+) tokens")


def _first(patterns: tuple[str, ...], text: str) -> int | None:
    for pattern in patterns:
        found = re.search(pattern, text, re.IGNORECASE)
        if found:
            return int(found.group(1))
    return None


def _count(fields: Mapping[str, object], key: str) -> int | None:
    value = fields.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def overflow_in(message: str, fields: Mapping[str, object] | None = None) -> Overflow | None:
    """The overflow ``message`` (a server's error message) tells of, or None when it tells
    of something else. ``fields``: the error object's other fields (``code``, ``type``, and
    llama.cpp's ``n_prompt_tokens`` and ``n_ctx``)."""
    fields = fields or {}
    said = " ".join([message, str(fields.get("code", "")), str(fields.get("type", ""))])
    lowered = said.lower()
    if not any(mark in lowered for mark in _MARKS):
        return None
    return Overflow(
        window=_count(fields, "n_ctx") or _first(_WINDOW, message),
        prompt=_count(fields, "n_prompt_tokens") or _first(_PROMPT, message),
        total=_first(_TOTAL, message),
    )


_NO_USER_TURN = "no user query found in messages"
"""What Ollama's chat templates say, under HTTP 500, when its cut of an over-long prompt
dropped every user turn (ollama#18107); llama.cpp's say it of a request that sent none."""


def user_turn_cut(message: str, sent: Mapping[str, object]) -> Overflow | None:
    """An overflow (sizes not said) where ``message`` says the server found no user turn in
    ``sent``, a chat-completions body that had one: the server cut it away to fit its window
    (Ollama, ollama#18107). None for any other message, or a body without a user turn."""
    if _NO_USER_TURN not in message.lower():
        return None
    messages = sent.get("messages")
    turns = messages if isinstance(messages, list) else []
    if not any(isinstance(m, dict) and m.get("role") == "user" for m in turns):
        return None
    return Overflow()


class ContextOverflow(ProviderError):
    """A request the model refused as longer than its context window (:class:`Overflow`):
    asked again unchanged, it fails the same way."""

    def __init__(
        self,
        message: str,
        overflow: Overflow,
        *,
        status: int | None = None,
        spent: Completion | None = None,
    ) -> None:
        super().__init__(message, status=status, spent=spent)
        self.overflow = overflow
