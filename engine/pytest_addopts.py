"""A project's pytest ``addopts`` that name a plugin its Python has not installed.

wcwidth's tox.ini gives pytest ``addopts = ... --cov-append --cov-report=html --cov=wcwidth``:
on a Python without pytest-cov every run stops at once, "error: unrecognized arguments:
--cov-append ...", exit 4, no test run. At an update's baseline that one finding was red,
then the same after every task, so the tests gate passed whatever a task broke. The tests
gate and ``run_tests`` run such a suite again with those options left out of ``addopts``
(``-o addopts=...``, the rest kept) and say so. The configuration is read in the factory
process, from a worktree an agent wrote: part by part (:mod:`engine.beneath`), so a
``pytest.ini`` linked to a file of the host is never read into the next argv or the summary.
"""

from __future__ import annotations

import configparser
import re
import shlex
import time
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from engine.beneath import read_text_beneath
from engine.protocols import CommandResult, Sandbox

_UNRECOGNIZED = re.compile(r"error: unrecognized arguments: (?P<args>.+)$", re.MULTILINE)
PLUGIN_OPTIONS = {
    "--cov": "pytest-cov",
    "--no-cov": "pytest-cov",
    "--timeout": "pytest-timeout",
    "--numprocesses": "pytest-xdist",
    "--dist": "pytest-xdist",
    "--benchmark": "pytest-benchmark",
    "--mypy": "pytest-mypy",
    "--reruns": "pytest-rerunfailures",
    "--randomly": "pytest-randomly",
    "--doctest-plus": "pytest-doctestplus",
}
"""Option prefixes of common plugins, to name the one a project's ``addopts`` wanted."""


class _Unread(Exception):
    """A configuration file pytest may read that this module cannot (or may not)."""


def _config_text(root: Path, project: str, name: str) -> str | None:
    """The text of ``name`` in the project folder ``project`` of the worktree ``root``
    (:mod:`engine.beneath`: an agent may have made it, or the folder, a link to a file of
    the host); None when there is no such file. :class:`_Unread` when it cannot be read,
    leads out of the worktree or is no UTF-8: what pytest would read there is not known."""
    try:
        return read_text_beneath(root, PurePosixPath(project, name))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # LeavesRoot, UnicodeDecodeError: ValueErrors
        raise _Unread from exc


def ini_addopts(root: Path, project: str = ".") -> str | None:
    """The ``addopts`` of the configuration pytest reads in the folder ``project`` of the
    worktree ``root`` (pytest's order: pytest.ini, .pytest.ini, pyproject.toml with a
    pytest table, tox.ini's ``[pytest]``, setup.cfg's ``[tool:pytest]``); None when it sets
    none or the file cannot be read (a link leading out of the worktree is not followed)."""
    try:
        return _addopts_of(root, project)
    except _Unread:
        return None


def _addopts_of(root: Path, project: str) -> str | None:
    for name in ("pytest.ini", ".pytest.ini"):
        text = _config_text(root, project, name)
        if text is not None:
            return _ini_option(text, "pytest")
    try:
        data = tomllib.loads(_config_text(root, project, "pyproject.toml") or "")
    except tomllib.TOMLDecodeError:
        data = {}
    tool = data.get("tool")
    pytest = tool.get("pytest") if isinstance(tool, dict) else None
    if isinstance(pytest, dict):
        table = pytest.get("ini_options", pytest)
        value = table.get("addopts") if isinstance(table, dict) else None
        if isinstance(value, list):
            return shlex.join(str(v) for v in value)
        return value if isinstance(value, str) else None
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        text = _config_text(root, project, name)
        parser = _parser(text) if text is not None else None
        if parser is not None and parser.has_section(section):
            return _addopts(parser, section)
    return None


def _parser(text: str) -> configparser.RawConfigParser | None:
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    return parser


def _ini_option(text: str, section: str) -> str | None:
    parser = _parser(text)
    return None if parser is None else _addopts(parser, section)


def _addopts(parser: configparser.RawConfigParser, section: str) -> str | None:
    if not parser.has_option(section, "addopts"):
        return None
    return parser.get(section, "addopts")


def unrecognized_addopts(
    output: str, root: Path, project: str = "."
) -> tuple[str, list[str]] | None:
    """When pytest stopped on options of its own ``addopts`` (those of the folder
    ``project`` of the worktree ``root``) it does not know (a plugin not installed): the
    ``addopts`` without them, and the options left out. None when it said no such thing, or
    an unknown option is not the configuration's."""
    said = _UNRECOGNIZED.search(output)
    addopts = ini_addopts(root, project) if said is not None else None
    if said is None or addopts is None:
        return None
    try:
        unknown, options = shlex.split(said["args"]), shlex.split(addopts)
    except ValueError:
        return None
    if not unknown or any(arg not in options for arg in unknown):
        return None  # given on the command line, not by the configuration
    kept: list[str] = []
    dropped: list[str] = []
    value_of_dropped = False
    for option in options:
        if value_of_dropped and not option.startswith("-"):
            dropped.append(option)  # ``--cov-report html``: pytest took ``html`` for a path
        elif option in unknown:
            dropped.append(option)
        else:
            kept.append(option)
        value_of_dropped = option in unknown and "=" not in option
    return shlex.join(kept), dropped


def left_out_note(unknown: list[str], python: str) -> str:
    """What the summary says of the options left out."""
    plugins = {
        plugin
        for arg in unknown
        for prefix, plugin in PLUGIN_OPTIONS.items()
        if arg.split("=", 1)[0].startswith(prefix)
    }
    which = f" ({', '.join(sorted(plugins))}?)" if plugins else ""
    return (
        f"; run without the project's addopts {' '.join(unknown)}: no plugin installed "
        f"for {python} takes them{which}"
    )


async def run_pytest(
    sandbox: Sandbox,
    argv: Sequence[str],
    root: Path,
    project: str,
    *,
    timeout_s: float,
    env: Mapping[str, str] | None,
) -> tuple[CommandResult, list[str]]:
    """``argv`` (``python -m pytest ...``) in the folder ``project`` of the worktree
    ``root``; when pytest stopped on its configuration's options of a plugin not installed,
    once more without them. Returns the result that counts and the options left out (none
    when it ran as it was)."""
    started = time.monotonic()
    folder = root / project
    result = await sandbox.run(list(argv), folder, timeout_s=timeout_s, env=env)
    dropped = unrecognized_addopts(result.output, root, project) if result.returncode == 4 else None
    if dropped is None:
        return result, []
    left = max(timeout_s - (time.monotonic() - started), 1.0)
    again = [*argv[:3], "-o", f"addopts={dropped[0]}", *argv[3:]]
    return await sandbox.run(again, folder, timeout_s=left, env=env), dropped[1]
