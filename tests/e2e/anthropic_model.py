"""A model behind a loopback Anthropic Messages API, for end-to-end runs over the SDK's wire.

:class:`ModelServer` answers ``POST /v1/messages`` on 127.0.0.1 as the Messages API does:
``system`` as text blocks, ``messages`` of ``user`` / ``assistant`` turns whose content is
``text``, ``tool_use`` and ``tool_result`` blocks, ``tools`` with ``input_schema``,
``tool_choice``, a message with ``stop_reason`` and ``usage`` (cache reads and writes apart),
and with ``"stream": true`` the server-sent events ``message_start``, ``content_block_start``,
``content_block_delta`` (``text_delta``, ``input_json_delta``), ``content_block_stop``,
``message_delta``, ``message_stop``. Errors are ``{"type": "error", "error": {...}}``.

:class:`LoopbackModel` answers each request from what it was sent, never from a queue, playing
the small factory of tests/e2e/scripted_factory.py. A structured answer comes as Claude gives
it under a forced ``tool_choice``: one ``tool_use`` block whose input is the answer. Claude's
own habits are in it too: a tool-calling turn whose text is only whitespace (the engineer's
second turn, the verifier's first), a first verdict whose nested object comes as a JSON string
(the judge's ``checklist``, re-asked), a report in prose around the JSON (the verifier's,
re-asked). And the API's bad moments: the planner's first request gets 529 overloaded, QC's
first a 429 with ``retry-after: 0``, and in a streamed run the critic's first stream breaks
with an ``error`` event after ``message_start`` (HTTP 200, as the API does under load) and the
first engineer's ends in the middle of its first tool call's input (a dropped connection).

Prompt caching is played as the API plays it (but for its minimum cacheable length): a prefix
up to a ``cache_control`` breakpoint is written, and a later request that starts with a written
prefix reads it, so ``usage`` tells whether the provider marks what stays the same from turn to
turn.

Each request is checked as the API checks it, and what it would refuse (unknown fields, turns
starting with the assistant, empty or whitespace-only text blocks, tool results that do not
answer the previous turn's calls first and one for one, tool blocks without ``tools``, bad tool
names or schemas, a forced tool that is not offered, more than four cache breakpoints, a
missing key or version header) is answered with HTTP 400 and noted in
:attr:`LoopbackModel.problems` — as is a conversation ending with the assistant's turn, which
the API would take as a prefill no role means to send.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from anthropic_checks import blocks_of, check_headers, check_request
from anthropic_thinking import (
    FORCED,
    THINKING_MODELS,
    Thoughts,
    check_output_config,
)
from scripted_factory import (
    REFUSALS,
    REPAIR,
    VERIFIER_REPORT,
    Answer,
    Ledger,
    Refusal,
    WireServer,
    check_tools,
    engineer_turn,
    role_of,
    structured_reply,
    verifier_turn,
)

MODEL = "claude-sonnet-4-6"
STREAMED_MODEL = "claude-opus-4-5"
"""A model the SDK lists as deprecated (until its end of life on 2027-01-22; Sonnet 4.5's
comes on 2026-11-30): the provider streams every call to it."""
THINKING_MODEL = "claude-sonnet-5-5"
"""A model that thinks by default and refuses forced tool use (tests/e2e/anthropic_thinking.py)."""
SERVED = {STREAMED_MODEL: "claude-opus-4-5-20251101"}
"""The dated model id the API names in its answers to an alias."""
RESPOND = "respond"
"""The tool the provider forces for a structured answer (agents/providers/anthropic.py)."""

RATE_LIMITED = "Number of request tokens has exceeded your per-minute rate limit"
FAULTS = {
    "planner": (529, "overloaded_error", "Overloaded", {}),
    "qc": (429, "rate_limit_error", RATE_LIMITED, {"retry-after": "0"}),
}
"""The first request of these roles fails: (status, error type, message, headers)."""
STREAM_FAULTS = {"critic": "overloaded_error", "engineer": "cut"}
"""In a streamed run, the first stream of these roles breaks after ``message_start``: with an
``error`` event of this type, or (``cut``) ends in the middle of a tool call's input."""
BROKEN_USAGE = {"input_tokens": 10, "output_tokens": 1}
"""What a broken stream's ``message_start`` says it used (no call is billed for it)."""
QUIET_TURNS = {"engineer": 1, "verifier": 0}
"""The tool-loop turn in which each role's text before its tool calls is only whitespace."""


