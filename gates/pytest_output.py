"""What a pytest run printed and reported, read into the words an engineer acts on.

The tests gate (``gates.pytest_gate``) hands over pytest's output and its JUnit report; this
module finds in them what went wrong: the conftest.py that failed to load, the module or the
plugin's fixture the project's Python lacks, how far a killed suite got, each failing test as
a Finding with its traceback bounded, and the one-line summary of a run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from engine.protocols import Finding
from gates.junit import CaseProblem, JunitReport
from gates.project_scripts import generated_modules, project_commands
from gates.tool_gate import relative

DETAIL_CHARS = 3000

_CONFTEST = re.compile(
    r"^ImportError while loading conftest '(?P<path>.+)'\.?[ \t\r]*$", re.MULTILINE
)
"""pytest's ``ImportError while loading conftest '/w/it's/conftest.py'.``: the path runs to
the line's last quote (a folder may be named with one)."""
_NO_MODULE = re.compile(r"No module named '(?P<name>[\w.]+)'")
_NO_FIXTURE = re.compile(
    r"fixture '(?P<name>\w+)' not found|recursive dependency involving fixture '(?P<own>\w+)'"
)
"""A fixture pytest has no definition of, or only the conftest's of the same name that asks
for a plugin's (requests' ``httpbin`` without pytest-httpbin): its plugin is not installed."""
_NO_COMMAND = re.compile(r"No such file or directory: '(?P<name>[\w.-]+)'")
"""A command a test ran that is not on PATH (``FileNotFoundError`` from subprocess): one of
the project's own scripts where the project is not installed (``gates.project_scripts``)."""
OFFLINE = re.compile(
    r"Network is unreachable|Temporary failure in name resolution|Name or service not known"
    r"|No address associated with hostname|nodename nor servname provided"
)
"""What a test that reaches for the network says in a sandbox without one."""
_ERRORISH = re.compile(r"(Error|Exception|error:|not found|No module named)")


_PROGRESS = re.compile(
    r"^(?P<marks>[.FEsxXRuy,-]+)(?P<end>\s+(?:\[\s*(?P<percent>\d+)%\]"
    r"|\[\s*(?P<done>\d+)\s*/\s*(?P<of>\d+)\s*\]|\d+(?:\.\d+)?(?:us|ms|s)|\d+[hm] \d+[ms]))?$"
)
"""A line of ``pytest -q``'s progress: a mark per test (``.FEsxX``; a rerun's ``R``, a
subtest's ``u``, ``y``, ``,`` or ``-`` are no test), and where the line ends the share done
as ``console_output_style`` says it: ``[ 37%]``, ``[10/40]`` (count) or ``15.69ms`` (times)."""
_TESTS = re.compile(r"[.FEsxX]")
_SECTION = re.compile(r"^=+ .* =+$")
"""A rule of pytest's report (``=== FAILURES ===``): the progress lines are above it."""


