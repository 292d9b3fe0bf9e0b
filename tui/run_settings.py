"""The settings record a run stores in RunStarted/RunResumed: what it holds, and the keys
``status`` reads in it.

The composition root writes the record (tui/compose.py); ``resume`` rebuilds a run's settings
from it and ``status`` shows its notes. Kept apart from both so that ``status`` names a key
without loading what writes it: the key of the uncommitted-files warning lived in
tui/uncommitted.py, whose import of the audit checkout loaded GitPython (~25 ms of every
``status`` and ``runs``), and the interpreter's in gates/interpreter.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tui.config import Settings

WARNING_KEY = "uncommitted"
"""The key of the warning in the settings record a run stores in RunStarted/RunResumed."""

PYTHON_KEY = "gates_python"
"""The run's settings record key naming the interpreter the tests and mypy run on (``status``
reads it without loading the composition root)."""


def settings_record(settings: Settings) -> dict[str, str]:
    """What ``resume`` needs to rebuild a run's settings (stored in RunStarted; no secrets)."""
    record = {
        "speed": repr(settings.speed),
        "workers": str(settings.engine.workers),
        "escalation_policy": settings.engine.escalation_policy,
    }
    if settings.engine.escalation_timeout_s is not None:
        record["escalation_timeout_s"] = repr(settings.engine.escalation_timeout_s)
    if settings.source is not None:
        record["config"] = str(settings.source.resolve())
    if settings.playbook is not None:
        record["playbook"] = str(settings.playbook)
    if settings.twin_dna is not None:
        record["twin_dna"] = str(settings.twin_dna)
    return record
