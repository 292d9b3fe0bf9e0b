"""The ``shopfloor`` command line: parse, dispatch to a command module, map errors.

Exit codes: 0 shipped (or a query answered), 1 the run failed, 2 bad input, 3 killed by a
gate, 130 interrupted. Bad input is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from rich.console import Console

from agents.playbook import PlaybookError
from agents.provider import ProviderError
from engine.dag import PlanError
from engine.heap import settle
from engine.workspace import WorkspaceError
from storage.errors import StorageError
from tui.commands import COMMAND_MODULES
from tui.commands.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, UsageError
from tui.compose import SetupError
from tui.config import ConfigError
from tui.output import LosableStream

BAD_INPUT: tuple[type[Exception], ...] = (
    UsageError,
    SetupError,
    ConfigError,
    PlaybookError,
    ProviderError,
    PlanError,
    WorkspaceError,
    StorageError,
)
"""Errors that mean the input was wrong: reported in one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shopfloor", description="The control room of an autonomous code factory."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``shopfloor`` console script."""
    args = build_parser().parse_args(argv)
    settle()  # the loaded program is permanent: collections skip it (engine.heap)
    # A dropped SSH session fails every write to the terminal: the run still stops gracefully.
    console = Console(file=LosableStream(sys.stdout))  # type: ignore[arg-type]
    errors = Console(file=LosableStream(sys.stderr))  # type: ignore[arg-type]
    try:
        code: int = asyncio.run(args.handler(args, console))
    except BAD_INPUT as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        errors.print(f"[bold red]shopfloor:[/] {message}", highlight=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        errors.print("shopfloor: interrupted")
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
