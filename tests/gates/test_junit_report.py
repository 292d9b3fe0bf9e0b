"""Reading pytest's JUnit XML: counts, node ids, headlines and locations."""

from __future__ import annotations

import pytest

from gates.junit import JunitError, node_id, parse_junit

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="0.5">
<testcase classname="tests.test_m.TestA" name="test_ok" file="tests/test_m.py" line="4"/>
<testcase classname="tests.test_m.TestA" name="test_bad[1-2]" file="tests/test_m.py" line="6">
<failure message="assert 1 == 2&#10; +  where 1 = f()">    def test_bad():
&gt;       assert f() == 2
E       assert 1 == 2

tests/test_m.py:8: AssertionError</failure></testcase>
<testcase classname="tests.test_m" name="test_err" file="tests/test_m.py" line="12">
<error message="failed on setup with &quot;RuntimeError: boom&quot;">
src/fix.py:3: RuntimeError</error>
</testcase>
<testcase classname="tests.test_m" name="test_skip" file="tests/test_m.py" line="20">
<skipped message="later"/></testcase>
</testsuite></testsuites>
"""


def test_counts_and_problems() -> None:
    report = parse_junit(REPORT)
    assert report.counts() == {"tests": 4, "passed": 1, "failures": 1, "errors": 1, "skipped": 1}
    assert report.time_s == 0.5
    bad, err = report.problems
    assert bad.node_id == "tests/test_m.py::TestA::test_bad[1-2]"
    assert bad.kind == "failure"
    assert bad.headline == "assert 1 == 2"
    assert (bad.file, bad.line) == ("tests/test_m.py", 8)
    assert err.kind == "error"
    assert err.headline == 'failed on setup with "RuntimeError: boom"'
    assert (err.file, err.line) == ("src/fix.py", 3)


def test_location_falls_back_to_the_def_line() -> None:
    xml = (
        '<testsuite time="0.1"><testcase classname="t" name="test_x" file="t.py" line="2">'
        '<failure message="boom">no locations here</failure></testcase></testsuite>'
    )
    [problem] = parse_junit(xml).problems
    assert (problem.file, problem.line) == ("t.py", 3)
    assert problem.node_id == "t.py::test_x"


def test_node_id_fallbacks() -> None:
    assert node_id("", "tests.test_x", "tests/test_x.py") == "tests/test_x.py"
    assert node_id("pkg.Other", "test_y", "tests/test_x.py") == "pkg.Other::test_y"
    assert node_id("pkg.mod", "test_y", None) == "pkg.mod::test_y"


@pytest.mark.parametrize(
    ("text", "error"),
    [("", "unreadable JUnit report"), ("<testsuite", "unreadable"), ("<html/>", "not a JUnit")],
)
def test_unreadable_reports(text: str, error: str) -> None:
    with pytest.raises(JunitError, match=error):
        parse_junit(text)


def test_a_fixture_missing_at_setup_is_said_not_its_location() -> None:
    # pytest puts the test's absolute location first in this message: requests' suite without
    # its pytest-httpbin plugin read 205 times 'failed on setup with "file /tmp/..., line 289'.
    xml = (
        '<testsuite time="0.1"><testcase classname="tests.test_r" name="test_get" '
        'file="tests/test_r.py" line="288"><error message="failed on setup with &quot;file '
        "/tmp/shopfloor-audit-x/tree/tests/test_r.py, line 289&#10;  def test_get(httpbin):"
        "&#10;E       fixture 'httpbin' not found&#10;&gt;       available fixtures: capsys, "
        "tmp_path&#10;&gt;       use 'pytest --fixtures [testpath]' for help on them.&#10;&#10;"
        '/tmp/shopfloor-audit-x/tree/tests/test_r.py:289&quot;">file '
        "/tmp/shopfloor-audit-x/tree/tests/test_r.py, line 289&#10;  def test_get(httpbin):"
        "&#10;E       fixture 'httpbin' not found</error></testcase></testsuite>"
    )
    [problem] = parse_junit(xml).problems
    assert problem.headline == "failed on setup with \"fixture 'httpbin' not found\""
    assert (problem.file, problem.line) == ("tests/test_r.py", 289)
