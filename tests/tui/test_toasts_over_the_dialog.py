"""Toasts shown while the escalation dialog is open stand above its key bar.

At 80x24 the demo's start-up toast (the Python the gates use) stood over the twin's
question's key bar (``n Next  p Previous  esc Close``) until it timed out.
"""

from __future__ import annotations

import pytest
import sample_run
from pilot_helpers import caught_up
from textual.widgets import Footer

from engine.bus import EventBus
from tui.app import ShopfloorApp
from tui.screens.escalation import EscalationScreen


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 40), (50, 16)])
async def test_a_toast_leaves_the_dialogs_keys_in_view(size: tuple[int, int]) -> None:
    bus = EventBus(sample_run.RUN_ID)
    app = ShopfloorApp(bus.subscribe("tui"))
    async with app.run_test(size=size, notifications=True) as pilot:
        app.notify(
            "python for the tests and mypy: /tmp/h/.venv/bin/python (Python 3.11.7, its own)",
            timeout=30,
        )
        sample_run.full_pipeline(bus)
        await caught_up(app, bus, pilot)
        await pilot.press("e")
        await pilot.pause(0.3)
        assert isinstance(app.screen, EscalationScreen)
        keys = app.screen.query_one(Footer).region
        toasts = [toast.region for toast in app.screen.query("Toast")]
        assert toasts, "the toast is not shown on the dialog"
        for toast in toasts:
            assert not toast.overlaps(keys), (toast, keys)
            assert toast.y >= 0
