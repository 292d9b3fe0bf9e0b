"""The control room: the ``shopfloor`` command line, the Textual app and the headless console.

Importing the package sets Textual's repaint cap, ``TEXTUAL_FPS``, to :data:`FRAME_RATE`
before Textual loads, unless the environment already sets it. Textual repaints a screen
from a timer that pauses while nothing changes; woken by a change, it keeps to its slots,
so a change that comes just after a repaint waits one to two frame periods: 17-33 ms at
Textual's default of 60, 8-17 ms at 120. That wait was the largest part of a key press's
way to the screen while events flood in (``bench/tui.py``: p95 43-49 ms at 60, 25-32 ms at
120 on the same machine, ingest unchanged). Panels redraw at most ten times a second
during a flood (:data:`tui.screens.run.SYNC_INTERVAL_S`), so the higher cap costs repaints
only when a person acts.
"""

from __future__ import annotations

import os

FRAME_RATE = 120
"""Textual's repaint cap for the TUI, in frames per second (``TEXTUAL_FPS`` overrides)."""

os.environ.setdefault("TEXTUAL_FPS", str(FRAME_RATE))
