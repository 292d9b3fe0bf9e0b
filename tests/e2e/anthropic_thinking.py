"""How the loopback Messages API plays a model that thinks and refuses forced tool use.

Claude Sonnet 5.5, as its "What's new" page and migration guide describe it: adaptive thinking
on by default, so every reply starts with a ``thinking`` block (display ``omitted`` by
default; the loopback writes the turn's progress note in it, as ``summarized`` would, so a
test can tell that no thinking text became an answer); the text a model writes between tool
calls comes back in that block, not as ``text``; ``tool_choice`` ``tool`` or ``any`` is a 400;
a structured answer is asked for with ``output_config.format`` (structured outputs, whose
schema must be strict: ``additionalProperties: false`` on every object).

Thinking blocks are checked as "Preserved thinking" says the API checks them: a block is
valid only with the signature the server gave it, after the prefix (system, tools, every
message before it) it was written after. A tool loop's next request must carry the previous
turns' blocks back unchanged while their prefix is unchanged, and must not carry a block
whose prefix changed (accounts created since 2026-08-31 get a 400 for it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from scripted_factory import Refusal

THINKING_MODELS = frozenset({"claude-sonnet-5-5"})
"""Models the loopback plays as thinking by default and refusing forced tool use."""
THOUGHT = "(thinking) "
"""How the loopback's thinking text starts: never to be seen as an agent's answer."""
FORCED = "tool_choice: forced tool use is not supported by this model; use auto or none"


def prefix_digest(body: dict[str, Any], before: int) -> str:
    """The digest of the prompt before message ``before``: system, tools, messages."""

    def bare(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: bare(v) for k, v in item.items() if k != "cache_control"}
        if isinstance(item, list):
            return [bare(v) for v in item]
        return item

    system = body.get("system") or []
    if isinstance(system, str):
        system = [{"type": "text", "text": system}]
    messages = [
        {"role": m["role"], "content": bare(m["content"])} for m in body["messages"][:before]
    ]
    whole = {"system": bare(system), "tools": bare(body.get("tools") or []), "messages": messages}
    return hashlib.sha256(json.dumps(whole, sort_keys=True).encode()).hexdigest()


def check_strict_schema(schema: object, where: str) -> None:
    """Structured outputs take a strict schema: every object closed to other properties."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            raise Refusal(f"{where}: For 'object' type, 'additionalProperties' must be false")
        for key, value in schema.items():
            check_strict_schema(value, f"{where}.{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            check_strict_schema(value, f"{where}.{index}")


def check_output_config(body: dict[str, Any]) -> dict[str, Any] | None:
    """The schema asked for in ``output_config.format``, if any; a bad one refused."""
    config = body.get("output_config")
    if config is None:
        return None
    if not isinstance(config, dict) or set(config) - {"format", "effort"}:
        raise Refusal(f"output_config: Extra inputs are not permitted: {config!r}")
    form = config.get("format")
    if form is None:
        return None
    if (
        not isinstance(form, dict)
        or form.get("type") != "json_schema"
        or set(form)
        != {
            "type",
            "schema",
        }
    ):
        raise Refusal(f"output_config.format: bad value {form!r}")
    check_strict_schema(form["schema"], "output_config.format.schema")
    schema: dict[str, Any] = form["schema"]
    return schema


@dataclass
class Thoughts:
    """The thinking blocks the server gave, by the first tool call of their reply."""

    model: str
    _given: dict[str, tuple[str, list[dict[str, Any]]]] = field(default_factory=dict)
    _signatures: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def block(self, body: dict[str, Any], note: str) -> dict[str, Any]:
        """A thinking block for a reply to ``body``, signed for this model and prefix."""
        prefix = prefix_digest(body, len(body["messages"]))
        signature = hashlib.sha256(f"{self.model}|{prefix}|{note}".encode()).hexdigest()
        with self._lock:
            self._signatures.add(signature)
        return {"type": "thinking", "thinking": THOUGHT + note, "signature": signature}

    def given(self, body: dict[str, Any], content: list[dict[str, Any]]) -> None:
        """Note a reply's thinking blocks, if it called tools."""
        calls = [b["id"] for b in content if b["type"] == "tool_use"]
        thinking = [b for b in content if b["type"] == "thinking"]
        if calls and thinking:
            with self._lock:
                self._given[calls[0]] = (prefix_digest(body, len(body["messages"])), thinking)

    def check(self, body: dict[str, Any]) -> None:
        """Refuse a request that drops, alters or misplaces a previous turn's thinking."""
        for index, message in enumerate(body["messages"]):
            blocks = message["content"] if isinstance(message["content"], list) else []
            carried = [b for b in blocks if b.get("type") in ("thinking", "redacted_thinking")]
            where = f"messages.{index}.content"
            for block in carried:
                if block.get("signature") not in self._signatures:
                    raise Refusal(f"{where}: Invalid `signature` in `thinking` block")
            calls = [b["id"] for b in blocks if b.get("type") == "tool_use"]
            with self._lock:
                given = self._given.get(calls[0]) if calls else None
            if given is None:
                continue
            prefix, thinking = given
            unchanged = prefix_digest(body, index) == prefix
            if unchanged and [{k: b[k] for k in b if k != "cache_control"} for b in carried] != (
                thinking
            ):
                raise Refusal(
                    f"{where}: the thinking blocks of a tool-calling turn must be passed back "
                    "unchanged"
                )
            if not unchanged and carried:
                raise Refusal(
                    f"{where}: thinking block's prefix changed since it was written "
                    "(prefix_mismatch_behavior: error)"
                )
