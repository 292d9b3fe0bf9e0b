"""The one line a failed Node script is headed by: its first failing test, error and count.

A test runner ends its output with timings (uvu's ``Duration: 40.63ms``) and a wrapper with
its own exit (``❌ "vitest run ." exited with 1``), so the last line of a failed ``npm test``
said nothing of what failed. :func:`node_headline` picks what the pytest gate's headline
says for pytest: the first failing test (vitest's and jest's ``FAIL`` and ``●`` lines, uvu's
``FAIL "name"``, TAP's ``not ok``, mocha's ``1) name``), the first error or assertion line
after it, and the runner's count of failures, within :data:`HEADLINE_CHARS`.
"""

from __future__ import annotations

import re

HEADLINE_CHARS = 300
"""The longest headline: it heads a retry's context and a console line."""
PART_CHARS = 140
"""The longest of its parts (a test's name, an assertion)."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_FAILING_TEST = re.compile(
    r"^(?:FAIL\s+\S|[\u00d7✗✘]\s+[^\s•(]|●\s+\S|not ok\s+\d|\d+\)\s+\S)", re.UNICODE
)
"""A line naming a failing test: vitest (``FAIL  file > test`` and the cross before a test), jest
(``● suite > test``), uvu (``FAIL "test"``), TAP / node --test (``not ok 3 - test``),
mocha (``1) suite``)."""
_ERROR = re.compile(
    r"^(?:\w*(?:Error|Exception)\b(?: \[\w+\])?:\s*\S"  # AssertionError: …, Error: …
    r"|→\s+\S"  # vitest's one-line reason under a failing test
    r"|Expected\b"  # jest, uvu
    r"|error\b"  # eslint's `error  'x' is defined but never used`
    r"|\S+\(\d+,\d+\): error TS\d+"  # tsc
    r"|✖ \d+ problems?"  # eslint's total
    r"|\[(?:error|warn)\] )"  # prettier --check
)
"""A line saying what went wrong: an error, an assertion, a linter's problem."""
_FAILED_COUNT = re.compile(
    r"\b[1-9]\d* (?:failed|failing|failures?)\b|^# fail [1-9]\d*\b", re.IGNORECASE
)
"""A runner's count of failures (vitest's ``Tests  2 failed | 9 passed``, mocha's ``2
failing``, TAP's ``# fail 2``)."""
_UVU_TOTAL = re.compile(r"^Total:\s+(\d+)$")
_UVU_PASSED = re.compile(r"^Passed:\s+(\d+)$")


def _bounded(line: str, limit: int = PART_CHARS) -> str:
    text = " ".join(line.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def node_headline(output: str) -> str | None:
    """The failing test, the error under it and the failure count ``output`` names, joined
    and bounded; None when it names none of them (the caller falls back to the last line)."""
    lines = [line.strip() for line in _ANSI.sub("", output).splitlines()]
    lines = [line for line in lines if line]
    test_at = next((i for i, line in enumerate(lines) if _FAILING_TEST.match(line)), None)
    start = 0 if test_at is None else test_at + 1
    error = next((line for line in lines[start:] if _ERROR.match(line)), None)
    if error is None and test_at is not None:
        error = next((line for line in lines[:test_at] if _ERROR.match(line)), None)
    count = next((line for line in reversed(lines) if _FAILED_COUNT.search(line)), None)
    if count is None:
        total = next((m.group(1) for line in lines if (m := _UVU_TOTAL.match(line))), None)
        passed = next((m.group(1) for line in lines if (m := _UVU_PASSED.match(line))), None)
        if total is not None and passed is not None and int(passed) < int(total):
            count = f"{int(total) - int(passed)} of {total} failed"
    parts = [
        _bounded(part)
        for part in (None if test_at is None else lines[test_at], error, count)
        if part is not None
    ]
    if not parts:
        return None
    headline = " — ".join(dict.fromkeys(parts))
    return headline if len(headline) <= HEADLINE_CHARS else headline[: HEADLINE_CHARS - 1] + "…"


PACKAGE_MANAGERS = ("yarn", "pnpm", "bun")
"""The package managers a script may call besides npm, which the gate itself runs."""


def missing_package_manager(script: str, output: str) -> str | None:
    """The package manager ``script`` calls that the shell did not find (``yarn jest`` in
    tiny-invariant's ``test``: ``sh: 1: yarn: not found``), or None."""
    called = set(re.findall(r"(?:^|[\s;&|(])(\w+)(?=\s|$)", script))
    for manager in PACKAGE_MANAGERS:
        if manager in called and re.search(
            rf"\b{manager}: (?:command )?not found", _ANSI.sub("", output)
        ):
            return manager
    return None
