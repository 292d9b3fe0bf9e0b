"""A project whose build writes its version module (hatch-vcs, setuptools-scm) into the
package, where git ignores it: the factory's worktrees get the user's copy, so the package
imports there as it does in the checkout, and no commit carries the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_helpers import git, make_repo

from engine.audit import run_audit
from engine.audit_checkout import snapshot
from engine.generated_files import generated_files
from engine.workspace import GitWorkspaces
from gates.pytest_gate import PytestGate
from gates.sandbox import ProcessSandbox

HATCH = '[tool.hatch]\nbuild.hooks.vcs.version-file = "src/pkg/_version.py"\n'
INIT = 'from ._version import __version__\n\n__all__ = ["__version__"]\n'
TEST = "import pkg\n\n\ndef test_version() -> None:\n    assert pkg.__version__ == '1.2.3'\n"


@pytest.fixture
def sandbox() -> Iterator[ProcessSandbox]:
    box = ProcessSandbox(use_bwrap=False)
    yield box
    box.close()


def project(path: Path, pyproject: str) -> Path:
    """A src-layout project as its developer has it: committed, then installed (the build
    wrote the ignored ``_version.py``)."""
    repo = make_repo(
        path,
        {
            "pyproject.toml": pyproject,
            ".gitignore": "src/*/_version.py\n",
            "src/pkg/__init__.py": INIT,
            "tests/test_pkg.py": TEST,
        },
    )
    (repo / "src/pkg/_version.py").write_text("__version__ = '1.2.3'\n", encoding="utf-8")
    return repo


async def test_the_tests_gate_passes_in_a_worktree_as_in_the_checkout(
    tmp_path: Path, worktree_root: Path, sandbox: ProcessSandbox
) -> None:
    """humanize's suite passed in its checkout (715 tests) and was "0 passed, 6 errors"
    in every worktree of the run: ModuleNotFoundError: No module named 'humanize._version'."""
    repo = project(tmp_path / "repo", HATCH)
    ws = GitWorkspaces(repo, "run1", worktree_root)
    worktree = await ws.add_worktree("attempt", ws.base_commit)
    gate = PytestGate(sandbox, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, timeout_s=60)
    result = await gate.check(worktree)
    assert result.passed, result.summary
    assert "1 passed" in result.summary

    (worktree / "src/pkg/extra.py").write_text("X = 1\n", encoding="utf-8")
    (worktree / "src/pkg/_cache.py").write_text("Y = 1\n", encoding="utf-8")
    (worktree / ".gitignore").write_text("src/*/_version.py\nsrc/*/_cache.py\n")
    notes: list[str] = []
    made = await ws.commit_all(worktree, "extra", note=notes.append)
    assert made is not None
    listed = git(repo, "show", "--name-only", "--format=", made).split()
    assert listed == [".gitignore", "src/pkg/extra.py"]  # the copy is not committed
    # nor said to be left out, as an ignored source file the agent wrote is
    said = [n.partition(" (")[0] for n in notes if "not committed" in n]
    assert said == ["not committed, the repository's ignore rules match them: src/pkg/_cache.py"], (
        notes
    )


async def test_a_version_file_git_would_commit_is_not_copied(
    tmp_path: Path, worktree_root: Path
) -> None:
    repo = project(tmp_path / "repo", HATCH)
    (repo / ".gitignore").write_text("", encoding="utf-8")
    git(repo, "commit", "-q", "-am", "ignore nothing")
    ws = GitWorkspaces(repo, "run1", worktree_root)
    worktree = await ws.add_worktree("attempt", ws.base_commit)
    assert not (worktree / "src/pkg/_version.py").exists()


@pytest.mark.parametrize(
    ("pyproject", "expected"),
    [
        (HATCH, ["src/pkg/_version.py"]),
        ('[tool.hatch.build.hooks.vcs]\nversion-file = "pkg/_v.py"\n', ["pkg/_v.py"]),
        ('[tool.setuptools_scm]\nversion_file = "src/a/_version.py"\n', ["src/a/_version.py"]),
        ('[tool.setuptools_scm]\nwrite_to = "a/version.py"\n', ["a/version.py"]),
        ('[tool.setuptools_scm]\nwrite_to = "../outside.py"\n', []),
        ('[tool.setuptools_scm]\nwrite_to = "/etc/passwd"\n', []),
        ("[tool.setuptools_scm]\n", []),
        ("not toml [", []),
    ],
)
def test_the_generated_files_come_from_pyproject(
    tmp_path: Path, pyproject: str, expected: list[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    assert generated_files(tmp_path) == expected


async def test_the_audit_snapshot_carries_the_version_file(
    tmp_path: Path, sandbox: ProcessSandbox
) -> None:
    """'Audit humanize' reported types and tests red on a green project: the audit's copy
    of the checkout left out the ignored humanize/_version.py, so no test file collected."""
    repo = project(tmp_path / "repo", HATCH)
    gate = PytestGate(sandbox, env={"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}, timeout_s=60)
    report = await run_audit(
        run_id="r1",
        request="Audit",
        repo=repo,
        commit=git(repo, "rev-parse", "HEAD"),
        gates=[gate],
        reviewers=[],
        emit=lambda event: None,
    )
    (entry,) = report.gates
    assert entry.passed, entry.summary
    assert "1 passed" in entry.summary
    scratch = tmp_path / "scratch"
    tree = snapshot(repo, scratch)
    assert (tree / "src/pkg/_version.py").read_text() == "__version__ = '1.2.3'\n"
    assert git(tree, "ls-files", "src/pkg").split() == ["src/pkg/__init__.py"]  # not committed


def test_a_monorepo_subprojects_version_files_are_found(tmp_path: Path) -> None:
    """The detection read only the top pyproject.toml: a monorepo's services/api kept its
    hatch-vcs setting in its own, and its worktrees lacked the file."""
    files = {
        "pyproject.toml": "[tool.ruff]\n",
        "services/api/pyproject.toml": HATCH,
        "libs/core/setup.py": (
            "from setuptools import setup\n\n"
            "SCM = {'write_to': 'core/_version.py', 'local_scheme': 'no-local-version'}\n"
            "setup(name='core', use_scm_version=SCM)\n"
        ),
        "libs/util/setup.py": (
            "from setuptools import setup\n"
            "setup(use_scm_version={'version_file': 'util/version.py'})\n"
        ),
        "libs/plain/setup.py": "from setuptools import setup\nsetup(use_scm_version=True)\n",
        "a/b/c/d/pyproject.toml": HATCH,  # deeper than detection looks
        "node_modules/x/pyproject.toml": HATCH,
        ".hidden/pyproject.toml": HATCH,
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert sorted(generated_files(tmp_path)) == [
        "libs/core/core/_version.py",
        "libs/util/util/version.py",
        "services/api/src/pkg/_version.py",
    ]


async def test_a_subprojects_version_file_reaches_the_worktree(
    tmp_path: Path, worktree_root: Path
) -> None:
    repo = make_repo(
        tmp_path / "repo",
        {
            "services/api/pyproject.toml": HATCH,
            ".gitignore": "_version.py\n",
            "services/api/src/pkg/__init__.py": INIT,
        },
    )
    (repo / "services/api/src/pkg/_version.py").write_text("__version__ = '2'\n")
    ws = GitWorkspaces(repo, "run1", worktree_root)
    worktree = await ws.add_worktree("attempt", ws.base_commit)
    assert (worktree / "services/api/src/pkg/_version.py").read_text() == "__version__ = '2'\n"
