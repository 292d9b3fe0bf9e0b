"""Secrets never reach an event, nor leave the process through telemetry, logs or the console.

Agents echo what they see, gates print their environment on failure, and a provider error may
quote a request header: any text shopfloor records or exports could carry an API key.
:class:`Redactor` removes two kinds of secret from text before it enters an event (the bus
cleans every event's free text as it emits it: :mod:`engine.event_redaction`), is printed,
written as a JSON line, used as a metric label value or set as a span attribute:

- the values of environment variables whose names look secret (``*KEY*``, ``*TOKEN*``,
  ``*SECRET*``, ``*PASSWORD*``, ...), so a key is caught whatever its shape;
- well-known key shapes (``sk-ant-...``, ``sk-...``, ``AIza...``, ``ghp_...``, ``AKIA...``,
  Slack tokens), so a key that never was in this process's environment is caught too;
- credentials by where they stand, whatever their shape: the password of a URL
  (``https://user:PASSWORD@host``, as a proxy's or a local server's base URL in a model spec
  carries it), a query parameter named like a secret (``?api_key=VALUE``, by a whole part
  of its name: :func:`is_secret_parameter`), a bearer token
  (``Authorization: Bearer TOKEN``). The name stays, the value goes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from engine.secrets import (
    MIN_SECRET_LENGTH,
    REDACTED,
    secret_env_values,
)

KEY_SHAPES: tuple[re.Pattern[str], ...] = (
    # Each begins with a literal prefix, which ``re`` finds with a fast scan; an alternation
    # of them all, or an assertion in front, tried every shape at every character (a
    # 4,000-character gate output took a millisecond).
    re.compile(
        r"sk-(?:ant-[A-Za-z0-9_\-]{8,}"  # Anthropic
        r"|(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{16,}"  # OpenAI
        # OpenAI's older keys and compatible servers': random characters, so some digit
        # among them (``sk-`` and a hyphenated phrase, a branch name say, is no key).
        r"|(?=[A-Za-z0-9_\-]*[0-9])[A-Za-z0-9_\-]{16,})"
    ),
    re.compile(r"AIza[0-9A-Za-z_\-]{30,}"),  # Google API keys (Gemini)
    re.compile(r"gh[pousr]_[A-Za-z0-9]{30,}"),  # GitHub tokens
    re.compile(r"github_pat_[A-Za-z0-9_]{30,}"),  # GitHub fine-grained tokens
    re.compile(r"AKIA[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS access key ids
    re.compile(r"ASIA[0-9A-Z]{16}(?![A-Za-z0-9])"),  # AWS temporary access key ids
    re.compile(r"xox[abprs]-[A-Za-z0-9\-]{10,}"),  # Slack tokens
)
"""Shapes of well-known API keys, redacted wherever they start a word: ``task-dependency-
resolver`` holds ``sk-`` and sixteen characters more, but no key (matched inside words, the
console showed that task as ``ta[REDACTED]``)."""

_PREFIXES: tuple[str, ...] = ("sk-", "AIza", "gh", "github_pat_", "AKIA", "ASIA", "xox")
"""The literal each of :data:`KEY_SHAPES` starts with, in the same order: text without it
is not searched for that shape (an ``in`` test is a C scan; seven regex searches on each
line an agent prints were most of the redaction's cost per line)."""

_URL_PASSWORD = re.compile(r"(://[^\s/@:'\"]*:)[^\s/@'\"]+(?=@)")
"""The password of a URL's user part: ``https://alice:PASSWORD@host``."""
_URL_QUERY = re.compile(r"([?&][A-Za-z0-9_.\-]+=)([^\s&#'\"]+)")
"""A query parameter and its value, kept when its name is no secret's (``?api-version=``)."""
_BEARER = re.compile(r"(\b[Bb]earer\s+)[A-Za-z0-9._~+/=\-]{8,}")
"""A bearer token, as an ``Authorization`` header quotes it."""

_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _keys(shape: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    """Where ``shape`` matches ``text`` at the start of a word."""
    pos = 0
    while (found := shape.search(text, pos)) is not None:
        start = found.start()
        if start and text[start - 1] in _WORD:
            pos = start + 1  # inside a word: a key may still start further on
            continue
        yield start, found.end()
        pos = found.end()


SECRET_PARAM_WORDS = frozenset(
    {
        "key", "token", "secret", "password", "passwd", "pwd", "signature", "sig", "auth",
        "authorization", "credential", "credentials", "apikey", "apitoken", "accesskey",
        "secretkey", "privatekey", "authtoken", "accesstoken", "refreshtoken", "idtoken",
        "sessiontoken", "clientsecret",
    }
)  # fmt: skip
"""The words that make a query parameter's name a secret's when one of the name's parts is
one of them: a whole part, never a piece of one (``?monkey=1``, ``?keyword=``,
``?tokenizer=``, ``?author=`` are ordinary; ``sig`` is an Azure SAS signature)."""

_NAME_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
"""The parts of a parameter's name: ``X-Amz-Signature`` is x, amz, signature; ``accessToken``
access, token; ``api_key`` api, key."""


def is_secret_parameter(name: str) -> bool:
    """Whether a query parameter of this name carries a secret (:data:`SECRET_PARAM_WORDS`)."""
    return any(part.lower() in SECRET_PARAM_WORDS for part in _NAME_PARTS.findall(name))


def _query_value(found: re.Match[str]) -> str:
    name = found[1][1:-1]
    return found[1] + REDACTED if is_secret_parameter(name) else found[0]


def _credentials(text: str) -> str:
    """``text`` with the credentials named by their context replaced (module docstring)."""
    if "://" in text:  # each pattern only where its literal is (as the key shapes)
        if "@" in text:
            text = _URL_PASSWORD.sub(r"\1" + REDACTED, text)
        if "=" in text:
            text = _URL_QUERY.sub(_query_value, text)
    if "earer" in text:
        text = _BEARER.sub(r"\1" + REDACTED, text)
    return text


def _has_credentials(text: str) -> bool:
    """Whether :func:`_credentials` would change ``text``."""
    return ("://" in text or "earer" in text) and _credentials(text) != text


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
        self._shapes = tuple(zip(_PREFIXES, KEY_SHAPES, strict=True)) if shapes else ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for the secrets in ``environ`` (default: this process's environment)."""
        return cls(secret_env_values(os.environ if environ is None else environ))

    def extended(self, values: Iterable[str]) -> Redactor:
        """This redactor with ``values`` (a repository's secret files' values,
        :mod:`engine.secret_values`, filtered there) removed too, whatever their length."""
        wider = Redactor((), shapes=False)
        wider._shapes = self._shapes
        literal = set(self._literals)
        for value in values:
            if value.strip():
                literal.add(value.strip())
                literal.add(json.dumps(value.strip())[1:-1])
        wider._literals = sorted(literal, key=len, reverse=True)
        return wider

    @property
    def secret_count(self) -> int:
        """How many literal secret values (in their plain and JSON forms) are known."""
        return len(self._literals)

    def contains_secret(self, text: str) -> bool:
        """Whether ``text`` holds anything this redactor would remove."""
        return (
            any(secret in text for secret in self._literals)
            or any(
                next(_keys(shape, text), None) is not None
                for prefix, shape in self._shapes
                if prefix in text
            )
            or (bool(self._shapes) and _has_credentials(text))
        )

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[REDACTED]``."""
        if not text:
            return text
        for secret in self._literals:  # longest first: a secret holding another goes whole
            if secret in text:
                text = text.replace(secret, REDACTED)
        for prefix, shape in self._shapes:
            if prefix not in text:
                continue
            spans = list(_keys(shape, text))
            if spans:
                parts, last = [], 0
                for start, end in spans:
                    parts += [text[last:start], REDACTED]
                    last = end
                text = "".join([*parts, text[last:]])
        return _credentials(text) if self._shapes else text

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


NO_REDACTION = Redactor((), shapes=False)
"""A redactor that changes nothing (for tests that need raw text)."""
