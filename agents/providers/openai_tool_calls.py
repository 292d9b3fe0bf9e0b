"""The tool calls in a chat-completions reply, as local servers really send them.

A server's tool parser turns what the model wrote into ``tool_calls``; when it has none for
the model, or the model strays from the format its parser reads, the call comes back as
text in ``content`` with ``finish_reason: "stop"`` — Qwen2.5-Coder on Ollama writes a bare
``{"name": ..., "arguments": {...}}``, Hermes-style models ``<tool_call>{...}</tool_call>``,
Qwen2.5-Coder with a few-shot prompt ``<tools>[...]</tools>``, Qwen3-Coder under vLLM's
hermes parser ``<tool_call><function=NAME><parameter=P>value</parameter></function>``,
gpt-oss in harmony markup ``to=functions.NAME<|message|>{...}<|call|>``.
:func:`calls_in_content` reads those back as calls to the tools offered (anything else is
left as the reply's text), so the engineer's loop goes on instead of ending on a "reply".

Ids are the other gap: llama.cpp has answered every call with the same id, LM Studio and
older builds with none, and a fallback link (Anthropic) refuses a conversation whose
tool-call ids repeat. :func:`with_unique_ids` gives each call an id no other call in the
conversation has. A streamed reply's calls come in pieces, put back together by
:class:`StreamedCalls`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from typing import Any

from agents.provider import Message, ToolCall, ToolSpec
from agents.providers.openai_wire import HARMONY_CALL

_TAGGED = re.compile(r"<(?P<tag>tool_call|tools)>\s*(?P<body>.*?)\s*(?:</(?P=tag)>|\Z)", re.DOTALL)
_FENCED = re.compile(r"```(?:json|JSON)?[ \t]*\n(?P<body>[\[{].*?[\]}])[ \t]*\n?```", re.DOTALL)
_FUNCTION = re.compile(r"<function=(?P<name>[^>\s]+)>(?P<body>.*?)(?:</function>|\Z)", re.DOTALL)
_PARAMETER = re.compile(
    r"<parameter=(?P<name>[^>\s]+)>(?P<value>.*?)(?=</parameter>|<parameter=|\Z)(?:</parameter>)?",
    re.DOTALL,
)


def calls_in_content(content: str, tools: tuple[ToolSpec, ...]) -> tuple[tuple[ToolCall, ...], str]:
    """The calls to ``tools`` written as text in ``content``, and the text left around them.

    Only a call that names an offered tool, with arguments that are an object, counts: a
    reply that merely shows some JSON stays a reply.
    """
    specs = {t.name: t for t in tools}
    found: list[tuple[str, dict[str, Any]]] = []
    spans: list[tuple[int, int]] = []
    for match in HARMONY_CALL.finditer(content):  # gpt-oss, where the server's parser missed
        call = _call({"name": match.group("name"), "arguments": match.group("args")}, specs)
        if call is not None:
            found.append(call)
            spans.append(match.span())
    for match in _TAGGED.finditer(content):
        calls = _xml_calls(match.group("body"), specs) or _json_calls(match.group("body"), specs)
        if calls:
            found += calls
            spans.append(match.span())
    if not found:
        for match in _FENCED.finditer(content):
            calls = _json_calls(match.group("body"), specs)
            if calls:
                found += calls
                spans.append(match.span())
    if not found:
        calls = _json_lines(content.strip(), specs)
        if calls:
            return tuple(ToolCall("", name, args) for name, args in calls), ""
    left = content
    for start, end in reversed(spans):
        left = left[:start] + left[end:]
    return tuple(ToolCall("", name, args) for name, args in found), left.strip()


def with_unique_ids(
    calls: Iterable[ToolCall], history: tuple[Message, ...]
) -> tuple[ToolCall, ...]:
    """``calls`` with a fresh id for each that has none or one already taken (by an earlier
    call of this reply or of the conversation): nine letters and digits, the shape every
    chat template takes (Mistral's refuses any other)."""
    taken = {c.id for m in history for c in m.tool_calls}
    out: list[ToolCall] = []
    for call in calls:
        call_id = call.id
        while not call_id or call_id in taken:
            call_id = secrets.token_hex(5)[:9]
        taken.add(call_id)
        out.append(call if call_id == call.id else ToolCall(call_id, call.name, call.arguments))
    return tuple(out)


class StreamedCalls:
    """The tool calls of a stream, put together from their deltas: by the server's index,
    and by id where a call of its own comes under the index of an earlier one."""

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}
        self._slot_of: dict[int, int] = {}  # the server's index of a call -> its slot

    def add(self, piece: dict[str, Any]) -> None:
        """One delta of a ``tool_calls`` list: a call's start or more of its arguments."""
        calls, slot_of = self._calls, self._slot_of
        function = piece.get("function") or {}
        index = int(piece.get("index", len(calls)))
        at = slot_of.setdefault(index, len(calls))
        held, new_id = calls.get(at), piece.get("id")
        if held and held["id"] and new_id not in (None, "", held["id"]) and function.get("name"):
            # a call of its own under the index of an earlier one: Ollama
            # numbers every call of a stream 0 (ollama#15457)
            at = slot_of[index] = len(calls)
        slot = calls.setdefault(at, {"id": "", "name": "", "args": ""})
        slot["id"] = piece.get("id") or slot["id"]
        slot["name"] = function.get("name") or slot["name"]
        args = function.get("arguments") or ""  # an object, from some proxies
        slot["args"] += args if isinstance(args, str) else json.dumps(args)

    def as_wire(self) -> list[dict[str, Any]]:
        """The calls, in order, as a non-streamed reply's ``tool_calls``."""
        return [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["args"]},
            }
            for _, c in sorted(self._calls.items())
        ]


