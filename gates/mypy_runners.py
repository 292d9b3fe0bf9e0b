"""What a repository's own runners (tox, nox, make) run mypy on, read as mypy reads it.

Where the mypy configuration names no files, the types gate checks what the project's tox,
nox session or Makefile hands mypy: paths (``mypy src``), or packages and modules
(``mypy -p pkg``, ``-m mod``). Over ``.``, two ``docs/examples/*/setup.py`` stopped mypy at
'Duplicate module named "setup"' and the baseline was red for nothing; a ``-p`` was read as
no target at all, and the whole repository was checked.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Sequence
from pathlib import Path

from engine.beneath import read_text_beneath
from gates.makefile_commands import makefile_commands
from gates.mypy_config import PRE_COMMIT_CONFIG, has_pre_commit_mypy_hook, mypy_config
from gates.tox_config import tox_commands

_MODULE_OPTIONS = {"-p": "-p", "--package": "-p", "-m": "-m", "--module": "-m"}
_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
_NOX_MYPY = re.compile(r"""\.run\(\s*["']mypy["']""")

Target = tuple[str, str]
"""``("", path)``, or ``("-p", package)`` / ``("-m", module)`` as mypy's options name them."""


def _runs_mypy(words: Sequence[str]) -> int | None:
    """The index of the word that is mypy in a command (``mypy``, ``python -m mypy``)."""
    return next((i for i, w in enumerate(words) if w == "mypy" or w.endswith("/mypy")), None)


@functools.cache
def _mypy_option_values() -> dict[str, int]:
    """How many values each of mypy's options takes (``--config-file``: 1), by its own
    parser, so an option's value is not read as a target."""
    from mypy.main import define_options  # shopfloor's own mypy, as run

    parser = define_options()[0]
    counts = {}
    for action in parser._actions:
        taken = 1 if action.nargs is None else action.nargs
        for option in action.option_strings:
            counts[option] = taken if isinstance(taken, int) else 1
    return counts


def _option(word: str) -> str | None:
    """The option ``word`` names: argparse (mypy's parser) takes a long option's unique
    prefix for it; None for a prefix of several, which mypy refuses (``--pack``:
    ``--package`` or ``--package-root``). An option this mypy does not know is kept (the
    project's mypy may be newer)."""
    options = _mypy_option_values()
    if word in options or not word.startswith("--"):
        return word
    matches = [option for option in options if option.startswith(word)]
    return word if not matches else matches[0] if len(matches) == 1 else None


def _command_targets(words: Sequence[str], folder: Path) -> list[Target] | None:
    """The targets of one mypy command's arguments: paths in ``folder`` (options and their
    values, tox's ``{...}`` substitutions and paths outside ``folder`` are skipped), and the
    packages and modules of ``-p``/``-m``. None when mypy would refuse the command: files
    beside ``-p``/``-m`` ('May only specify one of: module/package, files, or command'), or
    a ``-c`` program, an ambiguous option."""
    values = _mypy_option_values()
    paths: list[Target] = []
    modules: list[Target] = []
    pending = ""
    skip = 0
    for word in words:
        if pending:
            modules.append((pending, word))
            pending = ""
        elif skip:
            skip -= 1
        elif word.startswith("-"):
            name, equals, value = word.partition("=") if word.startswith("--") else (word, "", "")
            option = _option(name)
            glued = re.fullmatch(r"-([pmc])(.+)", word)
            if option is None or option in ("-c", "--command") or (glued and glued[1] == "c"):
                return None
            if option in _MODULE_OPTIONS:
                if equals:
                    modules.append((_MODULE_OPTIONS[option], value))
                else:
                    pending = _MODULE_OPTIONS[option]
            elif glued:
                modules.append((f"-{glued[1]}", glued[2]))
            elif not equals:
                skip = values.get(option, 0)
        else:
            path = re.sub(r"^\{(toxinidir|tox_root)\}/", "", word)
            if re.search(r"[{$]", path) or Path(path).is_absolute() or ".." in Path(path).parts:
                continue
            if (folder / path).exists():
                paths.append(("", path.rstrip("/") or "."))
    if paths and (modules or pending):
        return None
    return paths + [(kind, name) for kind, name in modules if _NAME.fullmatch(name)]


def _nox_commands(folder: Path) -> list[list[str]]:
    """The string arguments of each ``session.run("mypy", ...)``, ``"mypy"`` first."""
    try:
        tree = ast.parse(read_text_beneath(folder, "noxfile.py"))  # no link out followed
    except (OSError, SyntaxError, ValueError):  # LeavesRoot, UnicodeDecodeError: ValueErrors
        return []
    return [
        [
            arg.value
            for arg in node.args
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
        ]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "run"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and node.args[0].value == "mypy"
    ]


def _targets(commands: Sequence[Sequence[str]], folder: Path) -> list[Target]:
    found: list[Target] = []
    for words in commands:
        at = _runs_mypy(words)
        if at is not None:
            found += _command_targets(words[at + 1 :], folder) or []
    return list(dict.fromkeys(found))


def _search_roots(folder: Path) -> list[str]:
    """Where mypy run in ``folder`` looks for a ``-p``/``-m`` first: the folder it runs in,
    then its configuration's ``mypy_path`` (those in ``folder``)."""
    section = mypy_config(folder) or {}
    value = section.get("mypy_path") or ""
    entries = re.split("[,:]", value) if isinstance(value, str) else value
    roots = ["."]
    for entry in entries if isinstance(entries, list) else ():
        path = str(entry).strip().removeprefix("$MYPY_CONFIG_FILE_DIR/").rstrip("/")
        if path and not Path(path).is_absolute() and ".." not in Path(path).parts:
            if (folder / path).is_dir():
                roots.append(path)
    return roots


def _module_path(kind: str, name: str, root: str, folder: Path) -> str | None:
    """Where under ``root`` mypy finds ``name``: a package's folder for ``-p``, else the
    module's file (a package's ``__init__``: ``-m`` checks that module alone)."""
    base = Path(root, *name.split("."))
    if kind == "-p" and (folder / base).is_dir():
        return base.as_posix()
    for stem in (base / "__init__", base):
        for suffix in (".pyi", ".py"):
            if (folder / f"{stem}{suffix}").is_file():
                return f"{stem.as_posix()}{suffix}"
    return None


def _resolved(targets: Sequence[Target], folder: Path) -> tuple[str, ...]:
    """mypy's arguments for ``targets``: the ``-p``/``-m`` options where mypy run in
    ``folder`` finds each there or on its ``mypy_path``; else the files and folders they
    are (a ``src/`` layout's package is found by mypy in the interpreter's site-packages,
    the checkout the project was installed from, not the workspace being checked)."""
    roots = _search_roots(folder)
    paths: list[str] = []
    options: list[str] = []
    for kind, name in targets:
        if not kind:
            paths.append(name)
            continue
        for root in [*roots, "src"]:
            path = _module_path(kind, name, root, folder)
            if path is not None:
                paths.append(path)
                if root in roots:
                    options += [kind, name]
                break
    if options and len(options) == 2 * len(paths):
        return tuple(options)
    return tuple(dict.fromkeys(paths))


def runner_mypy_targets(folder: Path) -> tuple[str, ...]:
    """What ``folder``'s tox ``commands``, else its nox sessions, else its Makefile's recipes
    run mypy on, as mypy's arguments: the paths they name that exist (``mypy src``:
    ``("src",)``), or the packages and modules (``mypy -p pkg``: ``("-p", "pkg")``, or
    ``("src/pkg",)`` where mypy would find it only installed); empty when none names one
    (only ``{posargs}``). The types gate checks them where the mypy configuration names no
    files."""
    found = _targets(tox_commands(folder).commands, folder)
    found = found or _targets(_nox_commands(folder), folder)
    return _resolved(found or _targets(makefile_commands(folder)[1], folder), folder)


def runs_mypy(folder: Path) -> str:
    """Where ``folder`` runs mypy without configuring it (no ``[mypy]`` anywhere mypy reads):
    its pre-commit hook, a tox ``commands``, a nox session, a Makefile recipe; empty when
    nowhere. Its CI then fails a type error that a types gate left off let through."""
    if has_pre_commit_mypy_hook(folder):
        return f"its pre-commit mypy hook ({PRE_COMMIT_CONFIG})"
    tox = tox_commands(folder)
    if any(_runs_mypy(words) is not None for words in tox.commands):
        return tox.source
    try:
        nox = read_text_beneath(folder, "noxfile.py")
    except (OSError, ValueError):
        nox = ""
    if _NOX_MYPY.search(nox):
        return "noxfile.py"
    makefile, commands = makefile_commands(folder)
    return makefile if any(_runs_mypy(words) is not None for words in commands) else ""
