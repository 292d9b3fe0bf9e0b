"""A run's telemetry, as the composition root (tui/compose.py) starts and closes it.

The metrics port is bound and the trace exporters opened before any work is done; a run that
serves no metrics and exports no trace loads neither Prometheus's client nor the
OpenTelemetry SDK. What the closing telemetry has to say (a last scrape waited for) is one
line, logged with the JSON front, else printed.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from rich.console import Console
from rich.text import Text

from telemetry.options import TelemetryOptions
from tui.run_plan import RunPlan, SetupError

if TYPE_CHECKING:
    from telemetry.session import RunTelemetry


def say_line(plan: RunPlan, console: Console, line: str) -> None:
    """One line about the run's closing: logged with the JSON front, else printed."""
    if plan.front == "json":
        logging.getLogger(__name__).info("%s", line)
    else:
        console.print(Text(line), soft_wrap=True, highlight=False)


def start_telemetry(options: TelemetryOptions | None) -> RunTelemetry | None:
    """Bind the metrics port and open trace exporters before any work is done; None when
    the run serves no metrics and exports no trace (nothing would see them), and then
    Prometheus's client and the OpenTelemetry SDK are not even loaded."""
    if options is None or not options.wanted(os.environ):
        return None
    from telemetry.session import RunTelemetry, TelemetryError

    try:
        return RunTelemetry(options)
    except TelemetryError as exc:
        raise SetupError(str(exc)) from exc
