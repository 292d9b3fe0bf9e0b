"""The chat-completions format, apart from the HTTP exchange: our conversation in it, and what
the parts of a reply mean.

:class:`~agents.providers.openai_compat.OpenAICompatProvider` sends the request body
:func:`request_body` builds — the conversation as :func:`native_messages` builds it (native
tool calls and their results), or in the text edit format of text_tools.py where tools are
refused (:data:`ToolsMode`), a response schema in the form the server takes
(:data:`SchemaFormat`) — and reads a reply's finish reason (:data:`STOP_REASONS`), its
tool calls' arguments (:func:`tool_arguments`, which a server may send as a JSON string, an
object, or text that is no JSON) and its text (:func:`content_parts`: a string, or typed
chunks), less a reasoning model's ``<think>`` block
(:func:`without_reasoning`); an error that says the model is not served there
(:func:`unknown_model`) gets the names the server lists (:func:`served_models_hint`). The
base URL is shown and sent without the credentials it may carry (:func:`shown_url`,
:func:`url_credentials`, :func:`without_userinfo`).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from agents.provider import UNPARSED_ARGUMENTS, CompletionRequest, Message
from agents.providers.text_tools import describe_tools, render_history

StopReason = Literal["end_turn", "tool_use", "max_tokens", "error"]
ToolsMode = Literal["auto", "native", "text"]
SchemaFormat = Literal["json_schema", "json_object", "prompt"]
"""How a response schema is asked for: OpenAI's ``json_schema``; ``json_object`` carrying the
schema where a server takes only that (llama.cpp before ``json_schema``, ik_llama.cpp,
llama-cpp-python, which constrain the reply to the schema it carries); or in the prompt alone."""


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


def request_body(
    request: CompletionRequest,
    stream: bool,
    *,
    model: str,
    tools_mode: ToolsMode,
    schema_format: SchemaFormat,
) -> dict[str, Any]:
    """The body of a chat-completions request for ``request``: tools native or described in
    the text format (``tools_mode`` "text"), a response schema as ``response_format`` in the
    form the server takes (``schema_format``) and in the system prompt, streamed or not."""
    text_mode = tools_mode == "text" and bool(request.tools)
    # A request without tools may still carry a tool loop's turns (the verifier's report,
    # re-asked after its loop): in text mode those go as text too, never as native tool
    # calls to a server that refused them.
    text_history = text_mode or (
        tools_mode == "text" and any(m.role == "tool" or m.tool_calls for m in request.messages)
    )
    system = request.system
    if request.response_schema is not None:
        schema = json.dumps(request.response_schema)
        system = f"{system}\n\nWhen you answer, reply with JSON matching: {schema}".strip()
    if text_mode:
        system = f"{system}\n\n{describe_tools(request.tools)}".strip()
    if text_history:
        messages = render_history(request.messages)
        if system:
            messages.insert(0, {"role": "system", "content": system})
    else:
        messages = native_messages(system, request.messages)
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens,
    }
    if request.tools and not text_mode:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    if request.response_schema is not None and not request.tools:
        if schema_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.response_schema},
            }
        elif schema_format == "json_object":
            body["response_format"] = {"type": "json_object", "schema": request.response_schema}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def content_parts(content: object) -> tuple[str, str] | None:
    """``content`` as (answer, thinking): text as it is, or a list of typed chunks as Mistral's
    reasoning models send it (``text`` chunks the answer, ``thinking`` ones the thinking, other
    kinds skipped); None for content of neither shape."""
    if content is None or isinstance(content, str):
        return content or "", ""
    if not isinstance(content, list):
        return None
    answer: list[str] = []
    thinking: list[str] = []
    for chunk in content:
        if not isinstance(chunk, dict):
            return None
        if chunk.get("type") == "text" and isinstance(chunk.get("text"), str):
            answer.append(chunk["text"])
        elif chunk.get("type") in ("thinking", "reasoning"):
            thought = chunk.get("thinking", chunk.get("text"))
            inner = content_parts(thought)
            if inner is not None:
                thinking.append("".join(inner))
    return "".join(answer), "".join(thinking)


def tool_arguments(raw: object) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {UNPARSED_ARGUMENTS: raw}
    return parsed if isinstance(parsed, dict) else {UNPARSED_ARGUMENTS: raw}


_NO_SUCH_MODEL = ("does not exist", "not found", "no such model", "unknown model", "not loaded")


def unknown_model(response: httpx.Response) -> bool:
    """Whether an error answer says the model named is not one the server serves: vLLM's
    404 "The model `x` does not exist.", Ollama's 404 'model "x" not found, try pulling it
    first', OpenAI's code ``model_not_found``, LM Studio's "model not loaded"."""
    said = response.text.lower()
    return (
        response.status_code in (400, 404)
        and "model" in said
        and any(words in said for words in _NO_SUCH_MODEL)
    )


