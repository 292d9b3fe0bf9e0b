"""The pure pieces of update and audit mode: mode detection, the baseline guard, the repo
facts an audit reports (untested modules, located findings) and what a run learns."""

from __future__ import annotations

from pathlib import Path

from engine.audit_checkout import untested_modules
from engine.audit_report import AuditGate, AuditReport, AuditReview, audit_learnings, located
from engine.blueprint import Blueprint, Task
from engine.events import (
    BlueprintProposed,
    GateFinished,
    ReviewRoundFinished,
    ReviewScored,
    RunStarted,
    TaskState,
    TaskStateChanged,
)
from engine.protocols import Finding, GateResult
from engine.recon import Baseline, BaselineGate, detect_mode, guard, recon_notes
from engine.stages import learnings
from engine.state import RunState


class StaticGate:
    def __init__(self, name: str, passed: bool, summary: str = "") -> None:
        self.name = name
        self.passed = passed
        self.summary = summary or ("clean" if passed else "1 failed")

    async def check(self, workspace: Path) -> GateResult:
        return GateResult(gate=self.name, passed=self.passed, summary=self.summary)


def test_an_empty_project_is_created_and_one_with_code_is_updated() -> None:
    assert detect_mode([]) == "create"
    assert detect_mode(["README.md", "LICENSE", ".gitignore", "pyproject.toml"]) == "create"
    assert detect_mode(["README.md", "pkg/__init__.py"], {"pkg/__init__.py": 0}) == "create"
    assert detect_mode(["README.md", "pkg/core.py"]) == "update"
    assert detect_mode(["docs/guide.md", "main.py"]) == "update"


async def test_a_gate_green_at_baseline_and_red_after_says_who_broke_it() -> None:
    baseline = Baseline(
        (
            GateResult(gate="tests", passed=True, summary="3 passed"),
            GateResult(gate="lint", passed=False, summary="2 problems"),
        )
    )
    broke = await BaselineGate(StaticGate("tests", False, "1 failed"), baseline).check(Path("."))
    assert not broke.passed
    assert broke.summary == "you broke tests, which was green before this run: 1 failed"
    old_red = await BaselineGate(StaticGate("lint", False, "2 problems"), baseline).check(Path("."))
    assert old_red.passed and "red at baseline" in old_red.summary
    unknown = await BaselineGate(StaticGate("types", False), baseline).check(Path("."))
    assert not unknown.passed and unknown.summary == "1 failed"
    green = await BaselineGate(StaticGate("tests", True), baseline).check(Path("."))
    assert green.passed and green.summary == "clean"
    gates = [StaticGate("tests", True)]
    assert guard(gates, None) == gates
    assert [g.name for g in guard(gates, baseline)] == ["tests"]


def test_the_planner_of_an_update_hears_the_map_and_what_must_stay_green() -> None:
    baseline = Baseline((GateResult(gate="tests", passed=True, summary="ok"),))
    notes = recon_notes("pkg/core.py: def greet", baseline)
    assert "UPDATE MODE" in notes and "pkg/core.py: def greet" in notes
    assert "green at baseline (they must stay green): tests" in notes


