"""What a run is before anything starts: its plan and its id.

:class:`RunPlan` is what the ``run``, ``demo`` and ``resume`` commands hand to the
composition root (tui/compose.py); :class:`SetupError` is the bad input found while a run is
set up, reported in one line. Kept apart so the modules that check and wire a run share these
without importing the composition root.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.spend import BudgetLimits
from engine.state import RunState
from telemetry.options import TelemetryOptions
from tui.config import Settings
from tui.notify_target import NotifyTarget

Front = Literal["headless", "tui", "json"]


class SetupError(ValueError):
    """Bad input found before the run starts (missing repo, example, playbook)."""


def new_run_id() -> str:
    """A unique run id whose first few characters already tell runs apart (users type prefixes)."""
    return secrets.token_hex(6)


@dataclass(frozen=True)
class RunPlan:
    """A run, fully specified, before anything starts."""

    request: str
    repo: Path
    db_url: str
    settings: Settings
    front: Front = "headless"
    verbose: bool = False
    telemetry: TelemetryOptions | None = None
    resume: RunState | None = None
    """The folded log of an unfinished run to resume (``shopfloor resume``), or None."""
    mode: str | None = None
    """create | update | audit; None = the playbook's, else detected from the repository."""
    report_dir: Path | None = None
    """Where an audit writes its report (default: reports/<run id> in the data folder)."""
    budget: BudgetLimits | None = None
    """Budgets set on the command line (``--max-cost``...), over the config's and the log's."""
    answers: Mapping[str, str] = field(default_factory=dict)
    """Resume: decisions posted to the run's open escalations while no process drove it
    (escalation id -> decision); a budget question answered "raise" lets it go on."""
    notify: NotifyTarget | None = None
    """Under systemd (``$NOTIFY_SOCKET``): where the run says it is ready, its status, its
    watchdog pings and its stop (tui/systemd_notify.py); None sends nothing."""
