"""A model on a loopback OpenAI-compatible server, for end-to-end runs over the real wire.

:class:`ModelServer` speaks ``POST /v1/chat/completions`` on 127.0.0.1 the way vLLM, Ollama
or llama.cpp do (JSON bodies, native tool calls, ``usage``). :class:`LoopbackModel` answers
each request from what it was sent, never from a queue: the system prompt tells which role is
asking, the ``response_format`` schema what shape it wants, the tools offered and the
conversation so far where a tool loop stands. It plays the small, plausible factory of
tests/e2e/scripted_factory.py: the critic scores well, the planner draws two tasks (``shout``
depends on ``core``), one reviewer patches the plan in round one, the twin accepts with a
confidence low enough to be asked again (and then answers ``accept``), each engineer writes its
test, sees it fail, writes its code (the second task's first draft has a bug its test catches,
fixed with ``edit_file``) and finishes once the suite passes, the task reviewer and QC approve
what the diff shows, the verifier probes the merged result and breaks nothing, the judge passes
every checklist item. Two first replies are invalid, as local models' often are, so the roles'
re-asks go over the wire too: the verifier's report (after its tool loop) and the judge's
checklist (one item short).

With ``native=False`` it plays a server whose model has no tool support and no structured
output (as Ollama answers for such a model, or a llama.cpp build without grammars): a request
offering ``tools`` or a ``response_format`` gets an HTTP 400 saying so, and the model then acts
through the text format the provider teaches in the system prompt — SEARCH/REPLACE blocks and
fenced JSON actions — and reads the tool results back from user messages.

It also checks each request as a strict server would (message roles, tool-call ids answered
in order, tool and response-format shapes) and records what it could not accept in
:attr:`LoopbackModel.problems`, answering such a request with an HTTP 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from scripted_factory import (
    FILES,
    PROBE,
    REFUSALS,
    REPAIR,
    ROLES,
    VERIFIER_REPORT,
    Answer,
    Ledger,
    Refusal,
    WireServer,
    check_tools,
    engineer_turn,
    structured_reply,
    verifier_turn,
)
from scripted_factory import role_of as role_of_system

__all__ = ["FILES", "MODEL", "PROBE", "ROLES", "LoopbackModel", "ModelServer"]

MODEL = "loopback-coder"


@dataclass
class Seen:
    """One request the server received, and which role sent it."""

    role: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def repair(self) -> bool:
        """A re-ask after an invalid reply."""
        return last_user_text(self.body["messages"]).startswith(REPAIR)


@dataclass
class LoopbackModel(Ledger):
    """Answers chat-completions requests from their content; records what it saw."""

    native: bool = True
    """Native tool calls and response_format; False: refuse both, act through text."""
    refused: list[str] = field(default_factory=list)
    """The features refused (``tools``, ``response_format``), one entry per refusal."""
    overflow_style: str = "vllm"
    """How a request over :attr:`context_tokens` is refused: ``vllm`` (400, its message),
    ``openai`` (400, ``context_length_exceeded``), ``llama.cpp`` (its
    ``exceed_context_size_error`` with the counts, under HTTP 500 as its builds of 2025 sent
    it: a status that reads as a server fault), ``llama.cpp-counts-unsaid`` (a 400 that
    gives neither the window nor the prompt's size) or ``ollama``: no refusal at all — it
    keeps the end of the prompt, ``context_tokens / 2 + 2`` tokens of it as Ollama has since
    0.32 (ollama#17427), and bills that (this server still answers from the whole request)."""

    # -- the wire ---------------------------------------------------------------------------

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body answering one POST."""
        try:
            if path.rstrip("/") != "/v1/chat/completions":
                raise Refusal(f"no route {path}")
            body = json.loads(raw)
            if not isinstance(body, dict):
                raise Refusal("the body is not a JSON object")
            check_request(body)
            counts_answer = self.overflow_style in ("vllm", "openai")
            answer = body["max_tokens"] if counts_answer else 0
            prompt = self.over_context(raw, answer)  # llama.cpp counts the prompt alone
            if prompt is not None and self.overflow_style != "ollama":
                return too_long(self.overflow_style, prompt, answer, self.context_tokens)
            if not self.native:
                for feature in ("tools", "response_format"):
                    if feature in body:
                        with self._lock:
                            self.refused.append(feature)
                        message = f"{MODEL} does not support {feature}"
                        return 400, {"error": {"message": message, "type": "api_error"}}
                if any(m["role"] == "tool" or m.get("tool_calls") for m in body["messages"]):
                    # A chat template without tool support cannot render these turns.
                    raise Refusal(f"{MODEL} does not support tools: tool calls in the history")
            role = role_of(body)
            with self._lock:
                self.seen.append(Seen(role, body, headers))
            number = self.number()
            message = self.answer(role, body)
        except REFUSALS as exc:
            return 400, {"error": {"message": self.refuse(exc), "type": "invalid_request_error"}}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        prompt_tokens = len(raw) // 4
        window = self.context_tokens
        if self.overflow_style == "ollama" and window is not None and prompt_tokens > window:
            prompt_tokens = window // 2 + 2  # what it kept of it
        completion_tokens = max(1, len(json.dumps(message)) // 4)
        return 200, {
            "id": f"chatcmpl-{number}",
            "object": "chat.completion",
            "created": 1_700_000_000 + number,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    # -- the roles --------------------------------------------------------------------------

    def answer(self, role: str, body: dict[str, Any]) -> dict[str, Any]:
        """The assistant message ``role`` gets for ``body``."""
        messages: list[dict[str, Any]] = body["messages"]
        prompt = first_user_text(messages)
        repair = last_user_text(messages).startswith(REPAIR)
        if role == "verifier" and repair:  # its report, asked again after a bad first one
            return text_message(json.dumps(VERIFIER_REPORT))
        if role in ("engineer", "verifier"):
            check_tools(role, offered_tools(body))
            act = Actions(self.native, turn=sum(1 for m in messages if m["role"] == "assistant"))
            results = last_tool_results(messages)
            if role == "engineer":
                return engineer_turn(act, results, prompt)
            return verifier_turn(act, results)
        schema = response_schema(body) if self.native else schema_in_system(body)
        if schema is None:
            raise Refusal(f"the {role} asked for no JSON schema")
        reply = structured_reply(role, prompt, schema)
        if role == "critic":  # local models like to fence their JSON; the roles must take it
            return text_message("```json\n" + json.dumps(reply, indent=2) + "\n```")
        if role == "judge" and not repair:  # a first verdict that skips an item: asked again
            reply["checklist"] = dict(list(reply["checklist"].items())[:-1])
        return text_message(json.dumps(reply))


def too_long(style: str, prompt: int, answer: int, window: int) -> tuple[int, dict[str, Any]]:
    """A request over the context window, refused as ``style``'s server words it."""
    if style == "llama.cpp-counts-unsaid":  # its builds before the error gave them
        message = "the request exceeds the available context size, try increasing it"
        return 400, {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}
    if style == "llama.cpp":
        message = (
            "the request exceeds the available context size. try increasing the context size "
            "or enable context shift"
        )
        error = {"code": 500, "message": message, "type": "exceed_context_size_error"}
        return 500, {"error": {**error, "n_prompt_tokens": prompt, "n_ctx": window}}
    if style == "openai":
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {prompt} tokens. Please reduce the length of the messages."
        )
        error = {"type": "invalid_request_error", "param": "messages"}
        return 400, {"error": {"message": message, **error, "code": "context_length_exceeded"}}
    message = (
        f"This model's maximum context length is {window} tokens. However, you requested "
        f"{prompt + answer} tokens ({prompt} in the messages, {answer} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    return 400, {"error": {"message": message, "type": "BadRequestError", "code": 400}}


def text_message(content: str) -> dict[str, Any]:
    return {"role": "assistant", "content": content}


@dataclass(frozen=True)
class Actions:
    """One tool-loop turn's reply: native tool calls, or the text format's actions."""

    native: bool
    turn: int

    def reply(self, text: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        if self.native:
            return {
                "role": "assistant",
                "content": text,
                "tool_calls": [
                    {
                        "id": f"call_{self.turn}_{index}",
                        "type": "function",
                        "function": {"name": name, "arguments": json.dumps(args)},
                    }
                    for index, (name, args) in enumerate(calls)
                ],
            }
        blocks = [text]
        for name, args in calls:
            if name == "write_file":  # an edit model's habit: a file as a SEARCH/REPLACE block
                blocks.append(
                    f"{args['path']}\n<<<<<<< SEARCH\n=======\n{args['content']}>>>>>>> REPLACE"
                )
            elif name == "edit_file":
                blocks.append(
                    f"{args['path']}\n```python\n<<<<<<< SEARCH\n{args['search']}\n=======\n"
                    f"{args['replace']}\n>>>>>>> REPLACE\n```"
                )
            else:
                action = json.dumps({"tool": name, "arguments": args})
                blocks.append(f"```json\n{action}\n```")
        return text_message("\n\n".join(blocks))

    def say(self, text: str) -> dict[str, Any]:
        return text_message(text)


# -- reading a request ----------------------------------------------------------------------


def system_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m["content"]) for m in messages if m["role"] == "system")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m["role"] == "user"]
    return str(users[-1]["content"]) if users else ""


