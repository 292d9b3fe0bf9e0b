"""Reads the JUnit XML report pytest writes into counts and one record per failing test.

The report is our own file (the gate asks pytest for it), written with the ``xunit1`` family so
every testcase carries ``file`` and ``line``. From a testcase we rebuild the pytest node id,
a one-line headline, and the most precise location the traceback names — what an engineer's
retry needs to find the problem at once.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

_LOCATION = re.compile(r"^(?P<file>[^\s/][^\s:]*\.py):(?P<line>\d+): ", re.MULTILINE)
"""A traceback line such as ``tests/test_mod.py:8: AssertionError`` (relative paths only)."""

_ERROR_LINE = re.compile(r"^E\s+(?P<text>\S.*)$", re.MULTILINE)

_AT_LOCATION = re.compile(r'^(?P<when>failed on \w+ with )"file .+, line \d+$')
"""The first line pytest writes for a fixture it could not set up (one not found, a
recursive one): the test's absolute location; what went wrong is on an ``E`` line below."""


class JunitError(ValueError):
    """The report cannot be read (empty, cut short, not JUnit XML)."""


@dataclass(frozen=True)
class CaseProblem:
    """One testcase that failed or errored."""

    node_id: str
    kind: Literal["failure", "error"]
    headline: str
    text: str
    file: str | None
    line: int | None


@dataclass(frozen=True)
class JunitReport:
    """Totals over every testsuite in a report, and the problems found."""

    tests: int
    failures: int
    errors: int
    skipped: int
    time_s: float
    problems: tuple[CaseProblem, ...]

    @property
    def passed(self) -> int:
        """Testcases with no failure, error or skip."""
        return self.tests - self.failures - self.errors - self.skipped

    def counts(self) -> dict[str, int]:
        """The counts a GateResult carries."""
        return {
            "tests": self.tests,
            "passed": self.passed,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
        }


def parse_junit(xml_text: str) -> JunitReport:
    """Parse a pytest JUnit XML report; raise :class:`JunitError` when it is unreadable."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise JunitError(f"unreadable JUnit report: {exc}") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JunitError(f"not a JUnit report: root element is <{root.tag}>")
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    tests = failures = errors = skipped = 0
    time_s = 0.0
    problems: list[CaseProblem] = []
    for suite in suites:
        time_s += _float(suite.get("time"))
        for case in suite.iter("testcase"):
            tests += 1
            failure, error = case.find("failure"), case.find("error")
            if failure is not None:
                failures += 1
                problems.append(_problem(case, failure, "failure"))
            elif error is not None:
                errors += 1
                problems.append(_problem(case, error, "error"))
            elif case.find("skipped") is not None:
                skipped += 1
    return JunitReport(tests, failures, errors, skipped, time_s, tuple(problems))


def node_id(classname: str, name: str, file: str | None) -> str:
    """Rebuild pytest's node id (``tests/test_m.py::TestC::test_x``) from a testcase.

    Falls back to ``classname::name`` when the file does not match the class path.
    """
    if file:
        module = file.removesuffix(".py").replace("/", ".")
        if not classname:
            return file
        if classname == module:
            return f"{file}::{name}"
        if classname.startswith(module + "."):
            inner = classname[len(module) + 1 :].replace(".", "::")
            return f"{file}::{inner}::{name}"
    return f"{classname}::{name}" if classname else name


def _problem(
    case: ET.Element, element: ET.Element, kind: Literal["failure", "error"]
) -> CaseProblem:
    file = case.get("file") or None
    text = element.text or ""
    message = element.get("message") or ""
    location = _last_location(text)
    line: int | None = None
    if location is not None:
        file, line = location
    elif file is not None and case.get("line", "").isdigit():
        line = int(case.get("line", "0")) + 1  # pytest writes the 0-based def line
    return CaseProblem(
        node_id=node_id(case.get("classname", ""), case.get("name", ""), case.get("file")),
        kind=kind,
        headline=_headline(message, text, kind),
        text=text,
        file=file,
        line=line,
    )


def _headline(message: str, text: str, kind: str) -> str:
    """The one line that says what went wrong."""
    first = message.strip().splitlines()[0].strip() if message.strip() else ""
    located = _AT_LOCATION.match(first)
    if located is not None:
        said = [m.group("text").strip() for m in _ERROR_LINE.finditer(message or text)]
        if said:
            return f'{located.group("when")}"{said[0]}"'
    if first and first != "collection failure":
        return first
    errors = [m.group("text").strip() for m in _ERROR_LINE.finditer(text)]
    if errors:
        prefix = "collection failed: " if first == "collection failure" else ""
        return prefix + errors[-1]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return first or (lines[-1] if lines else kind)


def _last_location(text: str) -> tuple[str, int] | None:
    """The deepest workspace-relative ``file.py:line`` in a traceback, if any."""
    matches: Iterator[re.Match[str]] = _LOCATION.finditer(text)
    last: tuple[str, int] | None = None
    for match in matches:
        last = (match.group("file"), int(match.group("line")))
    return last


def _float(value: str | None) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        return 0.0
