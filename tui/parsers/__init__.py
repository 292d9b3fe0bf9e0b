"""The CLI's parsers, one module per group of commands. Each module has
``register(subparsers)``, which adds its sub-commands and sets ``handler``: a
:class:`Handler` naming the function in :mod:`tui.commands` that runs the command.

Building a parser imports nothing but argparse and these modules: ``shopfloor --help`` and
``shopfloor status --help`` answer at once, and a command loads what it needs (the store and
SQLAlchemy, the engine, Textual, the providers' SDKs) only when it runs. The parsers of the
other commands are not even imported: :data:`COMMANDS` names each sub-command's module; a
test checks it against what the modules register.
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from rich.console import Console

    CommandHandler = Callable[[argparse.Namespace, Console], Awaitable[int]]

COMMANDS: dict[str, str] = {
    "demo": "run",
    "run": "run",
    "runs": "history",
    "status": "history",
    "escalations": "escalations",
    "answer": "escalations",
    "approve": "escalations",
    "reject": "escalations",
    "change": "escalations",
    "serve-metrics": "metrics",
    "resume": "resume",
    "abandon": "abandon",
    "attach": "attach",
    "tail": "tail",
    "db": "db",
    "export": "transfer",
    "import": "transfer",
    "doctor": "doctor",
    "init": "init",
    "dna": "dna",
    "learnings": "learnings",
}
"""Each sub-command and the module of this package that registers it, in help order."""


def parser_modules(command: str | None = None) -> list[ModuleType]:
    """The modules to register: ``command``'s alone, or every one (no command, or an
    unknown name, for which argparse lists them all)."""
    if command in COMMANDS:
        names = [COMMANDS[command]]
    else:
        names = list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(f"tui.parsers.{name}") for name in names]


@dataclass(frozen=True)
class Handler:
    """A command's handler, ``tui.commands.<module>.<function>``, named rather than
    imported so that parsing loads none of what the command runs on.

    ``shopfloor`` imports it with :meth:`load` before the command starts, while the
    collector is off (:func:`engine.heap.loading`); a test may await it as the function.
    """

    module: str
    function: str

    def load(self) -> CommandHandler:
        """Import the handler's module and return the function."""
        handler: CommandHandler = getattr(
            importlib.import_module(f"tui.commands.{self.module}"), self.function
        )
        return handler

    async def __call__(self, args: argparse.Namespace, console: Console) -> int:
        return await self.load()(args, console)


def add_db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL (default: $SHOPFLOOR_DB or the data directory)")
