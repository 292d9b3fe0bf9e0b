"""Asking a model for a reply of a known shape: one helper every structured role uses.

A role names a pydantic model; :func:`ask_structured` sends the prompt with the model's JSON
schema as the request's ``response_schema``, pulls the JSON object out of the reply (a
thinking model's ``<think>`` block, code fences, prose, comments and trailing commas are
tolerated: they cannot change what the object says), validates it, runs the role's own
extra check, and on a failure re-asks — quoting the validation error, and no more than a
screenful of the bad reply — a bounded number of times. After that it raises
:class:`StructuredReplyError` with one line, having reported every bad reply as an
``AgentOutput`` error event. A malformed model reply never reaches the engine.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agents.compaction import message_chars, tokens_of
from agents.prompt_fit import message_room
from agents.provider import Completion, CompletionRequest, Message
from agents.providers.context_overflow import ContextOverflow
from agents.roles.common import AgentSession

M = TypeVar("M", bound=BaseModel)

_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class StructuredReplyError(ValueError):
    """The model gave no valid reply after every repair re-ask. The message is one line."""

    def __init__(self, message: str, *, last_error: str, tries: int) -> None:
        super().__init__(message)
        self.last_error = last_error
        self.tries = tries


_THINKING_TAGS = ("think", "thinking", "reasoning")
_ECHO_LIMIT = 16_000
"""How much of a bad reply the repair re-ask quotes back (a 1 MB one would not fit)."""


def strip_thinking(text: str) -> str:
    """A reply without the reasoning a thinking model writes before its answer
    (``<think>...</think>``, as qwen and deepseek do when the server leaves it in the text).

    Everything up to the last closing tag is thinking (some chat templates open the block in
    the prompt, so the reply has only ``</think>``); an opening tag left unclosed means the
    reply was cut while thinking, and nothing from it on is an answer."""
    lower = text.lower()
    for tag in _THINKING_TAGS:
        close = lower.rfind(f"</{tag}>")
        if close != -1:
            text, lower = text[close + len(tag) + 3 :], lower[close + len(tag) + 3 :]
    for tag in _THINKING_TAGS:
        opened = lower.find(f"<{tag}>")
        if opened != -1:
            text, lower = text[:opened], lower[:opened]
    return text


def _candidates(text: str) -> list[str]:
    """Where the JSON object may be: each fenced block, then the whole text."""
    return [m.group(1) for m in _FENCE.finditer(text)] + [text]


def extract_json(text: str) -> str:
    """The JSON object in a model's reply, tolerating thinking, code fences and prose (even
    prose with braces in it) around it: the first object that decodes, else the text from the
    first ``{`` to the last ``}`` (whose error then says what is wrong)."""
    text = strip_thinking(text)
    decoder = json.JSONDecoder()
    for candidate in _candidates(text):
        start = candidate.find("{")
        if start == -1:
            continue
        try:
            _, end = decoder.raw_decode(candidate, start)
        except ValueError:
            continue
        return candidate[start:end]
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if start != -1 and end > start else text


def _relaxed(text: str) -> str:
    """``text`` without what JSON forbids but means nothing: ``//`` and ``/* */`` comments
    and a comma before a closing bracket, strings left as they are."""
    out: list[str] = []
    i, n, in_string = 0, len(text), False
    while i < n:
        c = text[i]
        if in_string:
            out.append(text[i : i + 2] if c == "\\" else c)
            i += 2 if c == "\\" else 1
            in_string = c != '"'
            continue
        if text.startswith("//", i):
            stop = text.find("\n", i)
            i = n if stop == -1 else stop
            continue
        if text.startswith("/*", i):
            stop = text.find("*/", i + 2)
            i = n if stop == -1 else stop + 2
            continue
        if c == ",":
            after = i + 1
            while after < n and text[after].isspace():
                after += 1
            if after < n and text[after] in "}]":
                i += 1
                continue
        in_string = c == '"'
        out.append(c)
        i += 1
    return "".join(out)


def parse_reply(text: str) -> Any:
    """The JSON object a model's reply holds, or ``ValueError`` saying on one line what is
    wrong with it. What is unambiguous is tolerated: thinking, fences and prose around the
    object, comments, trailing commas. Single quotes are not: ``'greet('')'`` has no one
    meaning, so the model is told what JSON wants."""
    answer = strip_thinking(text)
    if not answer.strip():
        if answer != text:
            raise ValueError("the reply has only thinking (<think>...</think>) and no JSON object")
        raise ValueError("the reply is empty; it must be a JSON object")
    body = extract_json(answer)
    if "{" not in body:
        try:  # JSON, but not an object: the validation error says what was expected
            return json.loads(body)
        except ValueError:
            raise ValueError("the reply has no JSON object") from None
    try:
        return json.loads(body)
    except ValueError as exc:
        strict = exc
    try:
        return json.loads(_relaxed(body))
    except ValueError:
        raise strict from None


def error_line(exc: Exception) -> str:
    """A validation or parse error on one line: where, what, and how many errors."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reply"
        return f"{where}: {first['msg']} ({exc.error_count()} error(s))"
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


