"""Secrets never leave the process through telemetry, logs or the console.

Agents echo what they see, gates print their environment on failure, and a provider error may
quote a request header: any text shopfloor exports could carry an API key. :class:`Redactor`
removes two kinds of secret from text before it is printed, written as a JSON line, used as a
metric label value or set as a span attribute:

- the values of environment variables whose names look secret (``*KEY*``, ``*TOKEN*``,
  ``*SECRET*``, ``*PASSWORD*``, ...), so a key is caught whatever its shape;
- well-known key shapes (``sk-ant-...``, ``sk-...``, ``AIza...``, ``ghp_...``, ``AKIA...``,
  Slack tokens), so a key that never was in this process's environment is caught too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from engine.events import EventBase, event_from_json, event_to_json
from engine.secrets import (
    MIN_SECRET_LENGTH,
    REDACTED,
    secret_env_values,
)

E = TypeVar("E", bound=EventBase)

KEY_SHAPES: tuple[re.Pattern[str], ...] = (
    re.compile(r"sk-ant-[A-Za-z0-9_\-]{8,}"),  # Anthropic
    re.compile(r"sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{16,}"),  # OpenAI and compatibles
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API keys (Gemini)
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{30,}"),  # GitHub fine-grained tokens
    re.compile(r"(?:AKIA|ASIA)[0-9A-Z]{16}"),  # AWS access key ids
    re.compile(r"xox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
)
"""Shapes of well-known API keys, redacted wherever they appear."""


class Redactor:
    """Replaces known secret values and key-shaped strings in text with ``[REDACTED]``."""

    def __init__(self, secrets: Iterable[str] = (), *, shapes: bool = True) -> None:
        """``secrets`` are literal values to remove; ``shapes`` also removes key shapes."""
        literal: set[str] = set()
        for value in secrets:
            value = value.strip()
            if len(value) < MIN_SECRET_LENGTH:
                continue
            literal.add(value)
            # The same value as it appears inside a JSON string (quotes, backslashes escaped).
            literal.add(json.dumps(value)[1:-1])
        self._literals = sorted(literal, key=len, reverse=True)
        alternatives = [re.escape(v) for v in self._literals]
        if shapes:
            alternatives += [p.pattern for p in KEY_SHAPES]
        self._pattern = re.compile("|".join(alternatives)) if alternatives else None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for the secrets in ``environ`` (default: this process's environment)."""
        return cls(secret_env_values(os.environ if environ is None else environ))

    @property
    def secret_count(self) -> int:
        """How many literal secret values (in their plain and JSON forms) are known."""
        return len(self._literals)

    def contains_secret(self, text: str) -> bool:
        """Whether ``text`` holds anything this redactor would remove."""
        return self._pattern is not None and self._pattern.search(text) is not None

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(REDACTED, text)

    def redact_value(self, value: Any) -> Any:
        """A decoded JSON value (dicts, lists, strings...) with every string redacted."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self.redact_value(item) for item in value]
        if isinstance(value, dict):
            return {self.redact(str(k)): self.redact_value(v) for k, v in value.items()}
        return value

    def redact_json(self, text: str) -> str:
        """A JSON document with secrets removed from its strings; it stays valid JSON.

        The document is decoded and its strings redacted one by one, so a secret next to an
        escape sequence cannot leave a broken escape behind.
        """
        if not self.contains_secret(text):
            return text
        cleaned = self.redact_value(json.loads(text))
        return json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"))

    def redact_event(self, event: E) -> E:
        """``event`` itself when it holds no secret, else a copy with every string redacted."""
        return self.redacted(event)[0]

    def redacted(self, event: E) -> tuple[E, str]:
        """:meth:`redact_event` and the redacted event's JSON, serialising it once."""
        raw = event_to_json(event)
        if not self.contains_secret(raw):
            return event, raw
        cleaned_json = self.redact_json(raw)
        cleaned: E = event_from_json(cleaned_json)  # type: ignore[assignment]
        return cleaned, cleaned_json


NO_REDACTION = Redactor((), shapes=False)
"""A redactor that changes nothing (for tests that need raw text)."""