@dataclass
class Seen:
    """One request the server answered, which role sent it, and the usage it was billed."""

    role: str
    body: dict[str, Any]
    headers: dict[str, str]
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def repair(self) -> bool:
        """A re-ask after an invalid reply."""
        return last_user_text(self.body["messages"]).startswith(REPAIR)

    @property
    def turn(self) -> int:
        """How many assistant turns the conversation already held."""
        return sum(1 for m in self.body["messages"] if m["role"] == "assistant")

    @property
    def streamed(self) -> bool:
        return self.body.get("stream") is True


@dataclass
class LoopbackModel(Ledger):
    """Answers Messages API requests from their content; records what it saw."""

    model: str = MODEL
    faults: list[str] = field(default_factory=list)
    """The requests failed on purpose, as ``ROLE: what``."""
    _cache: set[str] = field(default_factory=set)
    thoughts: Thoughts | None = None
    """For a model that thinks (:data:`THINKING_MODELS`): the thinking blocks it gave."""

    def __post_init__(self) -> None:
        if self.model in THINKING_MODELS:
            self.thoughts = Thoughts(self.model)

    # -- the wire ---------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        """The answer to one POST."""
        try:
            if path.split("?")[0] != "/v1/messages":
                raise Refusal(f"no route {path}")
            check_headers(headers)
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise Refusal("the body is not a JSON object")
            check_request(body, self.model)
            if self.thoughts is not None:
                if (body.get("tool_choice") or {}).get("type") in ("tool", "any"):
                    raise Refusal(FORCED)
                self.thoughts.check(body)
            prompt = self.over_context(raw, 0)  # the API counts the prompt alone here
            if prompt is not None:
                said = f"prompt is too long: {prompt} tokens > {self.context_tokens} maximum"
                return Answer.json(400, error_body("invalid_request_error", said))
            role = role_of(system_text(body))
            streamed = body.get("stream") is True
            if role in FAULTS and self._first(role, "{} {}".format(*FAULTS[role])):
                status, kind, text, headers = FAULTS[role]
                return Answer.json(status, error_body(kind, text), headers)
            number = self.number()
            content, stop = self.answer(role, body, number)
            if self.thoughts is not None:
                content = self._thought(body, content)
        except REFUSALS as exc:
            return Answer.json(400, error_body("invalid_request_error", self.refuse(exc)))
        fault = STREAM_FAULTS.get(role) if streamed else None
        if fault is not None and self._first(role, f"{fault} in the stream"):
            events = stream_events(self._message(number, content, stop, dict(BROKEN_USAGE)))
            return sse_answer(broken(events, fault))
        usage = self._usage(body, content)
        with self._lock:
            self.seen.append(Seen(role, body, headers, usage))
        message = self._message(number, content, stop, usage)
        if streamed:
            return sse_answer(stream_events(message))
        return Answer.json(200, message, {"request-id": f"req_{number:04d}"})

    def _message(
        self, number: int, content: list[dict[str, Any]], stop: str, usage: dict[str, int]
    ) -> dict[str, Any]:
        return {
            "id": f"msg_{number:04d}",
            "type": "message",
            "role": "assistant",
            "model": SERVED.get(self.model, self.model),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }

    def _thought(self, body: dict[str, Any], content: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``content`` as a thinking model gives it: a thinking block first, holding the text
        a tool-calling turn wrote before its calls (which then comes as no text block)."""
        assert self.thoughts is not None
        calls = [b for b in content if b["type"] == "tool_use"]
        texts = [b for b in content if b["type"] == "text"]
        note = " ".join(str(b["text"]).strip() for b in texts) if calls else ""
        block = self.thoughts.block(body, note or "Working out the answer.")
        content = [block, *(calls if calls else texts)]
        self.thoughts.given(body, content)
        return content

    def _first(self, role: str, fault: str) -> bool:
        """Whether this is ``role``'s first request to meet a fault (then noted as met)."""
        with self._lock:
            if any(f.startswith(f"{role}:") for f in self.faults):
                return False
            self.faults.append(f"{role}: {fault}")
            return True

    def _usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, int]:
        """Tokens as the API bills them: cache reads, cache writes, and the rest apart.

        The prompt is read as blocks in the API's order (tools, system, messages); a prefix
        ending at a ``cache_control`` breakpoint is written to the cache, and the longest prefix
        of this request already written is read from it."""
        digest = hashlib.sha256()
        chars = 0
        read = written = 0
        breakpoints: list[tuple[str, int]] = []
        with self._lock:
            for text, marked in prompt_blocks(body):
                digest.update(text.encode("utf-8"))
                chars += len(text)
                prefix = digest.hexdigest()
                if prefix in self._cache:
                    read = chars
                if marked:
                    breakpoints.append((prefix, chars))
            for prefix, _ in breakpoints:
                self._cache.add(prefix)
        if breakpoints:
            written = max(0, breakpoints[-1][1] - read)
        usage = {
            "input_tokens": max(1, (chars - read - written) // 4),
            "output_tokens": max(1, len(json.dumps(content)) // 4),
            "cache_creation_input_tokens": written // 4,
            "cache_read_input_tokens": read // 4,
        }
        thinking = [b for b in content if b["type"] == "thinking"]
        if thinking:  # billed as output, and counted in output_tokens already
            details = {"thinking_tokens": max(1, len(json.dumps(thinking)) // 4)}
            return {**usage, "output_tokens_details": details}  # type: ignore[dict-item]
        return usage

    # -- the roles --------------------------------------------------------------------------

    def answer(
        self, role: str, body: dict[str, Any], number: int
    ) -> tuple[list[dict[str, Any]], str]:
        """The content blocks and stop reason ``role`` gets for ``body``."""
        messages: list[dict[str, Any]] = body["messages"]
        prompt = first_user_text(messages)
        repair = last_user_text(messages).startswith(REPAIR)
        tools = {str(t["name"]): t for t in body.get("tools") or []}
        if role in ("engineer", "verifier") and not repair:
            if body.get("tool_choice") is not None:
                raise Refusal(f"the {role}'s tool loop forces a tool: {body['tool_choice']}")
            check_tools(role, set(tools))
            turn = sum(1 for m in messages if m["role"] == "assistant")
            act = Actions(turn, number, quiet=QUIET_TURNS.get(role) == turn)
            results = last_tool_results(messages)
            if role == "engineer":
                reply = engineer_turn(act, results, prompt)
            else:
                reply = verifier_turn(act, results)
            return reply["content"], reply["stop_reason"]
        formatted = check_output_config(body)
        if formatted is None and (
            body.get("tool_choice") != {"type": "tool", "name": RESPOND} or RESPOND not in tools
        ):
            raise Refusal(f"the {role} asked for an answer without forcing the respond tool")
        schema: dict[str, Any] = formatted or tools[RESPOND]["input_schema"]
        if role == "verifier":  # its report, asked again after a bad first one
            answer: dict[str, Any] = dict(VERIFIER_REPORT)
        else:
            answer = structured_reply(role, prompt, schema)
        if formatted is not None:  # structured outputs: the schema holds, as text
            return [{"type": "text", "text": json.dumps(answer)}], "end_turn"
        if role == "judge" and not repair:  # a nested object as a JSON string: asked again
            answer["checklist"] = json.dumps(answer["checklist"])
        block = {"type": "tool_use", "id": f"toolu_{number:04d}_r", "name": RESPOND}
        return [{**block, "input": answer}], "tool_use"


@dataclass(frozen=True)
class Actions:
    """One tool-loop turn's reply as Messages API content blocks."""

    turn: int
    number: int
    quiet: bool = False
    """Only whitespace as the text before the calls, as Claude now and then writes."""

    def reply(self, text: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": "\n\n" if self.quiet else text}]
        blocks += [
            {"type": "tool_use", "id": f"toolu_{self.number:04d}_{i}", "name": name, "input": args}
            for i, (name, args) in enumerate(calls)
        ]
        return {"content": blocks, "stop_reason": "tool_use" if calls else "end_turn"}

    def say(self, text: str) -> dict[str, Any]:
        return self.reply(text)


def error_body(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


# -- streaming ------------------------------------------------------------------------------


Event = tuple[str, dict[str, Any]]
"""One server-sent event: its name, and its data (whose ``type`` is the name)."""


def event(kind: str, **data: Any) -> Event:
    return kind, {"type": kind, **data}


def stream_events(message: dict[str, Any]) -> list[Event]:
    """``message`` as the Messages API streams it: text in pieces, tool input as JSON pieces."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [event("message_start", message=start), event("ping")]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            empty: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block["text"])]
        elif block["type"] == "thinking":
            empty = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            empty = {**block, "input": {}}
            whole = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(whole)]
        events.append(event("content_block_start", index=index, content_block=empty))
        events += [event("content_block_delta", index=index, delta=d) for d in deltas]
        events.append(event("content_block_stop", index=index))
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    output = {k: v for k, v in usage.items() if k.startswith("output_tokens")}
    return [*events, event("message_delta", delta=stop, usage=output), event("message_stop")]


def broken(events: list[Event], fault: str) -> list[Event]:
    """``events`` broken after ``message_start``: an ``error`` event of type ``fault``, or for
    ``cut`` the stream's end after the first piece of its first tool call's input."""
    if fault != "cut":
        return [*events[:2], ("error", error_body(fault, "Overloaded"))]
    first = next(i for i, (_, e) in enumerate(events) if e.get("delta", {}).get("partial_json"))
    return events[: first + 1]


def pieces(text: str, size: int = 40) -> list[str]:
    """``text`` cut in pieces of ``size`` characters (one empty piece for empty text)."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def sse_answer(events: list[Event]) -> Answer:
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return Answer(200, text.encode("utf-8"), "text/event-stream", {"cache-control": "no-cache"})


# -- reading a request ----------------------------------------------------------------------


def system_text(body: dict[str, Any]) -> str:
    system = body.get("system") or ""
    if isinstance(system, str):
        return system
    return "\n".join(str(b["text"]) for b in system)


def text_of(message: dict[str, Any]) -> str:
    return "\n".join(str(b["text"]) for b in blocks_of(message) if b["type"] == "text")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m["role"] == "user"]
    return text_of(users[-1]) if users else ""


def first_user_text(messages: list[dict[str, Any]]) -> str:
    return text_of(messages[0])


def result_text(block: dict[str, Any]) -> str:
    content = block.get("content", "")
    if isinstance(content, str):
        return content
    return "\n".join(str(b.get("text", "")) for b in content)


def last_tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """The results of the last assistant turn's calls, in the order of the calls."""
    if len(messages) < 2 or messages[-2]["role"] != "assistant":
        return []
    calls = [b["id"] for b in blocks_of(messages[-2]) if b["type"] == "tool_use"]
    results = [b for b in blocks_of(messages[-1]) if b["type"] == "tool_result"]
    if [b["tool_use_id"] for b in results] != calls:
        raise Refusal(f"tool results {[b['tool_use_id'] for b in results]} for calls {calls}")
    return [result_text(b) for b in results]


def prompt_blocks(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """The prompt as the cache sees it: each block's text (its marker aside) and whether it
    carries a ``cache_control`` breakpoint, in the API's order: tools, system, messages."""
    out: list[tuple[str, bool]] = []

    def add(where: str, block: dict[str, Any]) -> None:
        bare = {k: v for k, v in block.items() if k != "cache_control"}
        out.append((f"{where}:{json.dumps(bare, sort_keys=True)}", "cache_control" in block))

    for tool in body.get("tools") or []:
        add("tool", tool)
    system = body.get("system") or []
    for block in [{"type": "text", "text": system}] if isinstance(system, str) else system:
        add("system", block)
    for message in body["messages"]:
        for block in blocks_of(message):
            add(message["role"], block)
    return out


# -- the server -----------------------------------------------------------------------------


class ModelServer(WireServer):
    """``with ModelServer() as server:`` — ``server.base_url`` is ``http://127.0.0.1:N``, the
    base the SDK appends ``/v1/messages`` to."""

    def __init__(self, model: LoopbackModel | None = None) -> None:
        self.model = model or LoopbackModel()
        super().__init__(self.model.handle)

    @property
    def base_url(self) -> str:
        return self.origin
