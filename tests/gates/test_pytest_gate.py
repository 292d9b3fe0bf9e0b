"""PytestGate on small real repositories, through the real sandbox."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from engine.protocols import Gate
from engine.recon import Baseline, BaselineGate
from gates.pytest_gate import PytestGate
from gates.sandbox import ProcessSandbox

MakeRepo = Callable[[dict[str, str]], Path]
NO_PLUGINS = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
"""For a gate on a repository that needs none of the pytest plugins installed beside
shopfloor (most of a second a run). The first two tests, and those about a plugin's
options or fixtures, keep the default: every plugin loaded."""

CALC = """
def add(a, b):
    return a + b


def div(a, b):
    return a / b
"""

PASSING_TESTS = """
from calc import add, div


def test_add():
    assert add(2, 3) == 5


def test_div():
    assert div(6, 3) == 2


class TestMore:
    def test_negative(self):
        assert add(-1, -1) == -2
"""

FAILING_TESTS = """
from calc import add, div


def test_add():
    assert add(2, 3) == 5


class TestBroken:
    def test_add_wrong(self):
        assert add(2, 2) == 5, "two and two make five"


def test_div_by_zero():
    assert div(1, 0) == 0
"""


async def test_all_passing(any_sandbox: ProcessSandbox, make_repo: MakeRepo) -> None:
    repo = make_repo({"calc.py": CALC, "tests/test_calc.py": PASSING_TESTS})
    gate = PytestGate(any_sandbox)
    assert isinstance(gate, Gate)
    result = await gate.check(repo)
    assert result.passed, result.output_tail
    assert result.gate == "tests"
    assert result.counts == {"tests": 3, "passed": 3, "failures": 0, "errors": 0, "skipped": 0}
    assert result.summary.startswith("3 passed in ")
    assert result.findings == []
    assert result.duration_s > 0
    assert not (repo / ".shopfloor").exists(), "the report must not be left in the worktree"
    assert not list(repo.rglob("__pycache__")), "no bytecode written into the worktree"


async def test_failing_assertion_is_named_and_explained(
    any_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo({"calc.py": CALC, "tests/test_calc.py": FAILING_TESTS})
    result = await PytestGate(any_sandbox, name="unit").check(repo)
    assert not result.passed
    assert result.gate == "unit"
    assert result.counts["failures"] == 2 and result.counts["passed"] == 1
    assert result.summary.startswith("1 passed, 2 failed in ")

    by_id = {f.message.split(": ", 1)[0]: f for f in result.findings}
    assert set(by_id) == {
        "tests/test_calc.py::TestBroken::test_add_wrong",
        "tests/test_calc.py::test_div_by_zero",
    }
    wrong = by_id["tests/test_calc.py::TestBroken::test_add_wrong"]
    assert "two and two make five" in wrong.message
    assert (wrong.file, wrong.line) == ("tests/test_calc.py", 10)
    assert "assert 4 == 5" in wrong.detail
    zero = by_id["tests/test_calc.py::test_div_by_zero"]
    assert "ZeroDivisionError" in zero.message
    assert (zero.file, zero.line) == ("calc.py", 6), "points at the line that raised"

    context = result.failure_context()
    assert "Gate 'unit' failed: 1 passed, 2 failed" in context
    assert "two and two make five" in context
    assert "assert 4 == 5" in context
    assert "tests/test_calc.py:10:" in context


COLOURED = {
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--color=yes"\n',
    "slug.py": "def unique(text):\n    return text + '-1'\n",
    "tests/test_slug.py": (
        "from slug import unique\n\n\ndef test_suffix():\n"
        "    assert unique('hello-world') == 'hello-world-2'\n"
    ),
}
"""python-slugify's pytest configuration asks for colour, which pytest then writes into
its output and, as ``#x1B[91m``, into each assertion diff of its JUnit report."""


