"""The chat-completions format, apart from the HTTP exchange: our conversation in it, and what
the parts of a reply mean.

:class:`~agents.providers.openai_compat.OpenAICompatProvider` sends the conversation as
:func:`native_messages` builds it (native tool calls and their results), and reads a reply's
finish reason (:data:`STOP_REASONS`), its tool calls' arguments (:func:`tool_arguments`,
which a server may send as a JSON string, an object, or text that is no JSON) and its text,
less a reasoning model's ``<think>`` block (:func:`without_reasoning`). The base URL is
shown and sent without the credentials it may carry (:func:`shown_url`,
:func:`url_credentials`, :func:`without_userinfo`).
"""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from agents.provider import Message

StopReason = Literal["end_turn", "tool_use", "max_tokens", "error"]


STOP_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "error",
}


def native_messages(system: str, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Our conversation in chat-completions form, with native tool calls and results."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        if m.role == "assistant":
            turn: dict[str, Any] = {"role": "assistant", "content": m.content or None}
            if m.tool_calls:
                turn["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                    }
                    for c in m.tool_calls
                ]
            out.append(turn)
        elif m.role == "tool":
            out.append({"role": "tool", "tool_call_id": m.tool_call_id or "", "content": m.content})
        else:
            out.append({"role": "user", "content": m.content})
    return out


def tool_arguments(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {"_unparsed_arguments": raw}
    return parsed if isinstance(parsed, dict) else {"_unparsed_arguments": raw}


def shown_url(url: str) -> str:
    """``url`` as it may be shown: the credentials a proxy's URL can carry
    (``https://user:password@host/v1``, or a bare token before the ``@``) masked, and any
    query (``?key=...``), since the spec naming it goes into every error, notice and event
    that names the model."""
    split = urlsplit(url)
    if "@" in split.netloc:
        split = split._replace(netloc="***@" + split.netloc.rpartition("@")[2])
    if split.query or split.fragment:
        split = split._replace(query="***" if split.query else "", fragment="")
    return urlunsplit(split)


def url_credentials(url: str) -> tuple[str, ...]:
    """The secrets in ``url``'s user part, as written and decoded: its password, or the user
    itself where there is no password (a bare token)."""
    split = urlsplit(url)
    userinfo = split.netloc.rpartition("@")[0]
    if not userinfo:
        return ()
    user, colon, password = userinfo.partition(":")
    secret = password if colon else user
    return tuple(dict.fromkeys(v for v in (secret, unquote(secret)) if v))


def without_userinfo(url: str) -> str:
    """``url`` without the ``user:password@`` before its host."""
    split = urlsplit(url)
    return urlunsplit(split._replace(netloc=split.netloc.rpartition("@")[2]))


_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"


def without_reasoning(content: str) -> str:
    """The answer in a reasoning model's ``content``, without its ``<think>`` block.

    vLLM without ``--reasoning-parser``, Ollama and llama.cpp pass a DeepSeek-R1's or a
    Qwen3's thinking through as text: ``<think>…</think>`` and then the answer, or only the
    closing tag where the chat template opened the block itself. Left in, the braces of
    the reasoning spoil the JSON a role parses and its fences look like text-mode actions,
    and it would go back to the model in the history. A block that never closes (the
    model ran out of tokens while thinking) is left as it is: there is no answer to keep.
    """
    start = content.lstrip()
    if start.startswith(_THINK_OPEN):
        end = start.find(_THINK_CLOSE)
        return start[end + len(_THINK_CLOSE) :].lstrip() if end != -1 else content
    end = content.find(_THINK_CLOSE)
    if end != -1 and _THINK_OPEN not in content[:end]:
        return content[end + len(_THINK_CLOSE) :].lstrip()
    return content
