"""The tests gate counts what pytest's own last line says, subtests and xfails included."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gates.junit import parse_junit
from gates.pytest_gate import PytestGate
from gates.pytest_output import failed_subtests, problem_finding, progress_said, stats_said
from gates.sandbox import ProcessSandbox

MakeRepo = Callable[[dict[str, str]], Path]

PYTEST_9_TAIL = """\
SUBFAILED(i=1) tests/test_more.py::U::test_sub_fails - AssertionError: 1 != 0
FAILED tests/test_more.py::test_fixture_fails - contains 1 failed subtest
4 failed, 6 passed, 3 skipped, 1 xfailed, 6 subtests passed in 0.04s
"""
"""What pytest 9.2 printed under ``-q`` for a suite of unittest ``subTest``s and ``subtests``
fixtures: its JUnit report made of the same run 3 passed, 2 failed, 4 skipped."""


def test_the_counts_are_pytests_own_subtests_included() -> None:
    said = stats_said(PYTEST_9_TAIL)
    assert said is not None
    counts, took = said
    assert counts == {
        "tests": 14,
        "passed": 6,
        "failures": 4,
        "errors": 0,
        "skipped": 3,
        "xfailed": 1,
        "subtests_passed": 6,
    }
    assert took == "0.04s"


def test_the_last_summary_line_counts_with_or_without_its_rule() -> None:
    output = (
        "print('1 passed in 0.01s') from a test\n1 passed in 0.01s\n"
        "==== 140 passed, 5 skipped, 1 warning, 152 subtests passed in 65.20s (0:01:05) ====\n"
    )
    said = stats_said(output)
    assert said is not None
    assert said[0]["passed"] == 140 and said[0]["skipped"] == 5
    assert said[0]["subtests_passed"] == 152 and said[0]["tests"] == 145
    assert said[1] == "65.20s (0:01:05)"
    none_ran = stats_said("no tests ran in 0.01s\n")
    assert none_ran is not None and none_ran[0]["tests"] == 0
    assert stats_said("x                                 [100%]\n") is None, "-qq prints none"


MIXED = {
    "tests/test_mixed.py": """
    import unittest

    import pytest


    class T(unittest.TestCase):
        def test_sub(self):
            for i in range(3):
                with self.subTest(i=i):
                    if i == 1:
                        self.skipTest("not this one")


    @pytest.mark.skip(reason="really")
    def test_skipped():
        pass


    @pytest.mark.xfail(reason="known")
    def test_known():
        assert False


    def test_a():
        pass
    """
}


async def test_the_gate_reports_what_pytest_said(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    result = await PytestGate(process_sandbox).check(make_repo(MIXED))
    assert result.passed, result.output_tail
    said = stats_said(result.output_tail)
    assert said is not None, result.output_tail
    assert result.counts == said[0]
    assert result.counts["xfailed"] == 1, "an xfailed test is not a skipped one"
    last = result.output_tail.strip().splitlines()[-1]
    assert sorted(result.summary.split(" in ")[0].split(", ")) == sorted(
        last.split(" in ")[0].split(", ")
    ), f"{result.summary!r} is not what pytest said: {last!r}"


FAILING_SUBTEST = {
    "tests/test_sub.py": """
    import unittest


    class U(unittest.TestCase):
        def test_each(self):
            for i in range(3):
                with self.subTest(i=i):
                    self.assertEqual(i, 0)

        def test_fine(self):
            pass
    """
}


async def test_a_failing_subtest_fails_the_gate_and_is_named(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    result = await PytestGate(process_sandbox).check(make_repo(FAILING_SUBTEST))
    assert not result.passed
    assert result.counts["failures"] >= 1
    first = result.findings[0].message
    assert first.startswith("tests/test_sub.py::U::test_each"), result.findings
    assert "AssertionError: 1 != 0" in first
    assert "Gate 'tests' failed" in result.failure_context()


PYTEST_9_REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">
<testsuite name="pytest" errors="0" failures="2" skipped="0" tests="3" time="0.021">
<testcase classname="tests.test_more.U" name="test_sub_fails" file="tests/test_more.py"
 line="4" time="0.021"><failure message="AssertionError: 1 != 0">
tests/test_more.py:8: AssertionError</failure><failure message="AssertionError: 2 != 0">
tests/test_more.py:8: AssertionError</failure></testcase>
<testcase classname="tests.test_more" name="test_fine" file="tests/test_more.py" line="9"/>
</testsuite></testsuites>"""
"""pytest 9.2's report of a unittest test two of whose ``subTest``s failed: a ``<failure>``
each, neither saying which subtest it was (its short summary, in PYTEST_9_SUMMARY, does)."""

PYTEST_9_SUMMARY = """\
=========================== short test summary info ============================
SUBFAILED(i=1) tests/test_more.py::U::test_sub_fails - AssertionError: 1 != 0
SUBFAILED(i=2) tests/test_more.py::U::test_sub_fails - AssertionError: 2 != 0
SUBFAILED[odd] (i=3) tests/test_more.py::test_fixture - AssertionError: i sho...
FAILED tests/test_more.py::test_fixture - contains 1 failed subtest
4 failed, 1 passed, 2 subtests passed in 0.02s
"""


def test_a_failing_subtest_is_named_in_its_finding() -> None:
    subtests = failed_subtests(PYTEST_9_SUMMARY)
    assert subtests == {
        "tests/test_more.py::U::test_sub_fails": ["(i=1)", "(i=2)"],
        "tests/test_more.py::test_fixture": ["[odd] (i=3)"],
    }
    (problem,) = parse_junit(PYTEST_9_REPORT).problems
    finding = problem_finding(problem, subtests[problem.node_id])
    assert finding.message == (
        "tests/test_more.py::U::test_sub_fails (i=1), (i=2): AssertionError: 1 != 0"
    )
    assert finding.key == "tests/test_more.py::U::test_sub_fails", "reruns go by the test"
    assert (finding.file, finding.line) == ("tests/test_more.py", 8)


@pytest.mark.parametrize("addopts", ["-qq", "-q -q", "-v"])
async def test_a_project_that_sets_its_own_verbosity_is_still_counted_by_pytest(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo, addopts: str
) -> None:
    """``addopts = "-qq"`` and the gate's ``-q`` made ``-qqq``: pytest printed no last line,
    and the gate fell back to the JUnit report's counts (the xfailed test as skipped). ``-v``
    made its ``-q`` plain verbosity, whose progress lines a killed suite is not read from."""
    pyproject = f'[tool.pytest.ini_options]\naddopts = "{addopts}"\n'
    result = await PytestGate(process_sandbox).check(
        make_repo({**MIXED, "pyproject.toml": pyproject})
    )
    assert result.passed, result.output_tail
    said = stats_said(result.output_tail)
    assert said is not None, result.output_tail  # pytest's own last line, as under -q
    assert result.counts == said[0]
    assert result.counts["xfailed"] == 1, result.counts  # not the report's "skipped"
    assert progress_said(result.output_tail).startswith(" (4 test(s) had run"), result.output_tail