async def test_a_project_asking_pytest_for_colour_gets_plain_findings(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo(COLOURED)
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    context = result.failure_context()
    assert "- hello-world-2" in context and "+ hello-world-1" in context
    for text in (context, result.output_tail):
        assert "\x1b" not in text and "#x1B" not in text, text


async def test_import_error_at_collection(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo(
        {
            "calc.py": CALC,
            "tests/test_calc.py": PASSING_TESTS,
            "tests/test_broken.py": "import calculus_missing\n\n\ndef test_x():\n    pass\n",
        }
    )
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    assert result.counts["errors"] == 1
    assert result.counts["passed"] == 3, "the modules that import still run"
    assert result.summary.startswith("3 passed, 1 error in ")
    [finding] = result.findings
    assert finding.message.startswith("tests/test_broken.py: error: collection failed: ")
    assert "No module named 'calculus_missing'" in finding.message
    assert (finding.file, finding.line) == ("tests/test_broken.py", 1)
    assert "calculus_missing" in result.failure_context()


async def test_no_tests_collected(process_sandbox: ProcessSandbox, make_repo: MakeRepo) -> None:
    repo = make_repo({"calc.py": CALC, "tests/helpers.py": "X = 1\n"})
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    assert result.summary == "no tests collected"
    assert "collected no tests" in result.failure_context()
    assert not (repo / ".shopfloor").exists()


async def test_crash_before_any_report(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo(
        {"conftest.py": "raise RuntimeError('conftest is broken')\n", "test_a.py": PASSING_TESTS}
    )
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    [finding] = result.findings
    assert finding.message == "pytest could not load conftest.py: RuntimeError: conftest is broken"
    assert result.summary == "conftest.py failed to load, so no test ran"
    assert "conftest is broken" in result.output_tail
    assert "conftest is broken" in result.failure_context()


async def test_a_conftest_with_a_syntax_error_is_named(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """pytest said "usage error (exit 4) and wrote no report: E   SyntaxError: invalid
    syntax", naming no file: the user had to dig the conftest out of the output."""
    repo = make_repo({"tests/conftest.py": "def broken(:\n", "tests/test_a.py": PASSING_TESTS})
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    [finding] = result.findings
    assert finding.message == "pytest could not load tests/conftest.py: SyntaxError: invalid syntax"
    assert (finding.file, finding.line) == ("tests/conftest.py", 1)
    assert "usage error" not in result.summary


async def test_timeout_and_extra_args(process_sandbox: ProcessSandbox, make_repo: MakeRepo) -> None:
    slow = "import time\n\n\ndef test_slow():\n    time.sleep(30)\n"
    repo = make_repo({"calc.py": CALC, "tests/test_calc.py": PASSING_TESTS, "slow/test_s.py": slow})
    only_fast = await PytestGate(process_sandbox, env=NO_PLUGINS, args=["tests"]).check(repo)
    assert only_fast.passed and only_fast.counts["tests"] == 3
    result = await PytestGate(process_sandbox, env=NO_PLUGINS, timeout_s=2).check(repo)
    assert not result.passed
    assert result.summary.startswith("timed out after 2s"), result.summary
    assert "did not finish within 2s" in result.findings[0].message
    assert not (repo / ".shopfloor").exists()


async def test_a_suite_killed_at_its_time_limit_says_how_far_it_got(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """A suite longer than the limit (shopfloor's own, audited: 'timed out after 600s' and
    nothing else after ten minutes) says how many tests ran, how much of the suite that
    was (when pytest printed it), how many failed by then, and which setting gives it more
    time."""
    quick = "".join(f"def test_{n}():\n    assert {n} != 3\n\n\n" for n in range(8))
    slow = "import time\n\n\ndef test_slow():\n    time.sleep(30)\n"
    repo = make_repo({"tests/test_a_quick.py": quick, "tests/test_b_slow.py": slow})
    result = await PytestGate(process_sandbox, env=NO_PLUGINS, timeout_s=4).check(repo)
    assert not result.passed
    assert result.summary.startswith("timed out after 4s (8 test(s) had run"), result.summary
    assert "; 1 of them failed or errored" in result.summary
    assert "test_timeout_s" in result.findings[0].message


async def test_a_suite_too_slow_at_baseline_is_not_new_when_it_gets_further(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """How far a killed suite got is in the summary; its finding reads the same each time,
    so a suite already too slow at baseline does not block a task under which it ran more
    tests (past pytest's first progress line, which alone prints a percentage)."""
    slow = "import time\n\n\ndef test_slow():\n    time.sleep(30)\n"
    quick = "".join(f"def test_{n}():\n    pass\n\n\n" for n in range(40))
    repo = make_repo({"tests/test_a_quick.py": quick, "tests/test_b_slow.py": slow})
    before = await PytestGate(process_sandbox, env=NO_PLUGINS, timeout_s=4).check(repo)
    assert "40 test(s) had run;" in before.summary, before.summary
    (repo / "tests" / "test_a_more.py").write_text(quick)
    after = await BaselineGate(
        PytestGate(process_sandbox, env=NO_PLUGINS, timeout_s=4), Baseline((before,))
    ).check(repo)
    assert "80 test(s) had run, about " in after.summary, after.summary
    assert after.passed and "nothing new since the baseline" in after.summary, after.summary


async def test_missing_workspace(process_sandbox: ProcessSandbox, tmp_path: Path) -> None:
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(tmp_path / "absent")
    assert not result.passed
    assert "cannot prepare workspace" in result.summary


async def test_existing_report_dir_is_kept(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    repo = make_repo({"calc.py": CALC, "tests/test_calc.py": PASSING_TESTS, ".shopfloor/keep": ""})
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert result.passed
    assert sorted(p.name for p in (repo / ".shopfloor").iterdir()) == ["keep"]


async def test_tests_that_lack_dependencies_are_said_to_lack_them(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # requests' suite run without its test dependencies read '410 passed, 4 failed, 205
    # errors', every error blamed on the code; a missing module of the project's own is the
    # code's, and stays uncounted.
    repo = make_repo(
        {
            "calc.py": CALC,
            "tests/test_calc.py": PASSING_TESTS,
            "tests/test_tls.py": "import trustme_not_here\n\n\ndef test_tls():\n    pass\n",
            "tests/test_web.py": "def test_get(httpbin):\n    pass\n\n\n"
            "def test_post(cert):\n    pass\n",
            "tests/test_own.py": "import calc.gone\n\n\ndef test_gone():\n    pass\n",
        }
    )
    result = await PytestGate(process_sandbox).check(repo)
    assert not result.passed
    assert result.summary.startswith("3 passed, 4 errors in ")
    assert result.summary.endswith(
        f"; 3 of them could not run, dependencies not installed for {sys.executable}: "
        "module 'trustme_not_here'; fixtures 'httpbin', 'cert' (a pytest plugin's?)"
    )


RUNS_ITS_COMMAND = """
import subprocess


def test_version():
    done = subprocess.run(["calc-cli", "--version"], capture_output=True, text=True)
    assert done.stdout == "1.0\\n"


def test_other_tool():
    subprocess.run(["not-the-projects-tool"], check=True)
"""


async def test_the_projects_own_command_not_installed_is_said_to_be_missing(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """python-dotenv's suite runs its ``dotenv`` command in a subprocess: on a Python that
    has not installed the project, 15 tests failed with FileNotFoundError and the baseline's
    summary blamed the code. A command the project declares is counted as a dependency not
    installed, with the fix; another program's absence stays the test's failure."""
    pyproject = '[project]\nname = "calc"\n\n[project.scripts]\ncalc-cli = "calc:main"\n'
    repo = make_repo(
        {"calc.py": CALC, "pyproject.toml": pyproject, "tests/test_cmd.py": RUNS_ITS_COMMAND}
    )
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    assert result.summary.startswith("0 passed, 2 failed in "), result.summary
    assert result.summary.endswith(
        f"; 1 of them could not run, dependencies not installed for {sys.executable}: "
        "command 'calc-cli' (the project's own: install it there, pip install -e .)"
    ), result.summary
    assert len(result.findings) == 2  # each failure is still a finding, keyed by its test


async def test_a_version_file_the_build_writes_is_said_to_be_missing(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """filelock's package imports ``filelock.version``, which hatch-vcs writes at build time
    (git ignores it): on a Python that has not installed the project, every test module
    failed to import and the summary named only the third-party modules it lacked."""
    pyproject = (
        '[project]\nname = "lock"\ndynamic = ["version"]\n\n'
        '[tool.hatch.build.hooks.vcs]\nversion-file = "src/lock/version.py"\n'
    )
    repo = make_repo(
        {
            "pyproject.toml": pyproject,
            "src/lock/__init__.py": "from .version import __version__\n",
            "src/calc/__init__.py": "from calc.gone_by_mistake import x\n",  # the code's
            "tests/test_lock.py": "import lock\n\n\ndef test_it():\n    assert lock\n",
            "tests/test_calc.py": "import calc\n",
        }
    )
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert not result.passed
    assert result.summary.endswith(
        f"; 1 of them could not run, dependencies not installed for {sys.executable}: "
        "module 'lock.version' (its build writes it: install the project there, pip install -e .)"
    ), result.summary


COV_ADDOPTS = "[pytest]\naddopts = -ra --cov-append --cov=calc\n    --cov-report html\n"


async def test_addopts_of_a_plugin_not_installed_are_left_out_and_the_tests_still_judged(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    """wcwidth's tox.ini gives pytest --cov options; without pytest-cov every run stopped
    with 'unrecognized arguments' (exit 4), no test run. At an update's baseline that was
    red, and the same after each task: the tests gate passed whatever a task broke."""
    repo = make_repo({"calc.py": CALC, "tox.ini": COV_ADDOPTS, "tests/test_c.py": FAILING_TESTS})
    result = await PytestGate(process_sandbox).check(repo)
    assert not result.passed
    assert result.summary.startswith("1 passed, 2 failed in "), result.summary
    assert result.summary.endswith(
        "; run without the project's addopts --cov-append --cov=calc --cov-report html: "
        f"no plugin installed for {sys.executable} takes them (pytest-cov?)"
    ), result.summary
    assert {f.key for f in result.findings} == {
        "tests/test_c.py::TestBroken::test_add_wrong",
        "tests/test_c.py::test_div_by_zero",
    }
    before = result  # a task that breaks a passing test is now told apart from the baseline
    broken = make_repo(
        {"calc.py": CALC.replace("a + b", "a - b"), "tox.ini": COV_ADDOPTS}
        | {"tests/test_c.py": FAILING_TESTS}
    )
    after = await BaselineGate(PytestGate(process_sandbox), Baseline((before,))).check(broken)
    assert not after.passed and after.summary.startswith("1 new problem(s)"), after.summary
    assert "tests/test_c.py::test_add" in {f.key for f in after.findings}


LACKING = f"dependencies not installed for {sys.executable}: module 'trio_not_here'"


async def test_a_suite_that_cannot_start_for_a_missing_module_says_so(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # httpx's suite, without its test dependencies: its pyproject's warning filter names
    # trio's warning class, and pytest stopped before collecting: 'pytest usage error (exit 4)'
    config = """
        [tool.pytest.ini_options]
        filterwarnings = ["error", "ignore::trio_not_here.TrioDeprecationWarning"]
    """
    repo = make_repo(
        {"calc.py": CALC, "tests/test_calc.py": PASSING_TESTS, "pyproject.toml": config}
    )
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert result.summary == f"pytest usage error (exit 4), no test ran: {LACKING}"


async def test_a_conftest_that_lacks_a_module_says_so(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # httpx's conftest imports trustme: 'tests/conftest.py failed to load, so no test ran'
    conftest = "import trio_not_here\n"
    files = {"calc.py": CALC, "tests/test_calc.py": PASSING_TESTS, "tests/conftest.py": conftest}
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(make_repo(files))
    assert result.summary == f"tests/conftest.py failed to load, so no test ran: {LACKING}"


async def test_tests_that_reach_for_the_network_are_said_to(
    process_sandbox: ProcessSandbox, make_repo: MakeRepo
) -> None:
    # requests' connect-timeout tests failed in the sandbox, which has no network, with
    # '[Errno 101] Network is unreachable', counted among the code's failures unsaid.
    offline = """
        import errno


        def test_connect():
            raise OSError(errno.ENETUNREACH, "Network is unreachable")


        def test_resolve():
            raise OSError(-3, "Temporary failure in name resolution")


        def test_wrong():
            assert 1 == 2
    """
    repo = make_repo({"calc.py": CALC, "tests/test_web.py": offline})
    result = await PytestGate(process_sandbox, env=NO_PLUGINS).check(repo)
    assert result.summary.startswith("0 passed, 3 failed in ")
    assert result.summary.endswith("s; 2 of them could not reach the network")
