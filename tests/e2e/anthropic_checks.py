"""What the loopback Anthropic Messages API refuses, as the API does: the request's headers,
body fields, system blocks, tools and ``tool_choice``, and each content block
(tests/e2e/anthropic_model.py answers with HTTP 400 what these raise)."""

from __future__ import annotations

import re
from typing import Any

from scripted_factory import Refusal

_BODY_KEYS = {
    "model",
    "max_tokens",
    "messages",
    "system",
    "tools",
    "tool_choice",
    "stream",
    "metadata",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "output_config",
    "thinking",
}
_BLOCK_KEYS = {
    "text": {"type", "text", "cache_control", "citations"},
    "tool_use": {"type", "id", "name", "input", "cache_control"},
    "tool_result": {"type", "tool_use_id", "content", "is_error", "cache_control"},
    "thinking": {"type", "thinking", "signature", "cache_control"},
    "redacted_thinking": {"type", "data", "cache_control"},
}
_ROLE_BLOCKS = {
    "user": ("text", "tool_result"),
    "assistant": ("text", "tool_use", "thinking", "redacted_thinking"),
}
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]+")


def blocks_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return list(content)


# -- what the API refuses -------------------------------------------------------------------


def check_headers(headers: dict[str, str]) -> None:
    """A key (``x-api-key``, or ``Authorization: Bearer`` as the SDK now sends it) and a
    dated ``anthropic-version``."""
    bearer = headers.get("authorization", "").removeprefix("Bearer ")
    if not headers.get("x-api-key") and not bearer:
        raise Refusal("x-api-key header is required")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", headers.get("anthropic-version", "")):
        raise Refusal(f"anthropic-version: bad value {headers.get('anthropic-version')!r}")
    if not headers.get("content-type", "").startswith("application/json"):
        raise Refusal(f"content-type {headers.get('content-type')!r}")


def check_request(body: dict[str, Any], model: str) -> None:
    """What the Messages API refuses with ``invalid_request_error``."""
    unknown = sorted(set(body) - _BODY_KEYS)
    if unknown:
        raise Refusal(f"{unknown[0]}: Extra inputs are not permitted")
    if body.get("model") != model:
        raise Refusal(f"model: unknown model {body.get('model')!r}")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise Refusal(f"max_tokens: bad value {body.get('max_tokens')!r}")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise Refusal("stream: must be a boolean")
    markers = check_system(body.get("system", []))
    names = check_tools_param(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Refusal("messages: at least one message is required")
    if messages[0].get("role") != "user":
        raise Refusal("messages: first message must use the 'user' role")
    if messages[-1].get("role") != "user":
        raise Refusal("messages: this model does not support assistant message prefill here")
    calls: list[str] = []  # the previous assistant turn's tool_use ids, to be answered
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in _ROLE_BLOCKS or set(message) != {"role", "content"}:
            raise Refusal(f"messages.{index}: bad message {sorted(message)} role {role!r}")
        blocks = blocks_of(message)
        if not blocks:
            raise Refusal(f"messages.{index}: all messages must have non-empty content")
        results: list[str] = []
        for number, block in enumerate(blocks):
            where = f"messages.{index}.content.{number}"
            markers += check_block(block, role, where)
            if block["type"] == "tool_result":
                if any(b["type"] != "tool_result" for b in blocks[:number]):
                    raise Refusal(f"{where}: tool_result blocks must come first in the message")
                results.append(str(block["tool_use_id"]))
        if results or calls:
            if role != "user" or sorted(results) != sorted(calls):
                raise Refusal(
                    f"messages.{index}: tool_use ids {calls} must be answered by tool_result "
                    f"blocks immediately after, got {results}"
                )
        calls = [str(b["id"]) for b in blocks if b["type"] == "tool_use"]
        if (calls or results) and not names:
            raise Refusal("Requests which include tool_use or tool_result blocks must define tools")
    if markers > 4:
        raise Refusal(f"A maximum of 4 blocks with cache_control may be provided. Found {markers}")


def check_system(system: object) -> int:
    """Refuse a bad ``system``; the number of cache breakpoints in it."""
    if isinstance(system, str):
        return 0
    if not isinstance(system, list):
        raise Refusal("system: must be a string or a list of text blocks")
    markers = 0
    for index, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text":
            raise Refusal(f"system.{index}: must be a text block")
        markers += check_block(block, "system", f"system.{index}")
    return markers


def check_tools_param(body: dict[str, Any]) -> list[str]:
    """Refuse bad ``tools`` / ``tool_choice``; the tools' names."""
    names: list[str] = []
    for index, tool in enumerate(body.get("tools") or []):
        if set(tool) - {"name", "description", "input_schema", "cache_control"}:
            raise Refusal(f"tools.{index}: Extra inputs are not permitted")
        name = str(tool.get("name", ""))
        if not _TOOL_NAME.fullmatch(name) or name in names:
            raise Refusal(f"tools.{index}.name: bad or repeated tool name {name!r}")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Refusal(f"tools.{index}.input_schema: type must be 'object'")
        names.append(name)
    choice = body.get("tool_choice")
    if choice is not None:
        kind = choice.get("type")
        if kind not in ("auto", "any", "tool", "none") or (kind != "none" and not names):
            raise Refusal(f"tool_choice: {choice!r} with tools {names}")
        if kind == "tool" and choice.get("name") not in names:
            raise Refusal(f"tool_choice: tool {choice.get('name')!r} is not among the tools")
    return names


def check_block(block: dict[str, Any], role: str, where: str) -> int:
    """Refuse a bad content block; 1 if it carries a cache breakpoint, else 0."""
    kind = block.get("type")
    allowed = _ROLE_BLOCKS.get(role, ("text",))
    if kind not in allowed:
        raise Refusal(f"{where}: a {kind!r} block is not allowed in a {role} turn")
    extra = set(block) - _BLOCK_KEYS[str(kind)]
    if extra:
        raise Refusal(f"{where}.{sorted(extra)[0]}: Extra inputs are not permitted")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str) or not text:
            raise Refusal(f"{role}: text content blocks must be non-empty")
        if not text.strip():
            raise Refusal(f"{role}: text content blocks must contain non-whitespace text")
    elif kind == "thinking":
        if not isinstance(block.get("thinking"), str) or not block.get("signature"):
            raise Refusal(f"{where}: a thinking block needs its thinking and its signature")
    elif kind == "redacted_thinking":
        if not isinstance(block.get("data"), str):
            raise Refusal(f"{where}: a redacted_thinking block needs its data")
    elif kind == "tool_use":
        if not _TOOL_ID.fullmatch(str(block.get("id", ""))) or not isinstance(
            block.get("input"), dict
        ):
            raise Refusal(f"{where}: a tool_use needs an id and an object input")
    else:
        content = block.get("content")
        if not isinstance(content, str | list) or not isinstance(
            block.get("is_error", False), bool
        ):
            raise Refusal(f"{where}: bad tool_result content or is_error")
    marker = block.get("cache_control")
    if marker is not None and (not isinstance(marker, dict) or marker.get("type") != "ephemeral"):
        raise Refusal(f"{where}.cache_control: {marker!r}")
    return int(marker is not None)
