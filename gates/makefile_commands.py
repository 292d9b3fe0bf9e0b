"""The commands a repository's Makefile recipes run, split into words as the shell would.

A project that runs mypy by ``make typecheck`` (``mypy -p mypkg``) names what it checks
there; the types gate reads that as it reads tox and nox (``gates.mypy_runners``). Only
plain recipes are read: a variable is replaced by its simple assignment's value
(``PACKAGE = mypkg``); a word whose value make or the shell computes keeps its ``$``.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from engine.beneath import read_text_beneath

MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
"""The files GNU make reads with no ``-f``, in its order (the first that exists)."""
_ASSIGNMENT = re.compile(
    r"^(?:override\s+|export\s+)?([A-Za-z_][\w.-]*)\s*(:::=|::=|:=|\?=|\+=|!=|=)\s*(.*)$"
)
_REFERENCE = re.compile(r"\$(?:\(([A-Za-z_][\w.-]*)\)|\{([A-Za-z_][\w.-]*)\})")
_RECIPE_PREFIX = re.compile(r"^[@+\-\s]*")
_SHELL_BREAKS = frozenset("();<>|&")


def makefile_commands(folder: Path) -> tuple[str, list[list[str]]]:
    """``(file, commands)``: the Makefile make reads in ``folder`` and each command of its
    recipes (a ``&&``, ``;`` or ``|`` ends one) as words; ``("", [])`` with none, or one
    that cannot be read."""
    for name in MAKEFILES:
        try:
            text = read_text_beneath(folder, name)  # a link to the host's file: not read
        except (OSError, ValueError):  # LeavesRoot and UnicodeDecodeError are ValueErrors
            continue
        return name, _commands(text)
    return "", []


def _commands(text: str) -> list[list[str]]:
    lines = re.sub(r"\\\n[ \t]*", " ", text).splitlines()
    values: dict[str, str] = {}
    for line in lines:
        found = _ASSIGNMENT.match(line)
        if found is None or line.startswith("\t") or found[2] == "!=":  # != runs a shell
            continue
        name, value = found[1], found[3].split("#", 1)[0].strip()
        if found[2] == "+=":
            values[name] = f"{values.get(name, '')} {value}".strip()
        elif found[2] != "?=" or name not in values:
            values[name] = value
    commands = []
    for line in lines:
        if not line.startswith("\t"):
            continue
        recipe = _RECIPE_PREFIX.sub("", _expanded(line, values))
        lexer = shlex.shlex(recipe, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words: list[str] = []
        try:
            for token in lexer:
                if set(token) <= _SHELL_BREAKS:
                    commands.append(words)
                    words = []
                else:
                    words.append(token)
        except ValueError:
            continue  # an unclosed quote: the shell would refuse the line too
        commands.append(words)
    return [words for words in commands if words]


def _expanded(line: str, values: dict[str, str], depth: int = 0) -> str:
    """``line`` with each ``$(NAME)`` of a plain assignment replaced by its value, ``$$``
    (the shell's ``$``) as ``$``: a target holding ``$`` is not read (its value is computed)."""
    if depth < 5 and _REFERENCE.search(line):
        replaced = _REFERENCE.sub(lambda m: values.get(m[1] or m[2], m[0]), line)
        if replaced != line:
            return _expanded(replaced, values, depth + 1)
    return line.replace("$$", "$")
