"""The commands a Python project declares for itself (its console scripts).

A test suite that runs the project's own command in a subprocess (python-dotenv's
``run_dotenv`` runs ``dotenv``) fails with ``FileNotFoundError`` where the project is not
installed in the Python the tests run on: the code is fine, the environment lacks it. The
tests gate (``gates.pytest_output``) counts such failures as a dependency not installed,
naming the command, rather than leaving them read as the code's.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path
from typing import Any

_SETUP_PY_SCRIPT = re.compile(r"""["']\s*([\w.-]+)\s*=\s*[\w.]+(?:\s*:\s*[\w.]+)?\s*["']""")
"""``"name = package.module:function"`` in a setup.py's ``console_scripts`` list."""


def project_commands(folder: Path) -> frozenset[str]:
    """The console and GUI scripts ``folder``'s packaging declares: pyproject.toml's
    ``[project.scripts]``, ``[project.gui-scripts]`` and Poetry's ``[tool.poetry.scripts]``,
    setup.cfg's ``[options.entry_points]``, setup.py's ``console_scripts``. Unreadable
    files declare nothing."""
    names: set[str] = set()
    names |= _from_pyproject(folder / "pyproject.toml")
    names |= _from_setup_cfg(folder / "setup.cfg")
    names |= _from_setup_py(folder / "setup.py")
    return frozenset(names)


def _from_pyproject(path: Path) -> set[str]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return set()
    project = _table(data, "project")
    tables = (
        _table(project, "scripts"),
        _table(project, "gui-scripts"),
        _table(_table(_table(data, "tool"), "poetry"), "scripts"),
    )
    return {name for table in tables for name in table}


def _table(data: Any, key: str) -> dict[str, Any]:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, dict) else {}


def _from_setup_cfg(path: Path) -> set[str]:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return set()
    names: set[str] = set()
    for group in ("console_scripts", "gui_scripts"):
        if parser.has_option("options.entry_points", group):
            for line in parser.get("options.entry_points", group).splitlines():
                name = line.partition("=")[0].strip()
                if name and "=" in line:
                    names.add(name)
    return names


def _from_setup_py(path: Path) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return set()
    found = text.find("console_scripts")
    if found < 0:
        return set()
    block = text[found : text.find("]", found) + 1 or None]
    return set(_SETUP_PY_SCRIPT.findall(block))
