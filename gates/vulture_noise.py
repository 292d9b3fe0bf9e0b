"""What vulture calls dead code that is not: the two kinds its reading of one module gets
wrong on clean projects.

- A parameter the body leaves unused (``unused variable 'exc_type' (100% confidence)``):
  the signature is dictated by its caller — ``__exit__``'s three, a ``Protocol``'s
  ``__call__``, a plugin hook's ``options`` — so nothing is dead; ruff's ``ARG`` rules judge
  unused arguments where a repository asks for them. filelock's clean tree had eleven.
- An import named only inside a string ``cast()`` reads (``cast("Iterable[str]", x)``, the
  import under ``if TYPE_CHECKING:``): vulture reads no strings, so the import looked unused
  (filelock's ``Iterable`` and ``TextIO``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from engine.beneath import read_text_beneath

_NAMED = re.compile(r"^unused (?P<kind>variable|import) '(?P<name>[^']+)'")


def _cast_type(node: ast.AST) -> str | None:
    """The string type a ``cast("T", value)`` / ``typing.cast("T", value)`` names."""
    if not isinstance(node, ast.Call) or not node.args:
        return None
    func = node.func
    named = (isinstance(func, ast.Name) and func.id == "cast") or (
        isinstance(func, ast.Attribute) and func.attr == "cast"
    )
    first = node.args[0]
    if named and isinstance(first, ast.Constant) and isinstance(first.value, str):
        return first.value
    return None


def _names_in(expression: str) -> set[str]:
    """The bare names a type expression given as a string uses (``Iterable[str]``: both)."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return set()
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}


class ModuleUses:
    """One module's parameters (by line) and the names its string casts use."""

    def __init__(self, source: str) -> None:
        self.parameters: set[tuple[int, str]] = set()
        self.cast_names: set[str] = set()
        try:
            tree = ast.parse(source)
        except SyntaxError:
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.arg):
                self.parameters.add((node.lineno, node.arg))
            elif (text := _cast_type(node)) is not None:
                self.cast_names |= _names_in(text)

    def explains(self, message: str, line: int) -> bool:
        """True when vulture's ``message`` at ``line`` is one of the two misreadings."""
        match = _NAMED.match(message)
        if match is None:
            return False
        name = match.group("name")
        if match.group("kind") == "variable":
            return (line, name) in self.parameters
        return name.rpartition(".")[2] in self.cast_names


class NoiseFilter:
    """Reads each module a finding names once."""

    def __init__(self, workspace: Path) -> None:
        self.workspace = workspace
        self._modules: dict[str, ModuleUses] = {}

    def is_noise(self, file: str, line: int, message: str) -> bool:
        """True for a finding that is no dead code (see the module's docstring)."""
        if not _NAMED.match(message):
            return False
        uses = self._modules.get(file)
        if uses is None:
            try:
                source = read_text_beneath(self.workspace, file)  # no link out followed
            except (OSError, ValueError):  # LeavesRoot, UnicodeDecodeError: ValueErrors
                source = ""
            uses = self._modules[file] = ModuleUses(source)
        return uses.explains(message, line)
