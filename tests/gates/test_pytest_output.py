"""What the tests gate reads from pytest's printed output: how far a killed run got, and the
conftest.py that failed to load, as pytest 8 and 9 print them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gates.pytest_gate import PytestGate
from gates.pytest_output import conftest_failure, failed_subtests, progress_said
from gates.sandbox import ProcessSandbox


@pytest.mark.parametrize(
    ("output", "said"),
    [
        # console_output_style = count, and = times, in a project's configuration
        ("....F...F.                [10/40]\n..", "12 test(s) had run, about 25%"),
        (".F.                               15.69ms\n.F         2m 3s\n", "5 test(s) had run"),
        # pytest 9's subtests ("u" passed or failed, "-" skipped) and a rerun ("R") are no tests
        ("..uuuu-u.F      [ 40%]\nuuuu\n", "4 test(s) had run, about 40%"),
        (".R.F                              [100%]\n", "3 test(s) had run, about 100%"),
    ],
    ids=["count", "times", "subtests", "rerun"],
)
def test_how_far_a_killed_run_got_in_each_progress_style(output: str, said: str) -> None:
    assert said in progress_said(output)


def test_a_traceback_s_lines_are_not_progress() -> None:
    # All ran and the summary was printed, then pytest hung at exit (a thread left running):
    # the blank "E" lines of an assertion's diff counted as errors.
    output = (
        ".F.                                                                      [100%]\n"
        "=================================== FAILURES ===================================\n"
        "E     \nE     - zz\nE     + ab\nE     \n"
        "FAILED tests/test_a.py::test_b - AssertionError\n1 failed, 2 passed in 0.04s\n"
    )
    assert progress_said(output) == (
        " (3 test(s) had run, about 100% of the suite; 1 of them failed or errored)"
    )


def test_a_conftest_in_a_folder_named_with_a_quote_is_named_whole(tmp_path: Path) -> None:
    cwd = tmp_path / "it's ü"
    output = (  # as pytest 8.4 printed it
        f"ImportError while loading conftest '{cwd}/tests/conftest.py'.\n"
        "tests/conftest.py:1: in <module>\n"
        '    raise RuntimeError("bad conf")\n'
        "E   RuntimeError: bad conf\n"
    )
    found = conftest_failure(output, cwd)
    assert found is not None
    assert found.message == "pytest could not load tests/conftest.py: RuntimeError: bad conf"
    assert (found.file, found.line) == ("tests/conftest.py", 1)


async def test_a_module_name_too_long_for_a_file_fails_its_test_not_the_gate(
    process_sandbox: ProcessSandbox, make_repo: Callable[[dict[str, str]], Path]
) -> None:
    # Whether the project holds the module was asked of the file system, which refused a
    # 300-character name with OSError (ENAMETOOLONG): the gate raised, no verdict.
    repo = make_repo(
        {
            "tests/test_imp.py": "import importlib\n\ndef test_imp():\n"
            "    importlib.import_module('m' * 300)\n"
        }
    )
    result = await PytestGate(process_sandbox).check(repo)
    assert not result.passed and result.counts["failures"] == 1
    assert "dependencies not installed" in result.summary
    assert [f.key for f in result.findings] == ["tests/test_imp.py::test_imp"]


def test_a_failed_subtest_of_a_test_whose_id_holds_a_space_is_named() -> None:
    output = (  # pytest 9's short summary: the node id as printed, its parameter unquoted
        "SUBFAILED(i=1) tests/test_p.py::test_x[a b] - AssertionError: 1 != 0\n"
        "SUBFAILED[two words] (i=2) tests/test_p.py::test_x[a b]\n"
        "FAILED tests/test_p.py::test_x[a b] - contains 2 failed subtests\n"
    )
    assert failed_subtests(output) == {
        "tests/test_p.py::test_x[a b]": ["(i=1)", "[two words] (i=2)"]
    }


async def test_a_suite_that_ran_but_did_not_exit_is_not_told_to_take_more_time(
    process_sandbox: ProcessSandbox, make_repo: Callable[[dict[str, str]], Path]
) -> None:
    # A test leaves a thread running: pytest prints its whole report, then waits on the
    # thread at exit until killed. More time ([gates] test_timeout_s) would not help.
    hangs = (
        "import threading, time\n\n\ndef test_leaves_a_thread():\n"
        "    threading.Thread(target=time.sleep, args=(99,)).start()\n\n\n"
        "def test_fails():\n    assert 1 == 2\n"
    )
    result = await PytestGate(process_sandbox, timeout_s=10).check(  # room for a slow start
        make_repo({"tests/test_hang.py": hangs})
    )
    assert not result.passed
    assert result.summary.startswith("timed out after 10s: 1 passed, 1 failed in "), result.summary
    assert result.summary.endswith(", then pytest did not exit"), result.summary
    [finding] = result.findings
    assert "test_timeout_s" not in finding.message
    assert "did not exit within 10s" in finding.message
    assert result.counts["failures"] == 1


async def test_tests_all_deselected_are_not_said_to_be_missing(
    process_sandbox: ProcessSandbox, make_repo: Callable[[dict[str, str]], Path]
) -> None:
    # pytest exits 5 for both; "add test_*.py files" sent an engineer to write tests that
    # were there, deselected by the gate's -k or -m (or the project's addopts).
    repo = make_repo({"tests/test_a.py": "def test_a():\n    pass\n\n\ndef test_b():\n    pass\n"})
    result = await PytestGate(process_sandbox, args=["-k", "nothing_matches"]).check(repo)
    assert not result.passed
    [finding] = result.findings
    assert finding.message == (
        "pytest deselected all 2 tests it collected (-k or -m in the tests gate's args or "
        "the project's addopts select none)"
    )


async def test_a_run_a_test_stopped_says_why(
    process_sandbox: ProcessSandbox, make_repo: Callable[[dict[str, str]], Path]
) -> None:
    # pytest.exit() in a test: pytest exits 2 with its reason in a "!!! … !!!" banner; the
    # finding read its last line, "1 passed in 0.02s", instead.
    stops = (
        "import pytest\n\n\ndef test_a():\n    pass\n\n\n"
        "def test_b():\n    pytest.exit('the database is down')\n"
    )
    result = await PytestGate(process_sandbox).check(make_repo({"tests/test_stop.py": stops}))
    assert not result.passed and "(pytest exit 2: interrupted)" in result.summary
    [finding] = result.findings
    assert finding.message == "pytest exited with code 2: Exit: the database is down"