@dataclass(frozen=True)
class StructuredAsk:
    """One structured question: the prompt, and how the role names what it wants."""

    system: str
    prompt: str
    labels: dict[str, str]
    noun: str = "reply"
    """What the reply is, in the repair message and the errors ("blueprint", "review")."""
    schema: dict[str, Any] | None = None
    """The response schema sent; the model's own JSON schema when None."""
    history: Sequence[Message] = field(default_factory=tuple)
    """Earlier turns of the conversation (a tool loop's), sent before ``prompt``."""
    max_tokens: int = 4096
    fit: Callable[[int | None], str] | None = None
    """The prompt for a budget of estimated tokens (None: no limit), used instead of
    ``prompt``: built for the model's window known before the first request
    (:func:`agents.prompt_fit.message_room`), and once more for the window a refusal taught."""


OUTPUT_GROWTH = 4
"""How far a structured question's output limit grows when replies are cut at it: doubled
after each cut, up to this many times the ask's own. A thinking model (a local Qwen3 or
R1, Claude or Gemini thinking by default) can spend the whole limit thinking, and asked
again with the same limit it does the same."""


async def ask_structured(
    session: AgentSession,
    model: type[M],
    ask: StructuredAsk,
    *,
    max_repairs: int = 2,
    check: Callable[[M], object] | None = None,
    reply: str | None = None,
) -> M:
    """Ask until the reply validates as ``model`` (and passes ``check``), or give up.

    ``reply`` is a reply already received (the last turn of a tool loop); it is validated
    first, and asked again only if it is not valid.

    ``check`` may raise ``ValueError`` (or a subclass) to refuse a reply that is well formed
    but wrong for the role — a blueprint with a cycle, a choice not among the options; its
    message is quoted to the model like a validation error.
    """
    schema = ask.schema if ask.schema is not None else model.model_json_schema()
    shape = CompletionRequest(ask.system, (), (), schema, ask.max_tokens, dict(ask.labels))
    messages: list[Message] = [*ask.history]
    at = len(messages)  # where the prompt is; a fitted one is built for each call
    if ask.prompt or ask.fit is not None:
        messages.append(Message("user", ask.prompt))
    tries = 1 + max(0, max_repairs)
    last_error = ""
    cut = False
    limit = shape.max_tokens

    async def fitted(room: int | None) -> tuple[Message, ...]:
        """``messages`` with the prompt built for ``room``, less what the repair turns
        after it take (the prompt is the one message compaction cannot shorten). Built in a
        thread: cutting a test run's megabytes of output to it takes a while."""
        assert ask.fit is not None
        later = tokens_of(sum(message_chars(m) for m in messages[at + 1 :]))
        prompt = await asyncio.to_thread(ask.fit, None if room is None else max(0, room - later))
        return (*messages[:at], Message("user", prompt), *messages[at + 1 :])

    async def call() -> Completion:
        """The model's answer to ``messages``, the prompt fitted to the window known; refused
        as over the window, asked once more with it fitted to the window the refusal taught."""
        if ask.fit is None:
            return await session.complete(replace(shape, messages=tuple(messages)))
        room = message_room(session.provider, shape)
        sent = await fitted(room)
        try:
            return await session.complete(replace(shape, messages=sent))
        except ContextOverflow:
            learnt = message_room(session.provider, shape)
            if learnt is None or (room is not None and learnt >= room):
                raise
        again = await fitted(learnt)
        session.say(
            f"the prompt (about {tokens_of(len(sent[at].content))} tokens) is over the "
            f"model's context window: asking again with it cut to about "
            f"{tokens_of(len(again[at].content))} tokens",
            kind="notice",
        )
        return await session.complete(replace(shape, messages=again))

    for number in range(tries):
        if number == 0 and reply is not None:
            text = reply
        else:
            completion: Completion = await call()
            text = completion.text
            cut = completion.stop_reason == "max_tokens"
            limit = shape.max_tokens
            if cut:  # asked again with room to finish, where there is more to give
                shape = replace(shape, max_tokens=min(limit * 2, ask.max_tokens * OUTPUT_GROWTH))
            if cut and not strip_thinking(text).strip():  # the limit spent on thoughts
                last_error = f"empty: cut at the output limit ({limit} tokens)"
                session.say(f"invalid {ask.noun}: {last_error}", kind="error")
                continue  # the same question again: no empty turn in the history
        try:
            value = model.model_validate(parse_reply(text))
            if check is not None:
                check(value)
        except (ValueError, ValidationError) as exc:
            last_error = error_line(exc)
            if cut:  # the cause, not the broken JSON it left
                last_error = f"cut at the output limit ({limit} tokens): {last_error}"
            session.say(f"invalid {ask.noun}: {last_error}", kind="error")
            messages += [
                Message("assistant", bounded(text, _ECHO_LIMIT, "reply")),
                Message(
                    "user",
                    f"That reply is not a valid {ask.noun}: {last_error}\n"
                    "Reply again with only the corrected JSON object.",
                ),
            ]
            continue
        return value
    message = f"the {session.role} gave no valid {ask.noun} after {tries} tries: {last_error}"
    session.say(message, kind="error")
    raise StructuredReplyError(message, last_error=last_error, tries=tries)


