"""The circuit breaker: the same failure twice means retrying will not help.

A failure's *signature* is what stays the same when an attempt fails the same way again: the
failing test ids and the error types, with line numbers, addresses, hex ids and counts
stripped. When a task's attempt fails with a signature it already failed with, the breaker
trips: the task stops retrying and a human is asked, shown the failure as written
(:func:`failure_headline`), not its signature.
"""

from __future__ import annotations

import re

_TEST_ID = re.compile(r"[\w./-]+\.py::[\w\[\]\-.:]+")
_ERROR_TYPE = re.compile(r"\b[A-Z][A-Za-z0-9_]*(?:Error|Exception|Failure|Conflict)\b")
_NOISE = (
    (re.compile(r"0x[0-9a-fA-F]+"), "0x_"),
    (re.compile(r"\b[0-9a-f]{7,40}\b"), "_hex_"),
    (re.compile(r":\d+(?::\d+)?"), ":_"),
    (re.compile(r"\bline \d+\b"), "line _"),
    (re.compile(r"\d+(?:\.\d+)?s\b"), "_s"),
    (re.compile(r"\d+"), "_"),
    (re.compile(r"\s+"), " "),
)


def normalise(text: str) -> str:
    """``text`` with the parts that change between identical failures replaced."""
    for pattern, replacement in _NOISE:
        text = pattern.sub(replacement, text)
    return text.strip()


def _named(context: str, *, stable: bool = True) -> str:
    """The failing test ids and error types ``context`` names (sorted, deduplicated), or "";
    ``stable``: a parametrised test's id without its parameters."""
    tests = sorted({m.rstrip(".:") for m in _TEST_ID.findall(context)})
    if stable:
        tests = sorted({re.sub(r"\[.*\]$", "[_]", t) for t in tests})
    errors = sorted(set(_ERROR_TYPE.findall(context)))
    return " | ".join(part for part in (" ".join(tests), " ".join(errors)) if part)


def _first_lines(context: str) -> str:
    lines = [line for line in context.strip().splitlines() if line.strip()][:3]
    return " / ".join(lines)


def failure_signature(context: str, limit: int = 300) -> str:
    """A short, stable description of how an attempt failed.

    Failing test ids and error types when the context names any (sorted, deduplicated);
    otherwise the normalised first lines of the context.
    """
    signature = _named(context) or normalise(_first_lines(context))
    return signature[:limit] or "no output"


def failure_headline(context: str, limit: int = 300) -> str:
    """How an attempt failed, for a person: what its signature is made of, as written.

    The failing tests and error types, or else the context's first lines with their numbers
    kept (a lint gate's "ruff's classic rules E4,E7,E9,F ... slugify/__init__.py:3: F401",
    which the signature reads "E_,E_,E_,F ... slugify/__init__.py:_: F_"), cut at ``limit``.
    """
    text = _named(context, stable=False) or " ".join(_first_lines(context).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text or "no output"


class CircuitBreaker:
    """Remembers each task's failure signatures; trips on a repeat."""

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}

    def record(self, task_id: str, context: str) -> str | None:
        """Note a failure; if the task already failed this way (the same signature), returns
        how, as a person reads it (:func:`failure_headline`), else None."""
        signature = failure_signature(context)
        seen = self._seen.setdefault(task_id, set())
        if signature in seen:
            return failure_headline(context)
        seen.add(signature)
        return None

    def reset(self, task_id: str) -> None:
        """Forget a task's failures (a human chose to retry it)."""
        self._seen.pop(task_id, None)
