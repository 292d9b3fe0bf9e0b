"""mypy checks a project's code against the version of the project's Python, not shopfloor's.

mypy takes the version it runs on unless told: a project on Python 3.12 (its ``.venv``) had
its ``type`` statements and ``itertools.batched`` reported as type errors by the types gate
on shopfloor's 3.11, and no attempt could ever pass it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gates.config import GatesConfig
from gates.interpreter import candidates, find_project_python
from gates.mypy_gate import python_version_of
from gates.profiles import build_gates
from gates.sandbox import ProcessSandbox
from tests.gates.test_project_python import make_repo

NEWER = "from itertools import batched\n\ntype Pairs = list[tuple[int, ...]]\n\n\n" + (
    "def pairs() -> Pairs:\n    return list(batched([1, 2, 3], 2))\n"
)


def other_python() -> str:
    """An installed Python 3.12 or later of another minor version than shopfloor's."""
    for minor in range(12, 16):
        if minor == sys.version_info.minor:
            continue
        found = shutil.which(f"python3.{minor}")
        if found and subprocess.run([found, "-c", ""], capture_output=True).returncode == 0:
            return found
        pyenv = Path.home() / ".pyenv" / "versions"
        for home in sorted(pyenv.glob(f"3.{minor}.*")):
            if (home / "bin" / "python3").is_file():
                return str(home / "bin" / "python3")
    pytest.skip("no Python 3.12+ of another minor version installed")


def make_plain_venv(python: str, where: Path) -> None:
    subprocess.run([python, "-m", "venv", "--without-pip", str(where)], check=True)


async def test_mypy_targets_the_version_of_the_projects_python(tmp_path: Path) -> None:
    python = other_python()
    repo = make_repo(
        tmp_path / "repo", {"pyproject.toml": "[tool.mypy]\nstrict = true\n", "app.py": NEWER}
    )
    make_plain_venv(python, repo / ".venv")
    version = python_version_of(str(repo / ".venv" / "bin" / "python"))
    assert version is not None and version != sys.version_info[:2]
    found = candidates(repo, None, {})
    sandbox = ProcessSandbox(use_bwrap=False, extra_readable=found.readable_dirs())
    try:
        project = await find_project_python(found, sandbox)
        assert project.version.startswith("{}.{}.".format(*version))
        gates = build_gates(repo, GatesConfig(), sandbox, python=project.path)
        passed = await next(g for g in gates.task if g.name == "types").check(repo)
        # The project's own configuration pins the version: it wins.
        (repo / "pyproject.toml").write_text(
            '[tool.mypy]\nstrict = true\npython_version = "3.11"\n'
        )
        gates = build_gates(repo, GatesConfig(), sandbox, python=project.path)
        pinned = await next(g for g in gates.task if g.name == "types").check(repo)
    finally:
        sandbox.close()
    assert passed.passed, passed.summary
    assert not pinned.passed and "requires Python 3.12" in str(pinned.findings), pinned.findings


def test_the_version_is_read_from_pyvenv_cfg_or_the_name_the_links_lead_to(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.13.1.final.0\n")
    assert python_version_of(str(venv / "bin" / "python")) == (3, 13)
    conda = tmp_path / "conda" / "bin"
    conda.mkdir(parents=True)
    (conda / "python3.12").write_text("")
    (conda / "python").symlink_to("python3.12")
    assert python_version_of(str(conda / "python")) == (3, 12)
    (tmp_path / "bare").write_text("")
    assert python_version_of(str(tmp_path / "bare")) is None