def served_models_hint(listing: object, most: int = 8) -> str:
    """The models a ``GET /models`` answer lists, as a hint to append to "no such model"."""
    data = listing.get("data") if isinstance(listing, dict) else None
    if not isinstance(data, list):
        return ""
    names = [str(m["id"])[:100] for m in data if isinstance(m, dict) and m.get("id")]
    if not names:
        return " (the server lists no models at GET /models)"
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return f" (the server serves: {', '.join(names[:most])}{more})"


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
_THINK_AT_LINE = re.compile(r"^[ \t]*<think>", re.MULTILINE)
_HARMONY = "<|channel|>"
_HARMONY_CHANNEL = re.compile(r"<\|channel\|>\s*(\w+)")
_HARMONY_FINAL = re.compile(
    r"<\|channel\|>\s*final\b[^<]*(?:<\|constrain\|>[^<]*)?<\|message\|>"
    r"(?P<answer>.*?)(?=<\|return\|>|<\|end\|>|<\|start\|>|\Z)",
    re.DOTALL,
)
HARMONY_CALL = re.compile(
    r"to=functions\.(?P<name>[\w\-]+)(?:(?!<\|message\|>|<\|end\|>).)*<\|message\|>"
    r"(?P<args>.*?)(?:<\|call\|>|<\|end\|>|(?=<\|start\|>)|\Z)",
    re.DOTALL,
)
"""A gpt-oss tool call in harmony markup: ``to=functions.NAME … <|message|>{args}<|call|>``."""


def without_reasoning(content: str) -> str:
    """The answer in a reasoning model's ``content``, without its ``<think>`` block.

    vLLM without ``--reasoning-parser``, Ollama and llama.cpp pass a DeepSeek-R1's or a
    Qwen3's thinking through as text: ``<think>…</think>`` and then the answer, or only the
    closing tag where the chat template opened the block itself. Left in, the braces of
    the reasoning spoil the JSON a role parses and its fences look like text-mode actions,
    and it would go back to the model in the history. A block that never closes is
    thinking to the end of the reply (the model ran out of tokens while thinking, or its
    template dropped the closing tag), not an answer, however the reply says it stopped.
    Only a ``<think>`` that opens a line counts, so prose or code naming the tag stays.

    gpt-oss speaks in harmony channels; where the server's parser misses them (mlx-lm,
    TensorRT-LLM, an Ollama parse miss) the markup comes through: ``<|channel|>analysis
    <|message|>…<|end|><|start|>assistant<|channel|>final<|message|>answer``. The answer
    is the final channel's; without one, the tool calls of its commentary channel; with
    nothing but the analysis channel (its thinking, cut at the limit), none.
    """
    if _HARMONY in content:
        finals = [m.group("answer") for m in _HARMONY_FINAL.finditer(content)]
        if finals:
            return finals[-1].strip()
        calls = [m.group(0) for m in HARMONY_CALL.finditer(content)]
        if calls:
            return "\n".join(calls)
        # the analysis channel alone is thinking, like a think block that never closed
        return "" if set(_HARMONY_CHANNEL.findall(content)) == {"analysis"} else content
    start = content.lstrip()
    if start.startswith(_THINK_OPEN):
        end = start.find(_THINK_CLOSE)
        if end == -1:
            return ""
        content = start[end + len(_THINK_CLOSE) :].lstrip()
    else:
        end = content.find(_THINK_CLOSE)
        if end != -1 and _THINK_OPEN not in content[:end]:
            content = content[end + len(_THINK_CLOSE) :].lstrip()
    opened = [m.start() for m in _THINK_AT_LINE.finditer(content)]
    if opened and _THINK_CLOSE not in content[opened[-1] :]:
        return content[: opened[-1]].rstrip()  # thinking again after an answer, never closed
    return content
