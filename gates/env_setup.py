"""The command that makes a repository's own virtualenv, for the warning that none was found.

pluggy and iniconfig declare their test dependencies in PEP 735 ``[dependency-groups]``
(``testing``, ``dev``), which tox (``dependency_groups = testing``) and uv install, not in an
extra; with no ``.venv`` their tests ran on shopfloor's Python, and the warning said only "set
[gates] python to the project's interpreter", leaving the user to find how to make one that
has pytest. The command here makes ``REPO/.venv``, which the gates then take by themselves
(``gates.interpreter``): ``uv sync`` for a project uv locks, where uv is installed (it
installs the project and its default groups), else a venv with the project installed
editable and the groups or extras that hold pytest — ``--group`` needs pip 25.1, newer than
a fresh venv's, so pip is upgraded first.
"""

from __future__ import annotations

import re
import shlex
import shutil
import tomllib
from pathlib import Path
from typing import Any

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _requirement_names(items: object) -> list[str]:
    """The distribution names of a list of requirements (an include-group table is not
    one: it names another group)."""
    if not isinstance(items, list):
        return []
    names = []
    for item in items:
        found = _NAME.match(item) if isinstance(item, str) else None
        if found:
            names.append(found.group(1).lower().replace("_", "-"))
    return names


def _groups_with_pytest(groups: dict[str, Any]) -> list[str]:
    """The dependency groups that list pytest themselves. A group that only includes one
    (filelock's ``dev`` and ``type`` include ``test`` beside ``docs``, Sphinx 9.1 for Python
    3.12 and up) is left out: installing it failed on Python 3.11, for tools the tests never
    use, and the group holding pytest is installed all the same."""
    return [name for name, items in groups.items() if "pytest" in _requirement_names(items)]


def venv_command(repo: Path) -> str:
    """A shell command, to paste as it is, that makes ``repo/.venv`` with the project and
    what its tests need; empty when the repository declares nothing to install."""
    where = shlex.quote(str(repo))
    if (repo / "uv.lock").is_file() and shutil.which("uv"):
        return f"cd {where} && uv sync"
    try:
        data = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        data = {}
    pip = ".venv/bin/python -m pip install"
    steps = [f"cd {where}", "python3 -m venv .venv"]
    if data.get("project") or (repo / "setup.py").is_file():
        groups = data.get("dependency-groups")
        chosen = _groups_with_pytest(groups) if isinstance(groups, dict) else []
        extras = data.get("project", {}).get("optional-dependencies")
        extras = extras if isinstance(extras, dict) else {}
        tested = [name for name, items in extras.items() if "pytest" in _requirement_names(items)]
        target = "-e " + shlex.quote(f".[{','.join(tested)}]") if tested else "-e ."
        if chosen:
            steps.append(f"{pip} -U pip")
        steps.append(" ".join([pip, target, *(f"--group {name}" for name in chosen)]))
        return " && ".join(steps)
    files = [n for n in ("requirements.txt", "requirements-dev.txt") if (repo / n).is_file()]
    if not files:
        return ""
    steps.append(" ".join([pip, *(f"-r {name}" for name in files)]))
    return " && ".join(steps)
