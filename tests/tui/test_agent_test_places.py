"""Where the composition root tells the agents' ``run_tests`` to run a repository's tests:
where its gates run them (``tui.crew_setup.project_tests``)."""

from __future__ import annotations

from pathlib import Path

from agents.project_tests import ProjectTests
from gates.config import GatesConfig
from tui.crew_setup import project_tests


def write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_a_node_package_runs_its_test_script_and_no_pytest(tmp_path: Path) -> None:
    """path-to-regexp (a package.json, a few scripts, no Python tests): ``run_tests`` was
    given pytest's ``"."`` whatever the repository held, and said ``no tests ran``."""
    repo = write(tmp_path, {"package.json": "{}", "src/index.ts": "", "scripts/gen.py": ""})
    assert project_tests(repo, GatesConfig()) == ProjectTests(
        pytest_projects=(), node_packages=(".",), checkout=repo
    )
    wanted = project_tests(repo, GatesConfig(enable=("tests",)))  # the tests gate asked for
    assert wanted.pytest_projects == (".",)


def test_a_python_project_with_a_front_end_runs_both(tmp_path: Path) -> None:
    repo = write(tmp_path, {"pyproject.toml": "", "app/__init__.py": "", "web/package.json": "{}"})
    assert project_tests(repo, GatesConfig()) == ProjectTests(
        pytest_projects=(".",), node_packages=("web",), checkout=repo
    )


def test_a_repository_without_node_keeps_pytest(tmp_path: Path) -> None:
    """A new repository (a README) or a Python one: pytest where the tests gate runs it."""
    readme = write(tmp_path / "new", {"README.md": "# x\n"})
    assert project_tests(readme, GatesConfig()).pytest_projects == (".",)
    mono = write(tmp_path / "mono", {"services/api/pyproject.toml": "", "services/api/a.py": ""})
    assert project_tests(mono, GatesConfig()).pytest_projects == ("services/api",)
