"""The CLI's commands, one module per group. Each module has ``register(subparsers)``,
which adds its sub-commands and sets ``handler`` (an ``async (args, console) -> int``)."""

from __future__ import annotations

from types import ModuleType

from tui.commands import attach, db, doctor, escalations, history, resume, run, transfer
from tui.commands import dna as owner_dna
from tui.commands import init as init_config
from tui.commands import learnings as learned
from tui.commands import metrics as serve_metrics

COMMAND_MODULES: tuple[ModuleType, ...] = (
    run,
    history,
    escalations,
    serve_metrics,
    resume,
    attach,
    db,
    transfer,
    doctor,
    init_config,
    owner_dna,
    learned,
)