def test_untested_modules_are_those_no_test_imports(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "",
        "pkg/core.py": "def f():\n    return 1\n",
        "pkg/extra.py": "def g():\n    return 2\n",
        "pkg/sub/deep.py": "X = 1\n",
        "tests/test_core.py": "from pkg.core import f\nfrom pkg.sub import deep\n",
        "src/lib/thing.py": "Y = 2\n",
        "tests/test_thing.py": "import lib.thing\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert untested_modules(tmp_path, sorted(files)) == ["pkg/extra.py"]


def test_files_a_tool_runs_are_not_untested_modules(tmp_path: Path) -> None:
    # click's audit listed docs/conf.py, sampleproject's noxfile.py, as modules no test imports
    files = {
        "noxfile.py": "import nox\n",
        "setup.py": "from setuptools import setup\n",
        "docs/conf.py": "project = 'x'\n",
        "doc/source/conf.py": "project = 'x'\n",
        "pkg/conf.py": "LIMIT = 3\n",
        "tools/noxfile.py": "X = 1\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert untested_modules(tmp_path, sorted(files)) == ["pkg/conf.py", "tools/noxfile.py"]


def test_a_reviewer_finding_is_located_when_it_names_file_and_line() -> None:
    finding = located("billing/gateway.py:5: a live key is committed")
    assert (finding.file, finding.line, finding.message) == (
        "billing/gateway.py",
        5,
        "a live key is committed",
    )
    assert located("the design is unclear").file is None


def test_an_audit_teaches_its_red_gates_and_located_review_findings() -> None:
    report = AuditReport(
        run_id="r1",
        request="audit",
        repo="/repo",
        commit="abc",
        gates=[
            AuditGate(
                name="lint",
                passed=False,
                summary="1 problem",
                findings=[Finding(message="F401 unused", file="a.py", line=3)],
            ),
            AuditGate(name="tests", passed=True, summary="ok"),
        ],
        reviews=[
            AuditReview(
                reviewer="reviewer-1",
                score=60,
                findings=[located("a.py:9: off by one"), located("no location here")],
            )
        ],
    )
    taught = audit_learnings(report)
    assert [(k, s) for k, _t, s, _tags in taught] == [
        ("trap", "audit:lint"),
        ("rule", "audit:reviewer-1:1"),
    ]
    assert "`a.py:3` F401 unused" in taught[0][1] and "a.py" in taught[0][3]
    markdown = report.to_markdown()
    assert "### FAIL lint: 1 problem" in markdown and "`a.py:9` off by one" in markdown


def test_a_run_learns_its_retries_with_the_first_failure_and_the_reviews_that_held_it() -> None:
    plan = Blueprint(
        spec="s",
        acceptance_criteria=["a"],
        tasks=[Task(id="pricing", title="Pricing rounding", files=["inv/pricing.py"])],
    )
    events = [
        RunStarted(
            request="r", repo="/r", base_branch="main", base_commit="c", integration_branch="w"
        ),
        BlueprintProposed(blueprint=plan),
        ReviewScored(reviewer="reviewer-1", model="m", round=1, score=70, findings=["too big"]),
        ReviewScored(reviewer="reviewer-2", model="m", round=1, score=99, findings=["fine"]),
        ReviewRoundFinished(round=1, scores={}, threshold=95, quorum=2, passed=False),
        TaskStateChanged(task_id="pricing", state=TaskState.RUNNING, attempt=1),
        GateFinished(
            gate="tests",
            scope="task",
            task_id="pricing",
            attempt=1,
            passed=False,
            summary="1 failed",
            findings=["tests/test_pricing.py:4: half cent rounds down"],
        ),
        TaskStateChanged(task_id="pricing", state=TaskState.RUNNING, attempt=2),
        TaskStateChanged(task_id="pricing", state=TaskState.MERGED, attempt=2),
    ]
    taught = learnings(RunState.fold(events))
    by_source = {source: (kind, text, tags) for kind, text, source, tags in taught}
    kind, text, tags = by_source["retry:pricing"]
    assert kind == "trap" and "half cent rounds down" in text
    assert {"pricing", "Pricing rounding", "inv/pricing.py"} <= set(tags)
    assert by_source["review:reviewer-1:r1:1"][:2] == ("rule", "plan review: too big")
    assert not any(s.startswith("review:reviewer-2") for s in by_source)


def test_a_module_a_test_imports_by_its_name_is_not_untested(tmp_path: Path) -> None:
    """python-slugify's tests take slugify._legacy with importlib.import_module("...") and
    call it; its audit listed slugify/_legacy.py as a module no test imports."""
    files = {
        "slugify/__init__.py": "",
        "slugify/_legacy.py": "def slugify(t):\n    return t\n",
        "slugify/core.py": "X = 1\n",
        "slugify/dunder.py": "Y = 2\n",
        "slugify/inner.py": "Z = 3\n",
        "slugify/relative.py": "W = 4\n",
        "tests/test_legacy.py": (
            "import importlib\n\nlegacy = importlib.import_module('slugify._legacy')\n\n\n"
            "def test():\n    legacy.slugify('a')\n"
        ),
        "tests/test_core.py": (
            "from importlib import import_module\n\n\ndef test():\n"
            "    assert import_module('slugify.core').X == 1\n"
            "    __import__('slugify.dunder')\n"
            "    import_module('.relative', 'slugify')\n"
        ),
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert untested_modules(tmp_path, sorted(files)) == [
        "slugify/inner.py",
        "slugify/relative.py",  # relative to a package given apart: not followed
    ]


def test_a_module_tested_through_its_packages_re_exports_is_not_untested(
    tmp_path: Path,
) -> None:
    """humanize's audit listed filesize.py, i18n.py and lists.py as untested: its tests call
    humanize.naturalsize(...), which humanize/__init__.py takes from humanize.filesize."""
    files = {
        "src/humanize/__init__.py": (
            "from humanize.filesize import naturalsize\n"
            "from .lists import natural_list as natlist\n"
            "from . import i18n\n"
            "from .sub import *\n"
            "from .other import *\n"  # two star imports: package.X is tried in each, once
            "from .unused import nothing_tests_use\n"
        ),
        "src/humanize/filesize.py": "def naturalsize(n):\n    return str(n)\n",
        "src/humanize/lists.py": "def natural_list(xs):\n    return xs\n",
        "src/humanize/i18n.py": "def activate(x):\n    return x\n",
        "src/humanize/unused.py": "def nothing_tests_use():\n    return 0\n",
        "src/humanize/sub/__init__.py": "from .deep import helper\n",
        "src/humanize/sub/deep.py": "def helper():\n    return 1\n",
        "src/humanize/sub/lonely.py": "X = 1\n",
        "src/humanize/other.py": "from humanize.sub import *\n",
        "tests/test_filesize.py": "import humanize\n\n\ndef test():\n    humanize.naturalsize(1)\n",
        "tests/test_lists.py": "from humanize import natlist\n",
        "tests/test_i18n.py": "import humanize as h\n\n\ndef test():\n    h.i18n.activate('x')\n",
        "tests/test_deep.py": "from humanize import helper\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert untested_modules(tmp_path, sorted(files)) == [
        "src/humanize/sub/lonely.py",
        "src/humanize/unused.py",
    ]


def test_a_module_tested_through_the_test_packages_alias_is_not_untested(
    tmp_path: Path,
) -> None:
    """tomli's audit listed src/tomli/_parser.py as untested: its tests/__init__.py has
    ``import tomli as tomllib`` and each test ``from . import tomllib`` then calls
    ``tomllib.loads``, which tomli/__init__.py takes from tomli._parser."""
    files = {
        "src/tomli/__init__.py": "from ._parser import loads\n",
        "src/tomli/_parser.py": "def loads(s):\n    return {}\n",
        "src/tomli/_writer.py": "def dumps(d):\n    return ''\n",
        "tests/__init__.py": "import tomli as tomllib\nimport json\n",
        "tests/test_misc.py": "from . import tomllib\n\n\ndef test():\n    tomllib.loads('')\n",
        "tests/test_json.py": "from . import json\n",  # the __init__'s other binding
        "other/test_elsewhere.py": "from . import tomllib\n",  # not that folder's __init__
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert untested_modules(tmp_path, sorted(files)) == ["src/tomli/_writer.py"]


def test_a_tool_that_failed_outright_is_said_once_in_the_report() -> None:
    """pluggy's audit: '### FAIL types: mypy failed (exit 2): …' and the same line again as
    its one finding below it."""
    stopped = "mypy failed (exit 2): noxfile.py: error: Cannot read file"
    report = AuditReport(
        run_id="r1",
        request="audit",
        repo="/repo",
        commit="abc",
        gates=[
            AuditGate(
                name="types", passed=False, summary=stopped, findings=[Finding(message=stopped)]
            )
        ],
    )
    assert report.to_markdown().count(stopped) == 1
