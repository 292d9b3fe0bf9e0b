"""The notices a TUI run starts with: warnings stay 30 s, what is only said goes sooner.

The line naming the Python the gates use (``python for the tests and mypy: …``) was shown
as a warning for 30 s, over the twin's escalation dialog of the demo.
"""

from __future__ import annotations

from textual.app import App

from tui.app_front import show_notices


async def test_information_is_brief_and_warnings_stay() -> None:
    app: App[None] = App()
    async with app.run_test() as pilot:
        show_notices(
            app,
            [
                "python for the tests and mypy: /x/.venv/bin/python (Python 3.12.1)",
                "warning: the repository has uncommitted changes",
            ],
        )
        await pilot.pause()
        shown = {n.message: (n.severity, n.timeout) for n in app._notifications}
    assert shown == {
        "python for the tests and mypy: /x/.venv/bin/python (Python 3.12.1)": ("information", 8),
        "warning: the repository has uncommitted changes": ("warning", 30),
    }