def first_user_text(messages: list[dict[str, Any]]) -> str:
    for message in messages:
        if message["role"] == "user":
            return str(message["content"])
    raise Refusal("no user message")


_TEXT_RESULT = re.compile(r"^\[(\w+) (?:result|failed)\]\n", re.MULTILINE)


def last_tool_results(messages: list[dict[str, Any]]) -> list[str]:
    """The results of the last turn's tool calls: ``tool`` messages after the last assistant
    turn, or (text format) the ``[NAME result]`` sections of the user message after it."""
    out: list[str] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        out.append(str(message["content"]))
    if out or len(messages) < 2 or messages[-2]["role"] != "assistant":
        return out[::-1]
    text = str(messages[-1]["content"])
    starts = [m.start() for m in _TEXT_RESULT.finditer(text)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def offered_tools(body: dict[str, Any]) -> set[str]:
    """The tools a request offers: native ``tools``, or those the text format describes."""
    if body.get("tools"):
        return {str(t["function"]["name"]) for t in body["tools"]}
    return set(re.findall(r"^- (\w+): ", system_text(body["messages"]), re.MULTILINE))


def schema_in_system(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema the provider wrote into the system prompt, when there is one."""
    system = system_text(body["messages"])
    marker = "When you answer, reply with JSON matching: "
    if marker not in system:
        return None
    schema, _ = json.JSONDecoder().raw_decode(system.split(marker, 1)[1])
    return schema if isinstance(schema, dict) else None


def response_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    form = body.get("response_format")
    if form is None:
        return None
    if form.get("type") != "json_schema" or not isinstance(form.get("json_schema"), dict):
        raise Refusal(f"unsupported response_format {form!r}")
    spec = form["json_schema"]
    if not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
        raise Refusal("response_format.json_schema needs a name and a schema")
    schema: dict[str, Any] = spec["schema"]
    return schema


def role_of(body: dict[str, Any]) -> str:
    """The role asking, from the start of its system prompt."""
    return role_of_system(system_text(body["messages"]))


def check_request(body: dict[str, Any]) -> None:
    """What a strict chat-completions server refuses (roughly as OpenAI's API does)."""
    if body.get("model") != MODEL:
        raise Refusal(f"unknown model {body.get('model')!r}")
    if body.get("stream"):
        raise Refusal("no role streams; this server does not either")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise Refusal(f"bad max_tokens {body.get('max_tokens')!r}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refusal("messages must be a non-empty list")
    for tool in body.get("tools") or []:
        function = tool.get("function") or {}
        if tool.get("type") != "function" or not re.fullmatch(
            r"[A-Za-z0-9_-]{1,64}", str(function.get("name", ""))
        ):
            raise Refusal(f"bad tool {tool!r}")
        if function.get("parameters", {}).get("type") != "object":
            raise Refusal(f"tool {function.get('name')} parameters must be an object schema")
    pending: list[str] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in ("system", "user", "assistant", "tool"):
            raise Refusal(f"messages[{index}]: unknown role {role!r}")
        if role == "system" and index != 0:
            raise Refusal(f"messages[{index}]: a system message after the first")
        if role == "tool":
            call_id = message.get("tool_call_id")
            if call_id not in pending:
                raise Refusal(f"messages[{index}]: tool_call_id {call_id!r} answers no call")
            pending.remove(call_id)
            if not isinstance(message.get("content"), str):
                raise Refusal(f"messages[{index}]: tool content must be text")
            continue
        if pending:
            raise Refusal(f"messages[{index}]: tool calls {pending} were never answered")
        content = message.get("content")
        calls = message.get("tool_calls") or []
        if role == "assistant":
            if content is None and not calls:
                raise Refusal(f"messages[{index}]: an empty assistant message")
            for call in calls:
                json.loads(call["function"]["arguments"])  # must be a JSON string
                pending.append(call["id"])
        elif not isinstance(content, str) or not content:
            raise Refusal(f"messages[{index}]: {role} content must be non-empty text")
    if pending:
        raise Refusal(f"tool calls {pending} were never answered")
    if messages[-1]["role"] == "assistant":
        raise Refusal("the conversation ends with the assistant's own turn")


# -- the server -----------------------------------------------------------------------------


class ModelServer(WireServer):
    """``with ModelServer() as server:`` — ``server.base_url`` is ``http://127.0.0.1:N/v1``."""

    def __init__(self, model: LoopbackModel | None = None) -> None:
        self.model = model or LoopbackModel()
        super().__init__(self._respond)

    def _respond(self, path: str, headers: dict[str, str], raw: bytes) -> Answer:
        return Answer.json(*self.model.handle(path, headers, raw))

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"
