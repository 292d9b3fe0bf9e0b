"""The warning that a repository has no virtualenv names the command that makes one with what
its tests need: pluggy and iniconfig keep pytest in PEP 735 ``[dependency-groups]``."""

from __future__ import annotations

import shlex
import stat
from pathlib import Path

import pytest

from gates.env_setup import venv_command
from gates.interpreter import candidates, declared_dependencies, find_project_python
from gates.sandbox import ProcessSandbox

PLUGGY_SHAPE = """\
[project]
name = "pluggy"
dynamic = ["version"]

[dependency-groups]
dev = ["pre-commit"]
testing = ["pytest>=8", "pytest-benchmark", "coverage"]
"""


@pytest.fixture
def no_uv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH without uv (and without much else: the command is only built, not run)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


def repo_with(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


@pytest.mark.usefixtures("no_uv")
def test_the_groups_holding_pytest_are_installed_with_a_pip_that_knows_groups(
    tmp_path: Path,
) -> None:
    repo = repo_with(tmp_path / "my repo", {"pyproject.toml": PLUGGY_SHAPE, "uv.lock": ""})
    assert venv_command(repo) == (
        f"cd {shlex.quote(str(repo))} && python3 -m venv .venv"
        " && .venv/bin/python -m pip install -U pip"
        " && .venv/bin/python -m pip install -e . --group testing"
    )


@pytest.mark.usefixtures("no_uv")
def test_an_extra_and_the_group_holding_pytest_not_one_including_it(tmp_path: Path) -> None:
    repo = repo_with(
        tmp_path / "repo",
        {
            "pyproject.toml": '[project]\nname = "x"\n'
            '[project.optional-dependencies]\ntest = ["pytest_cov", "PyTest[x]>=8"]\n'
            "[dependency-groups]\nci = [{include-group = 'base'}, 'tox']\nbase = ['pytest']\n"
        },
    )
    assert venv_command(repo).endswith(
        "pip install -U pip && .venv/bin/python -m pip install -e '.[test]' --group base"
    )


@pytest.mark.usefixtures("no_uv")
def test_groups_that_only_include_the_test_group_are_left_out(tmp_path: Path) -> None:
    # filelock's shape: dev and type include test beside docs (Sphinx 9.1, Python >= 3.12).
    groups = (
        "[dependency-groups]\n"
        "dev = [{include-group = 'docs'}, {include-group = 'test'}]\n"
        "test = ['pytest>=9', 'pytest-mock']\n"
        "type = ['ty', {include-group = 'docs'}, {include-group = 'test'}]\n"
        "docs = ['sphinx>=9.1']\n"
    )
    repo = repo_with(tmp_path / "lock", {"pyproject.toml": '[project]\nname = "x"\n' + groups})
    assert venv_command(repo).endswith("python -m pip install -e . --group test")


@pytest.mark.usefixtures("no_uv")
def test_requirements_files_alone(tmp_path: Path) -> None:
    repo = repo_with(tmp_path / "repo", {"requirements.txt": "httpx\n", "app.py": ""})
    assert venv_command(repo).endswith("&& .venv/bin/python -m pip install -r requirements.txt")
    assert venv_command(repo_with(tmp_path / "bare", {"app.py": ""})) == ""


def test_a_project_uv_locks_is_synced_where_uv_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uv = bin_dir / "uv"
    uv.write_text("#!/bin/sh\n")
    uv.chmod(uv.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(bin_dir))
    repo = repo_with(tmp_path / "repo", {"pyproject.toml": PLUGGY_SHAPE, "uv.lock": ""})
    assert venv_command(repo) == f"cd {repo} && uv sync"


async def test_the_warning_names_the_command(tmp_path: Path) -> None:
    """It said only "set [gates] python to the project's interpreter"."""
    repo = repo_with(tmp_path / "repo", {"pyproject.toml": PLUGGY_SHAPE, "app.py": ""})
    sandbox = ProcessSandbox()
    try:
        python = await find_project_python(candidates(repo, None, {}), sandbox)
    finally:
        sandbox.close()
    assert python.own
    assert (
        f"; make the repository's own .venv with `{venv_command(repo)}`, "
        "or set [gates] python to the project's interpreter"
    ) in python.warning
    assert "--group testing`" in python.warning


@pytest.mark.parametrize(
    ("setup_cfg", "declared"),
    [
        ("[egg_info]\ntag_build = \ntag_date = 0\n", ""),  # what an sdist adds
        ("[flake8]\nmax-line-length = 100\n", ""),
        ("[options]\ninstall_requires =\n    httpx\n", "setup.cfg"),
        ("[options.extras_require]\ntest = pytest\n", "setup.cfg"),
    ],
    ids=["sdist-egg-info", "flake8", "install-requires", "extras"],
)
def test_a_setup_cfg_declares_dependencies_only_when_it_names_some(
    tmp_path: Path, setup_cfg: str, declared: str
) -> None:
    """iniconfig's sdist: '(pyproject.toml, setup.cfg)' for a setup.cfg of [egg_info] alone."""
    repo = repo_with(tmp_path / "repo", {"setup.cfg": setup_cfg, "app.py": ""})
    assert declared_dependencies(repo) == declared
