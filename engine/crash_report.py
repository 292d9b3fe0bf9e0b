"""What a bug of ours that ends a run leaves: one line for the user, the traceback in the log.

:class:`~engine.pipeline.Factory` calls :func:`report_crash` when an exception that is no
stage's failure ends a run. Both what it says and the reason the run ends with are cleaned
of the environment's secret values (:func:`without_env_secrets`): an internal error's
message can quote a request that carried a key.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback

from engine.bus import EventBus
from engine.events import AgentOutput
from engine.secrets import without_secrets
from engine.stages import one_line

log = logging.getLogger(__name__)


def without_env_secrets(text: str) -> str:
    """``text`` with the values of the environment's secret variables blanked: an internal
    error's message can quote a request that carried a key, and it goes into the log."""
    return without_secrets(text, os.environ)


def report_crash(bus: EventBus, exc: Exception) -> None:
    """A bug of ours ended the run: one line where the user reads it, and the traceback
    in the run's log for the bug report (agent ``engine``: ``-v`` prints it, ``export``
    keeps it), the environment's secrets blanked as the console blanks them."""
    log.error(
        "run %s crashed: %s: %s (a bug: its traceback is in the run's log, agent 'engine')",
        bus.run_id,
        type(exc).__name__,
        without_env_secrets(one_line(str(exc))),
    )
    log.debug("run crash", exc_info=exc)
    trace = without_env_secrets("".join(traceback.format_exception(exc)))
    with contextlib.suppress(Exception):  # the bus itself may be what failed
        bus.emit(AgentOutput(agent_id="engine", kind="error", text=trace))
