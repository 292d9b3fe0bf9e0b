"""The two kinds of provider failure, and how a failure is said in one line.

Providers translate their SDK's failures into two kinds: :class:`TransientProviderError`
(429, 529/503 overload, other 5xx, timeouts, dropped connections — worth another try, maybe
after the server's ``retry-after``) and plain :class:`~agents.provider.ProviderError` (a bad
key, a bad request, a malformed body — retrying would fail the same way). This module holds
those kinds, the statuses that decide between them, and the one-line message with secrets
masked; :mod:`agents.providers.retrying` and :mod:`agents.providers.fallback_chain` act on
them.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC

from agents.provider import Completion, ProviderError

MAX_MESSAGE = 300


class TransientProviderError(ProviderError):
    """A failure another attempt may fix; ``retry_after`` is the server's hint in seconds.
    ``status`` 429 (:data:`LIMITED`) is a rate or usage limit, which a lone provider waits out
    (:mod:`agents.providers.usage_wait`)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spent: Completion | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, spent=spent, status=status)
        self.retry_after = retry_after


_HTML_PAGE = re.compile(r"<(?:!doctype\s+html|html)\b", re.IGNORECASE)
_TITLE = re.compile(r"<(title|h1)\b[^>]*>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def without_html(text: str) -> str:
    """``text`` with an HTML page in it (a proxy's or a gateway's error page where the API's
    JSON error goes) said as "an HTML page: " and its title, or its text without tags."""
    page = _HTML_PAGE.search(text)
    if page is None:
        return text
    html = text[page.start() :]
    title = _TITLE.search(html)
    shown = title.group(2) if title else html
    shown = " ".join(_TAG.sub(" ", shown).split())[:120] or "no text"
    return f"{text[: page.start()]}(an HTML page: {shown})"


def one_line(text: str, secrets: Sequence[str] = ()) -> str:
    """``text`` on one line, at most MAX_MESSAGE characters, with every secret masked and an
    HTML page in it named by its title (:func:`without_html`)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    flat = re.sub(r"\s+", " ", without_html(text)).strip()
    return flat if len(flat) <= MAX_MESSAGE else flat[: MAX_MESSAGE - 3] + "..."


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``retry-after`` header value: a number of seconds (a float too, as
    ``retry-after-ms``-style hints), or an HTTP date (RFC 9110; a gateway's), a past one
    being now. None for no value, or one that says nothing usable (negative, inf, nan)."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:  # "-0000": UTC, as the RFC's dates are
            when = when.replace(tzinfo=UTC)
        return float(max(0, math.ceil(when.timestamp() - time.time())))
    return seconds if 0 <= seconds < math.inf else None


def retry_after_hint(headers: Mapping[str, str]) -> float | None:
    """Seconds a response's headers ask to wait: the milliseconds of ``retry-after-ms``
    (Azure's, read first as the official SDKs do), else ``retry-after``
    (:func:`parse_retry_after`)."""
    millis = parse_retry_after(headers.get("retry-after-ms"))
    return millis / 1000 if millis is not None else parse_retry_after(headers.get("retry-after"))


def transient_status(status: int) -> bool:
    """True for the HTTP statuses worth retrying: 408, 409, 429, 5xx (529 = overloaded)."""
    return status in (408, 409, 429) or status >= 500


DEAD_STATUSES = frozenset({401, 403, 404})
"""The HTTP statuses that say a model cannot answer any request: a bad key, no access, an
unknown model (or a base URL without the API). A fallback chain stops asking such a link."""


LIMITED = 429
"""The status of a rate or usage limit ("Too Many Requests"): an API's 429, and a coding
agent's "usage limit reached" said as one."""


AFTER_LIMIT = "after_limit"
"""The label of a call asked again once a limit has lifted (how many times): a coding agent
that failed the attempt at its limit is started again for it (:mod:`agents.providers.cli`
starts it once per attempt otherwise)."""


class RetriesExhausted(ProviderError):
    """A provider kept failing in a way worth another try (429, 5xx, timeouts, dropped
    connections) until the retries ran out, or asked to wait longer than we would
    (``retry_after``: what it asked, in seconds); ``status``: the last failure's."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        spent: Completion | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, spent=spent, status=status)
        self.retry_after = retry_after
