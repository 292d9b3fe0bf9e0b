"""The CLI's commands, one module per group. Each module has ``register(subparsers)``,
which adds its sub-commands and sets ``handler`` (an ``async (args, console) -> int``).

The modules are imported when a command needs them: ``shopfloor status`` loads the history
module and the store, not the composition root with every provider, gate and exporter a
run wires up (that took a third of a quick command's start). :data:`COMMANDS` names each
sub-command's module; a test checks it against what the modules register.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS: dict[str, str] = {
    "demo": "run",
    "run": "run",
    "runs": "history",
    "status": "history",
    "escalations": "escalations",
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


def command_modules(command: str | None = None) -> list[ModuleType]:
    """The modules to register: ``command``'s alone, or every one (no command, or an
    unknown name, for which argparse lists them all)."""
    if command in COMMANDS:
        names = [COMMANDS[command]]
    else:
        names = list(dict.fromkeys(COMMANDS.values()))
    return [importlib.import_module(f"tui.commands.{name}") for name in names]