def progress_said(output: str) -> str:
    """How far a killed ``pytest -q`` got, from its progress lines (``....F.. [ 37%]``):
    a suite too slow for the time limit says how much of it ran and what failed by then."""
    percent = None
    marks = ""
    for line in output.splitlines():
        if _SECTION.match(line.strip()):
            break  # the report: its traceback's blank "E" lines are no progress
        match = _PROGRESS.match(line.strip())
        if match is None or not (_TESTS.search(match["marks"]) or match["end"]):
            continue
        marks += "".join(_TESTS.findall(match["marks"]))
        if match["of"] is not None and int(match["of"]):
            percent = str(int(match["done"]) * 100 // int(match["of"]))
        percent = match["percent"] or percent
    if not marks:
        return ""
    failed = marks.count("F") + marks.count("E")
    share = f", about {percent}% of the suite" if percent is not None else ""
    return f" ({len(marks)} test(s) had run{share}; {failed} of them failed or errored)"


def conftest_failure(output: str, cwd: Path) -> Finding | None:
    """The conftest.py pytest could not load (it then runs no test and writes no report),
    named from ``cwd``, with the error it raised and the line that raised it."""
    match = _CONFTEST.search(output)
    if match is None:
        return None
    path = match.group("path")
    file = relative(path, cwd)
    line = None
    for pattern in (rf'File "{re.escape(path)}", line (\d+)', rf"^{re.escape(file)}:(\d+): "):
        found = re.findall(pattern, output, re.MULTILINE)
        if found:
            line = int(found[-1])
            break
    error = re.sub(r"^E\s+", "", first_error_line(output[match.end() :]))
    return Finding(message=f"pytest could not load {file}: {error}", file=file, line=line)


def lacking_module(text: str, cwd: Path) -> str | None:
    """The top-level module ``text`` says cannot be found, unless the project holds it (then
    its absence is the code's, not a dependency's)."""
    module = _NO_MODULE.search(text)
    if module is None:
        return None
    top = module["name"].partition(".")[0]
    for where in (cwd, cwd / "src"):
        for held in (where / top, where / f"{top}.py"):
            try:
                if held.exists():
                    return None
            except OSError:  # a name too long for a file (ENAMETOOLONG): none holds it
                continue
    return top


def unmet_dependencies(problems: Sequence[CaseProblem], cwd: Path, python: str) -> str:
    """How many of ``problems`` are a module or a pytest plugin's fixture that the Python
    running the tests lacks, or the project's own command that it has not installed, and
    which: requests' suite, run without its test dependencies, read as 205 errors of the
    code's, and python-dotenv's 15 tests of its ``dotenv`` command as the code's failures. A
    module the project itself holds is not counted (its absence is the code's)."""
    modules: dict[str, None] = {}
    fixtures: dict[str, None] = {}
    commands: dict[str, None] = {}
    built: dict[str, None] = {}
    declared: frozenset[str] | None = None
    generated: frozenset[str] | None = None
    count = 0
    for problem in problems:
        command = _NO_COMMAND.search(problem.headline)
        if command is not None and "FileNotFoundError" in problem.headline:
            declared = project_commands(cwd) if declared is None else declared
            if command["name"] in declared:
                commands[repr(command["name"])] = None
                count += 1
                continue
        if (missing := _NO_MODULE.search(problem.headline)) is not None:
            generated = generated_modules(cwd) if generated is None else generated
            if missing["name"] in generated:
                built[repr(missing["name"])] = None
                count += 1
                continue
            lacking = lacking_module(problem.headline, cwd)
            if lacking is not None:
                modules[repr(lacking)] = None
                count += 1
            continue
        fixture = _NO_FIXTURE.search(problem.headline)
        if fixture is not None:
            fixtures[repr(fixture["name"] or fixture["own"])] = None
            count += 1
    if not count:
        return ""
    parts = [
        _some("module", list(modules)),
        _some("fixture", list(fixtures)) + (" (a pytest plugin's?)" if fixtures else ""),
        _some("command", list(commands))
        + (" (the project's own: install it there, pip install -e .)" if commands else ""),
        _some("module", list(built))
        + (" (its build writes it: install the project there, pip install -e .)" if built else ""),
    ]
    lacks = "; ".join(part for part in parts if part)
    return f"; {count} of them could not run, dependencies not installed for {python}: {lacks}"


def _some(kind: str, names: list[str], shown: int = 5) -> str:
    """``fixtures 'a', 'b'`` (at most ``shown`` named, the rest counted); empty for none."""
    if not names:
        return ""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return f"{kind}{'s' if len(names) > 1 else ''} {', '.join(names[:shown])}{more}"


_SUBFAILED = re.compile(r"^SUBFAILED(?P<said>.*?) (?P<node>\S+\.py::.+?)(?: - .*)?$", re.MULTILINE)
"""pytest's short summary line for a failed subtest: ``SUBFAILED(i=1) t.py::U::test_x - …``
(``[msg] (i=1)`` for one with a message too); the node id runs to `` - `` (a parameter's id
may hold a space: ``t.py::test_x[a b]``)."""


def failed_subtests(output: str) -> dict[str, list[str]]:
    """The subtests pytest's short summary says failed, by their test's node id, in order;
    JUnit gives each a ``<failure>`` of the test's, without saying which subtest it was."""
    failed: dict[str, list[str]] = {}
    for match in _SUBFAILED.finditer(output):
        failed.setdefault(match["node"], []).append(match["said"].strip())
    return failed


def problem_finding(problem: CaseProblem, subtests: Sequence[str] = ()) -> Finding:
    """One failing or erroring test as a Finding: id (and the ``subtests`` of it that
    failed, as pytest names them), headline, location, traceback."""
    label = "" if problem.kind == "failure" else "error: "
    which = f" {', '.join(dict.fromkeys(subtests))}" if subtests else ""
    return Finding(
        message=f"{problem.node_id}{which}: {label}{problem.headline}",
        file=problem.file,
        line=problem.line,
        detail=bounded_detail(problem.text),
        key=problem.node_id,
    )


_STATS = re.compile(
    r"^(?:=+ )?(?P<parts>\d+ [a-z]+(?: [a-z]+)?(?:, \d+ [a-z]+(?: [a-z]+)?)*|no tests ran)"
    r" in (?P<took>\d+\.\d+s(?: \(\d+:\d\d:\d\d\))?)(?: =+)?$",
    re.MULTILINE,
)
"""pytest's last line: ``=== 4 failed, 6 passed, 3 skipped, 6 subtests passed in 0.05s ===``
(no ``=`` under ``-q``)."""
_SAID_AS = {
    "passed": "passed",
    "failed": "failures",
    "error": "errors",
    "errors": "errors",
    "skipped": "skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
    "subtests passed": "subtests_passed",
    "subtests failed": "subtests_failed",
    "subtests skipped": "subtests_skipped",
}
"""The outcomes of pytest's last line a GateResult counts, by the key it counts them under
(deselected tests and warnings are not outcomes)."""
_SHOWN = (
    ("passed", "passed"),
    ("failures", "failed"),
    ("errors", "error"),
    ("skipped", "skipped"),
    ("xfailed", "xfailed"),
    ("xpassed", "xpassed"),
    ("subtests_passed", "subtests passed"),
    ("subtests_failed", "subtests failed"),
    ("subtests_skipped", "subtests skipped"),
)
_OUTCOMES = ("passed", "failures", "errors", "skipped", "xfailed", "xpassed")


def stats_said(output: str) -> tuple[dict[str, int], str] | None:
    """The counts pytest's own last line says, and how long it says the run took; None when
    it printed none (``-qq``). pytest's counts are the ones to report: since pytest 9 its
    JUnit report gives a test whose *subtests* were skipped (unittest's ``subTest``, the
    ``subtests`` fixture) the same ``<skipped>`` as a skipped test, so python-slugify's 140
    passed, 5 skipped (152 subtests) read there as 139 passed, 1 skipped; and it counts an
    xfailed test as skipped. ``tests`` is the sum of the outcomes."""
    lines = list(_STATS.finditer(output))
    if not lines:
        return None
    found = lines[-1]
    counts = dict.fromkeys(_OUTCOMES, 0)
    if found["parts"] != "no tests ran":
        for part in found["parts"].split(", "):
            number, _, outcome = part.partition(" ")
            key = _SAID_AS.get(outcome)
            if key is not None:
                counts[key] = counts.get(key, 0) + int(number)
    counts["tests"] = sum(counts[key] for key in _OUTCOMES)
    for key in ("xfailed", "xpassed"):
        if not counts[key]:
            del counts[key]
    return counts, found["took"]


def deselected_said(output: str) -> int:
    """How many tests pytest's last line says it deselected (``-k``, ``-m``): all of them
    when it then exits 5, as it does when it collects none."""
    lines = list(_STATS.finditer(output))
    if not lines or lines[-1]["parts"] == "no tests ran":
        return 0
    for part in lines[-1]["parts"].split(", "):
        number, _, outcome = part.partition(" ")
        if outcome == "deselected":
            return int(number)
    return 0


def counts_summary(counts: dict[str, int], took: str) -> str:
    """``12 passed, 1 failed, 2 errors, 1 skipped, 3 subtests passed in 0.84s``."""
    parts = [f"{counts.get('passed', 0)} passed"]
    for key, word in _SHOWN[1:]:
        number = counts.get(key, 0)
        if number:
            plural = "s" if key == "errors" and number > 1 else ""
            parts.append(f"{number} {word}{plural}")
    return ", ".join(parts) + f" in {took}"


def junit_summary(report: JunitReport) -> str:
    """``12 passed, 1 failed, 2 errors, 1 skipped in 0.84s``."""
    return counts_summary(report.counts(), f"{report.time_s:.2f}s")


def bounded_detail(text: str, limit: int = DETAIL_CHARS) -> str:
    """Keep a traceback's head and its (more telling) tail within ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head - 40
    return text[:head] + "\n... [traceback truncated] ...\n" + text[-tail:]


_BANNER = re.compile(r"^!{3,} (?P<said>.+?) !{3,}$", re.MULTILINE)
"""pytest's ``!!!! _pytest.outcomes.Exit: reason !!!!`` (``KeyboardInterrupt``, ...)."""


def stop_reason(output: str) -> str | None:
    """Why pytest stopped before the end, as the last of its ``!!! … !!!`` banners says
    (``pytest.exit()``'s reason, ``KeyboardInterrupt``), its exception's module dropped."""
    said = _BANNER.findall(output)
    return re.sub(r"^[\w.]+\.(?=\w+: )", "", said[-1])[:300] if said else None


def first_error_line(output: str) -> str:
    """The last line of output that looks like an error, else the last non-empty line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERRORISH.search(line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"
