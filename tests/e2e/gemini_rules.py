"""What the loopback Gemini API (tests/e2e/gemini_model.py) holds each model to, by its id.

Gemini 3 differs from 2.5 where a client rebuilds the conversation itself:

* Thought signatures. Gemini 3 signs the first function call of each step; in the current turn
  (everything after the latest user content with text: function responses do not start one)
  the first call of every step must come back with its signature, or the request is refused
  with a 400 naming the call. Earlier turns are not checked. A signature is protobuf ``bytes``:
  the API reads standard or URL-safe base64 alike (the google-genai SDK sends back URL-safe
  what it was given in standard), so signatures are compared as bytes. Gemini 2.5 signs too,
  but checks nothing.
* Thinking. Gemini 3 takes ``thinkingLevel``, from the levels each model lists (3.8 Flash
  refuses MINIMAL); 2.5 refuses ``thinkingLevel`` and takes ``thinkingBudget``; both at once are
  a 400. Without a setting a model thinks at its default: MEDIUM for 3.8 Flash, MINIMAL for
  3.5 Flash-Lite, dynamic for 2.5 Pro.

Sources: ai.google.dev/gemini-api/docs/thought-signatures; the Gemini 3.8 Flash and 3.5
Flash-Lite pages of Google Cloud's model docs (supported thinking levels and defaults).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from scripted_factory import Refusal


@dataclass(frozen=True)
class ModelRules:
    """One model's rules: the thinking levels it takes (none: it refuses ``thinkingLevel``),
    the one it thinks at untold, and whether it refuses an unsigned call of the current turn."""

    levels: tuple[str, ...]
    default: str
    strict_signatures: bool
    thoughts: dict[str, int]
    """Thought tokens a reply costs at each level."""


MODELS = {
    "gemini-3.8-flash": ModelRules(
        ("LOW", "MEDIUM", "HIGH"), "MEDIUM", True, {"LOW": 6, "MEDIUM": 24, "HIGH": 96}
    ),
    "gemini-3.5-flash-lite": ModelRules(
        ("MINIMAL", "LOW", "MEDIUM", "HIGH"),
        "MINIMAL",
        True,
        {"MINIMAL": 0, "LOW": 5, "MEDIUM": 20, "HIGH": 80},
    ),
    "gemini-2.5-pro": ModelRules((), "DYNAMIC", False, {"DYNAMIC": 30, "BUDGET": 30}),
}
SKIP = base64.urlsafe_b64decode("skip_thought_signature_validator")
"""The signature Gemini documents for a function call it did not make; it skips the check."""


def camel(name: str) -> str:
    """A proto field's JSON name (the API takes ``thinking_level`` and ``thinkingLevel``)."""
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def signature_bytes(value: object, where: str) -> bytes:
    """A ``thoughtSignature`` as the API reads it: base64, standard or URL-safe."""
    if not isinstance(value, str):
        raise Refusal(f"Invalid value at '{where}.thought_signature' (TYPE_BYTES)")
    try:
        return base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        raise Refusal(
            f"Invalid value at '{where}.thought_signature' (TYPE_BYTES), Base64 decoding failed"
        ) from None


def signature(seed: str) -> tuple[str, bytes]:
    """A signature as Gemini sends one (standard base64 of opaque bytes, here with ``+`` and
    ``/`` in it, as real ones have), and its bytes."""
    raw = b"\xfb\xff\xbf" + hashlib.sha256(seed.encode()).digest()
    return base64.b64encode(raw).decode(), raw


def thinking_level(rules: ModelRules, config: dict[str, Any]) -> str:
    """The level a request runs at, refusing a thinking setting the model does not take."""
    thinking = config.get("thinkingConfig")
    if thinking is None:
        return rules.default
    if not isinstance(thinking, dict):
        raise Refusal("Invalid value at 'generation_config.thinking_config'")
    thinking = {camel(k): v for k, v in thinking.items()}
    names = {"includeThoughts", "thinkingBudget", "thinkingLevel"}
    unknown = [k for k in thinking if k not in names]
    if unknown:
        raise Refusal(
            f'Invalid JSON payload received. Unknown name "{unknown[0]}" at '
            "'generation_config.thinking_config'"
        )
    level, budget = thinking.get("thinkingLevel"), thinking.get("thinkingBudget")
    if level is not None and budget is not None:
        raise Refusal("thinking_budget and thinking_level are not supported together.")
    if level is not None:
        if not rules.levels:
            raise Refusal("Thinking level is not supported for this model.")
        if str(level).upper() not in rules.levels:
            raise Refusal(f"Thinking level {level} is not supported for this model.")
        return str(level).upper()
    if budget is not None:
        return "BUDGET" if not rules.levels else rules.default
    return rules.default


def current_turn(contents: list[dict[str, Any]]) -> int:
    """The index where the current turn starts: the latest user content with text."""
    for index in range(len(contents) - 1, -1, -1):
        content = contents[index]
        if content.get("role") == "user" and any("text" in p for p in content.get("parts", [])):
            return index
    return 0
