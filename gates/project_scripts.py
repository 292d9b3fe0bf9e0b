"""The commands a Python project declares for itself (its console scripts).

A test suite that runs the project's own command in a subprocess (python-dotenv's
``run_dotenv`` runs ``dotenv``) fails with ``FileNotFoundError`` where the project is not
installed in the Python the tests run on: the code is fine, the environment lacks it. The
tests gate (``gates.pytest_output``) counts such failures as a dependency not installed,
naming the command, rather than leaving them read as the code's. A packaging file reached
through a link leading out of the project's folder declares nothing (``engine.beneath``).
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path
from typing import Any

from engine.beneath import read_text_beneath
from gates.toml_files import read_toml

_SETUP_PY_SCRIPT = re.compile(r"""["']\s*([\w.-]+)\s*=\s*[\w.]+(?:\s*:\s*[\w.]+)?\s*["']""")
"""``"name = package.module:function"`` in a setup.py's ``console_scripts`` (or gui) list."""
_SETUP_PY_GROUP = re.compile(r"\b(?:console|gui)_scripts\b(?P<ini>\])?")
"""Where a setup.py names its scripts: a dict's key, or ``[console_scripts]`` opening a
section of ``entry_points`` given as an ini string (as click's documentation long showed)."""
_INI_SCRIPT = re.compile(
    r"^\s*([\w.-]+)\s*=\s*[\w.]+(?:\s*:\s*[\w.]+)?(?:\s*\[[^\]]*\])?\s*$", re.MULTILINE
)
_INI_END = re.compile(r"""^\s*\[|'''|\"\"\"|['"]\s*[,)]""", re.MULTILINE)
"""Where an ini string's section ends: the next section, or the string."""


def project_commands(folder: Path) -> frozenset[str]:
    """The console and GUI scripts ``folder``'s packaging declares: pyproject.toml's
    ``[project.scripts]``, ``[project.gui-scripts]`` and Poetry's ``[tool.poetry.scripts]``,
    setup.cfg's ``[options.entry_points]``, setup.py's ``console_scripts`` and
    ``gui_scripts`` (lists, or sections of an ini string). Unreadable files declare nothing."""
    names: set[str] = set()
    names |= _from_pyproject(folder / "pyproject.toml")
    names |= _from_setup_cfg(folder / "setup.cfg")
    names |= _from_setup_py(folder / "setup.py")
    return frozenset(names)


def _from_pyproject(path: Path) -> set[str]:
    data = read_toml(path)
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
        parser.read_string(read_text_beneath(path.parent, path.name), source=path.name)
    except (configparser.Error, OSError, ValueError):  # LeavesRoot: a link out, not read
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
        text = read_text_beneath(path.parent, path.name)
    except (OSError, ValueError):  # LeavesRoot and UnicodeDecodeError are ValueErrors
        return set()
    names: set[str] = set()
    for group in _SETUP_PY_GROUP.finditer(text):
        rest = text[group.end() :]
        if group["ini"]:
            rest = rest.replace("\\n", "\n")  # "[console_scripts]\\nname = mod:fn"
            names |= set(_INI_SCRIPT.findall(_INI_END.split(rest, maxsplit=1)[0]))
        else:
            names |= set(_SETUP_PY_SCRIPT.findall(rest[: rest.find("]") + 1 or None]))
    return names


def generated_modules(folder: Path) -> frozenset[str]:
    """The modules ``folder``'s build writes from version control, by dotted name: hatch-vcs's
    ``[tool.hatch.build.hooks.vcs] version-file`` (filelock's ``src/filelock/version.py``:
    ``filelock.version``), setuptools-scm's ``version_file`` or ``write_to``. Ignored by git,
    they exist only where the project was installed or built; a test importing one without
    that fails "No module named 'filelock.version'", the environment's doing, not the code's."""
    tool = _table(read_toml(folder / "pyproject.toml"), "tool")
    vcs = _table(_table(_table(_table(tool, "hatch"), "build"), "hooks"), "vcs")
    scm = _table(tool, "setuptools_scm")
    paths = [vcs.get("version-file"), scm.get("version_file"), scm.get("write_to")]
    names = set()
    for path in paths:
        if isinstance(path, str) and path.endswith(".py"):
            parts = Path(path.removesuffix(".py")).parts
            names.add(".".join(parts[1:] if parts[:1] == ("src",) else parts))
    return frozenset(names)
