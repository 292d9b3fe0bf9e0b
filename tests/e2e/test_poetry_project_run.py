"""A Poetry project's run says, at its start and in ``status``, that its tests and mypy run on
the environment Poetry keeps in its cache folder, asked of Poetry itself (a small ``poetry``
answering ``poetry env info --path`` stands for the tool)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.e2e.test_modes_and_learning import EXAMPLES, audit_example, cli, git
from tests.gates.test_env_tools import answers, tool
from tests.gates.test_project_python import make_venv

pytestmark = pytest.mark.e2e


async def test_a_poetry_projects_run_names_poetrys_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPFLOOR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SHOPFLOOR_DB", raising=False)
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "audit" / "seed", repo)
    with (repo / "pyproject.toml").open("a") as pyproject:
        pyproject.write('\n[tool.poetry.dependencies]\npython = "^3.11"\n')
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "billing, on Poetry")
    cache = tmp_path / "poetry-cache" / "virtualenvs" / "billing-Tq3-py3.11"
    venv_python = make_venv(cache)
    tool(tmp_path / "bin", "poetry", answers("env info --path", f"echo {cache}"))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{Path(shutil.which('git') or '').parent}")

    code, out = await audit_example(repo, tmp_path / "report")
    assert code == 0, out
    said = f"python for the tests and mypy: {venv_python} (Python "
    why = "Poetry's environment (poetry env info --path))"
    line = next(line for line in out.splitlines() if line.startswith(said))
    assert line.endswith(why), out
    run_id = out.split("run ", 1)[1].split()[0]
    code, status = await cli("status", run_id)
    assert code == 0 and " ".join(line.split()) in " ".join(status.split()), status
