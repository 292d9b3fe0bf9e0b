"""The commands a repository's tox configuration runs, read from the file tox itself reads.

The types gate checks what a project's tox runs mypy on (``gates.mypy_config``). tox 4 reads
the first of five places (its "Discovery and file types"): ``tox.ini``; ``setup.cfg`` with a
``[tox:tox]`` section; ``pyproject.toml``'s ``[tool.tox]`` as an INI string in
``legacy_tox_ini`` or as TOML tables; ``tox.toml``. Only tox.ini was read: a project
configuring tox in TOML (tox 4.21+) ran mypy where the gate never looked. The files are
read part by part from the folder (``engine.beneath``): one an agent linked to a file of the
host is not read, and says so.
"""

from __future__ import annotations

import configparser
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.beneath import LeavesRoot, read_text_beneath

_POSARGS = re.compile(r"\{posargs(?::(?P<default>[^{}]*))?\}")
"""``{posargs}`` or ``{posargs:src tests}`` in an INI command: its default, with none given."""


@dataclass(frozen=True)
class ToxCommands:
    """The ``commands`` of every environment in the one place tox reads its configuration."""

    source: str = ""
    """Where tox reads it (``tox.ini``, ``pyproject.toml``, ...); empty with no tox."""
    commands: list[list[str]] = field(default_factory=list)
    """Each command's words as tox runs it with no positional arguments: a ``posargs``
    stands for its default; a value tox substitutes from elsewhere is left out."""
    problem: str = ""
    """One line saying why ``source`` could not be read (tox would stop on it too)."""


def tox_commands(folder: Path) -> ToxCommands:
    """What ``folder``'s tox runs, from the first of its configuration places that exists
    there, as tox chooses it; a file that cannot be parsed gives a :attr:`ToxCommands.problem`
    and no commands."""
    if (folder / "tox.ini").is_file():
        return _from_ini("tox.ini", lambda: read_text_beneath(folder, "tox.ini"), "tox")
    if (folder / "setup.cfg").is_file():
        found = _from_ini("setup.cfg", lambda: read_text_beneath(folder, "setup.cfg"), "tox:tox")
        if found.source:
            return found
    pyproject = _toml(folder, "pyproject.toml")
    tool = pyproject.get("tool") if isinstance(pyproject, dict) else None
    tox = tool.get("tox") if isinstance(tool, dict) else None
    if isinstance(tox, dict):
        legacy = tox.get("legacy_tox_ini")
        if isinstance(legacy, str):
            return _from_ini("pyproject.toml", lambda: legacy, "tox")
        return ToxCommands("pyproject.toml", _toml_commands(tox))
    if not (folder / "tox.toml").is_file():
        return ToxCommands()
    data = _toml(folder, "tox.toml")
    if isinstance(data, str):
        return ToxCommands("tox.toml", problem=f"tox.toml: {data}; its commands are not read")
    return ToxCommands("tox.toml", _toml_commands(data))


def _toml(folder: Path, name: str) -> dict[str, Any] | str:
    """``folder``'s file ``name`` as TOML, {} when there is no such file, or one line saying
    why not."""
    try:
        return tomllib.loads(read_text_beneath(folder, name))
    except FileNotFoundError:
        return {}
    except LeavesRoot:
        return "unreadable (a symlink leading outside the repository)"
    except (OSError, UnicodeDecodeError) as error:
        return f"unreadable ({error.__class__.__name__})"
    except tomllib.TOMLDecodeError as error:
        return f"not valid TOML ({error})"


def _from_ini(name: str, read: Callable[[], str], core: str) -> ToxCommands:
    """Every ``commands`` line of an INI configuration (a ``\\`` continuation joined);
    ``setup.cfg`` configures tox only with its ``[tox:tox]`` section (``core``)."""
    parser = configparser.RawConfigParser(strict=False)
    try:
        parser.read_string(read(), source=name)
    except (OSError, ValueError, configparser.Error) as error:  # LeavesRoot: a ValueError
        if name == "setup.cfg":
            return ToxCommands()  # not known to configure tox
        reason = str(error).splitlines()[0] if str(error) else error.__class__.__name__
        return ToxCommands(name, problem=f"{name}: not read ({reason})")
    if name == "setup.cfg" and not parser.has_section(core):
        return ToxCommands()
    commands = []
    for section in parser.sections():
        if not parser.has_option(section, "commands"):
            continue
        for line in re.sub(r"\\\n", " ", parser.get(section, "commands")).splitlines():
            line = _POSARGS.sub(lambda m: m["default"] or "", line).lstrip("-! ")
            try:
                words = shlex.split(line)
            except ValueError:
                continue
            if words:
                commands.append(words)
    return ToxCommands(name, commands)


def _toml_commands(config: dict[str, Any]) -> list[list[str]]:
    """The ``commands`` of ``env_run_base`` and of each ``env.<name>`` table: lists of
    commands, each a list of strings and substitutions (``{replace = "posargs", default =
    [...]}`` stands for its default; others for a value read elsewhere, left out)."""
    envs = config.get("env")
    tables = [config.get("env_run_base"), *(envs.values() if isinstance(envs, dict) else ())]
    return [
        words
        for table in tables
        if isinstance(table, dict) and isinstance(table.get("commands"), list)
        for command in table["commands"]
        if isinstance(command, list) and (words := list(_toml_words(command)))
    ]


def _toml_words(command: list[Any]) -> Iterator[str]:
    for item in command:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict) and item.get("replace") == "posargs":
            default = item.get("default")
            if isinstance(default, list):
                yield from (word for word in default if isinstance(word, str))
            elif isinstance(default, str):
                yield default
