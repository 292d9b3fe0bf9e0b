"""Where and how a repository configures mypy, read as mypy itself reads it.

The types gate runs only on code whose maintainers chose mypy (imposing a type checker on
untyped code fails everything): in the folder that configures it, with no targets when the
configuration names its own, and with the Python version the configuration pins.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from engine.beneath import read_text_beneath
from gates.repo_shape import python_folders
from gates.toml_files import read_toml

MYPY_TARGET_KEYS = ("files", "packages", "modules")
"""The configuration keys that name what mypy checks when run with no targets."""
MYPY_CONFIG_FILES = ("mypy.ini", ".mypy.ini", "pyproject.toml", "setup.cfg")
"""Where mypy reads its configuration, in its own order (``mypy.defaults.CONFIG_NAMES``,
then ``SHARED_CONFIG_NAMES``)."""


def mypy_config(folder: Path) -> Mapping[str, Any] | None:
    """The ``[mypy]`` settings mypy itself reads in ``folder``, None when it reads none.

    mypy takes the first of :data:`MYPY_CONFIG_FILES` that it can parse, ``mypy.ini`` and
    ``.mypy.ini`` whenever they exist (one without a ``[mypy]`` section configures nothing,
    and the files after it are not read), ``pyproject.toml`` only with a ``[tool.mypy]``
    table and ``setup.cfg`` only with a ``[mypy]`` section. Read in another order, a
    repository with both a mypy.ini and a ``[tool.mypy]`` table was checked as the table said.
    """
    for name in MYPY_CONFIG_FILES:
        path = folder / name
        if name == "pyproject.toml":
            tool = read_toml(path).get("tool")
            section = tool.get("mypy") if isinstance(tool, dict) else None
            if isinstance(section, dict):
                return section
            continue
        if not path.is_file():
            continue
        parser = configparser.RawConfigParser()  # as mypy reads it: no interpolation
        try:
            parser.read_string(read_text_beneath(folder, name), source=name)
        except (configparser.Error, OSError, ValueError):  # LeavesRoot: a link out, not read
            continue  # mypy says so and goes on to the next file
        if parser.has_section("mypy"):
            return dict(parser.items("mypy"))
        if name != "setup.cfg":
            return None
    return None


def mypy_setup(repo: Path) -> tuple[bool, bool]:
    """``(configured, names_its_targets)``: whether the repo configures mypy, and whether
    that configuration names what to check (``files``, ``packages`` or ``modules``: mypy is
    then run as the maintainers run it, with no targets; ``.`` would check every script
    beside the packages and can stop at once on a duplicate module name)."""
    section = mypy_config(repo)
    if section is None:
        return False, False
    named = (section.get(key) for key in MYPY_TARGET_KEYS)
    return True, any(value.strip() if isinstance(value, str) else value for value in named)


def mypy_pins_version(folder: Path) -> bool:
    """Whether ``folder``'s mypy configuration sets ``python_version`` (the types gate then
    leaves the version to it rather than to the project's interpreter)."""
    section = mypy_config(folder)
    return section is not None and "python_version" in section


def mypy_projects(repo: Path) -> dict[str, bool]:
    """Where the types gate runs mypy: ``{folder: its configuration names its targets}``.

    Each folder that configures mypy, the top first: mypy run in a folder reads the first
    configuration it finds there or above it (up to the checkout's top), so a monorepo's
    project with its own configuration is checked by that, not by a configured folder around
    it (whose run leaves the project out: ``MypyGate``'s excludes). Only the outermost were
    kept: a strict project inside a lax top was judged by the top's settings, and its
    untyped functions passed. Empty when nothing configures mypy.
    """
    found: dict[str, bool] = {}
    for rel, _, _, _ in islice(python_folders(repo), 5000):
        folder = repo / rel
        if not any((folder / name).is_file() for name in MYPY_CONFIG_FILES):
            continue
        configured, own_files = mypy_setup(folder)
        if configured:
            found[rel.replace(os.sep, "/")] = own_files
    return found


PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
_GLOBAL_FLAGS = re.compile(r"^\(\?[aiLmsux]+\)")


def _pre_commit_mypy_hook(folder: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """``(configuration, hook)``: ``folder``'s one pre-commit hook whose id is ``mypy``."""
    try:
        data = yaml.safe_load(read_text_beneath(folder, PRE_COMMIT_CONFIG))
    except (OSError, ValueError, yaml.YAMLError):  # LeavesRoot: a link out, not read
        return None
    if not isinstance(data, dict) or not isinstance(data.get("repos"), list):
        return None
    hooks = [
        hook
        for repo in data["repos"]
        if isinstance(repo, dict) and isinstance(repo.get("hooks"), list)
        for hook in repo["hooks"]
        if isinstance(hook, dict) and hook.get("id") == "mypy"
    ]
    # None, or several whose scopes differ: mypy's own run then.
    return (data, hooks[0]) if len(hooks) == 1 else None


def has_pre_commit_mypy_hook(folder: Path) -> bool:
    """Whether ``folder``'s pre-commit configuration has one hook whose id is ``mypy``."""
    return _pre_commit_mypy_hook(folder) is not None


def pre_commit_mypy_excludes(folder: Path) -> tuple[str, ...]:
    """mypy ``--exclude`` patterns that keep a run over ``.`` to the files ``folder``'s
    pre-commit mypy hook checks, as its maintainers run mypy: the hook's ``files`` (a file
    that does not match it is left out; folders are still walked) and the hook's and the
    configuration's ``exclude``. Empty when there is no such hook, or its patterns are not
    regular expressions Python reads.

    pluggy configures mypy in pyproject.toml without ``files`` and runs it by pre-commit on
    ``^(src/|testing/)``; run over ``.``, mypy met ``docs/examples/*/setup.py`` twice, stopped
    at once on 'Duplicate module named "setup"' (exit 2) and checked nothing, at baseline
    and after every task.
    """
    found = _pre_commit_mypy_hook(folder)
    if found is None:
        return ()
    data, hook = found
    excludes = []
    files = hook.get("files")
    if isinstance(files, str) and files not in ("", "^$"):
        flags = _GLOBAL_FLAGS.match(files)
        lead = flags.group(0) if flags else ""
        # A path none of whose positions starts a match of ``files``, and not a folder
        # (mypy adds "/" to a folder's path): pre-commit's re.search, negated.
        excludes.append(f"{lead}^(?!.*(?:{files[len(lead) :]}))(?!.*/$)")
    excludes += [
        pattern
        for pattern in (hook.get("exclude"), data.get("exclude"))
        if isinstance(pattern, str) and pattern not in ("", "^$")
    ]
    try:
        for pattern in excludes:
            re.compile(pattern)
    except re.error:
        return ()
    return tuple(excludes)