def choice_schema(options: Sequence[str]) -> dict[str, Any]:
    """A response schema for picking one of ``options`` (the twin's escalation answers)."""
    return {
        "type": "object",
        "properties": {
            "choice": {"type": "string", "enum": list(options)},
            "reason": {"type": "string"},
        },
        "required": ["choice"],
    }


def checklist_schema(items: Sequence[str]) -> dict[str, Any]:
    """A response schema for a checklist whose keys are exactly ``items`` (the judge's)."""
    return {
        "type": "object",
        "properties": {
            "checklist": {
                "type": "object",
                "properties": {item: {"type": "boolean"} for item in items},
                "required": list(items),
            },
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "notes": {"type": "string"},
        },
        "required": ["checklist", "score"],
    }


def schema_options(schema: dict[str, Any] | None) -> list[str]:
    """The options of a :func:`choice_schema` (empty for any other schema)."""
    try:
        return [str(o) for o in (schema or {})["properties"]["choice"]["enum"]]
    except (KeyError, TypeError):
        return []


def schema_checklist(schema: dict[str, Any] | None) -> list[str]:
    """The items of a :func:`checklist_schema` (empty for any other schema)."""
    try:
        return [str(i) for i in (schema or {})["properties"]["checklist"]["required"]]
    except (KeyError, TypeError):
        return []


def out_of_100(
    score_of: Callable[[M], int], check: Callable[[M], object] | None = None
) -> Callable[[M], object]:
    """``check``, and a 0-100 score of 1 to 10 questioned once: a small model often scores
    out of 10 where 100 is asked, and its 9 would read as a failing 9/100. Repeated, the
    score stands: the model meant it."""
    questioned: set[int] = set()

    def checked(value: M) -> None:
        if check is not None:
            check(value)
        score = score_of(value)
        if 1 <= score <= 10 and score not in questioned:
            questioned.add(score)
            raise ValueError(
                f"score {score} is read out of 100; give the score out of 100 "
                f"({score * 10} for {score}/10), or {score} again if you meant {score}/100"
            )

    return checked


async def answer_once(
    session: AgentSession,
    model: type[M],
    ask: StructuredAsk,
    *,
    summarize: Callable[[M], str],
    max_repairs: int = 2,
    check: Callable[[M], object] | None = None,
) -> M:
    """A whole one-question agent: ask, report the answer's summary, finish the session.

    On failure — no valid reply, or the provider gave up — the session finishes not ok and
    the error propagates, so the agent is not shown running for the rest of the run.
    """
    try:
        value = await ask_structured(session, model, ask, max_repairs=max_repairs, check=check)
    except StructuredReplyError as exc:
        session.finish(False, str(exc))
        raise
    except Exception as exc:
        session.finish(False, error_line(exc))
        raise
    summary = summarize(value)
    session.say(summary, kind="result")
    session.finish(True, summary)
    return value


def bounded(text: str, limit: int, what: str = "text") -> str:
    """``text`` cut to ``limit`` characters, with a note saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... [{what} truncated: {len(text) - limit} more characters]"