def _json_calls(body: str, specs: dict[str, ToolSpec]) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(body)
    except ValueError:
        return _json_lines(body, specs)
    items = data if isinstance(data, list) else [data]
    calls = [_call(item, specs) for item in items]
    return [c for c in calls if c is not None] if all(calls) else []


def _json_lines(text: str, specs: dict[str, ToolSpec]) -> list[tuple[str, dict[str, Any]]]:
    """A text that is nothing but JSON calls: one object, a list of them, or one per line."""
    if not text.startswith(("{", "[")):
        return []
    decoder, at, calls = json.JSONDecoder(), 0, []
    while at < len(text):
        try:
            data, end = decoder.raw_decode(text, at)
        except ValueError:
            return []
        for item in data if isinstance(data, list) else [data]:
            call = _call(item, specs)
            if call is None:
                return []
            calls.append(call)
        at = end
        while at < len(text) and text[at] in " \t\r\n,;":
            at += 1
    return calls


def _call(item: object, specs: dict[str, ToolSpec]) -> tuple[str, dict[str, Any]] | None:
    if not isinstance(item, dict):
        return None
    function = item.get("function")
    if isinstance(function, dict):  # an OpenAI-shaped call written out as text
        item = function
    name = item.get("name") or item.get("tool")
    args: object = item.get("arguments", item.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            return None
    if not isinstance(name, str) or name not in specs or not isinstance(args, dict):
        return None
    return name, args


def _xml_calls(body: str, specs: dict[str, ToolSpec]) -> list[tuple[str, dict[str, Any]]]:
    """Qwen3-Coder's ``<function=NAME><parameter=P>value</parameter></function>``."""
    calls = []
    for function in _FUNCTION.finditer(body):
        spec = specs.get(function.group("name"))
        if spec is None:
            return []
        types = spec.parameters.get("properties", {})
        args: dict[str, Any] = {}
        for parameter in _PARAMETER.finditer(function.group("body")):
            name, value = parameter.group("name"), parameter.group("value")
            value = value.removeprefix("\n").removesuffix("\n")
            args[name] = _typed(value, (types.get(name) or {}).get("type"))
        calls.append((spec.name, args))
    return calls


def _typed(value: str, kind: object) -> object:
    """A parameter's text as the type its schema gives (the format writes every value as
    text): a number, a list or an object parsed, a string as written."""
    if kind in (None, "string"):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
